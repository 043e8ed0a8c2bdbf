"""Throughput of ``mnistlab grade`` for a synthetic class: sequential against parallel, measured in one run.

Instructor guide: ``book/07_instructor_guide.md``. ``make bench-grading`` runs::

    python -m mnistlab.grader.bench --students 200 --assignment a2_relu_softmax

It builds a temporary copy of the course (``assignments/``), releases the
assignment and submits ``--students`` notebooks: the released notebook with
the reference solutions written in, where each graded function is, with a
fixed seed, left unanswered (15%) or answered wrongly (15%), so that the class
has a realistic spread of scores and failing tests. Then it grades the whole
class twice, with the full pipeline (preflight, guarded kernel, isolated
re-check, feedback, gradebook merge): once with one worker and once with
``--jobs`` workers (``--regrade``, so both runs grade everything), and prints
the wall time, the time per submission and the ratio. The goals (issue 5): at
least 1.6x on 2 cores, no more than 2 s of wall time per submission.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

#: Wrong versions used in the synthetic class (a2): each fails its function's tests.
WRONG_A2 = {
    "relu": "def relu(x):\n    return x * (x > 0) + 0.01\n",
    "sigmoid": "import numpy as np\ndef sigmoid(x):\n    return 1 / (1 + np.exp(x))\n",
    "softmax": "import numpy as np\ndef softmax(z, axis=-1):\n    e = np.exp(z)\n    return e / e.sum()\n",
    "log_softmax": "import numpy as np\ndef log_softmax(z, axis=-1):\n    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))\n",
    "cross_entropy": "import numpy as np\ndef cross_entropy(logits, labels):\n    return float(np.mean(logits))\n",
}
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def make_class(course: Path, assignment: str, students: int, seed: int = 0) -> None:
    """Write ``students`` submissions of ``assignment`` into ``course/submitted``."""
    import nbformat

    source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    solutions = {
        c.metadata.nbgrader.grade_id: "\n".join(l for l in c.source.split("\n") if l.strip() not in SOLUTION_MARKERS)
        for c in source.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    released = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    rng = random.Random(seed)
    for i in range(students):
        nb = nbformat.from_dict(released)
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid not in solutions:
                continue
            u = rng.random()
            if u < 0.15:
                continue  # left as the stub
            cell.source = WRONG_A2.get(gid, solutions[gid]) if u < 0.30 else solutions[gid]
        folder = course / "submitted" / f"student{i:04d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")


def run(students: int = 200, assignment: str = "a2_relu_softmax", jobs: int | None = None, keep: bool = False,
        log=print) -> dict:
    """Build the class, grade it with 1 and with ``jobs`` workers; return and print the figures."""
    from mnistlab.grader.course import course_api, ensure_released, environment, load_course_config, tools_env
    from mnistlab.grader.grade import grade_assignment
    from mnistlab.grader.settings import KERNEL_ENV

    jobs = jobs or os.cpu_count() or 1
    repo = Path(__file__).resolve().parents[2]  # the repository: mnistlab/grader/bench.py
    root = Path(tempfile.mkdtemp(prefix="mnistlab-grading-bench-")) / "course"
    root.mkdir()
    shutil.copy(repo / "assignments" / "nbgrader_config.py", root)
    shutil.copytree(repo / "assignments" / "source", root / "source")
    config, env = load_course_config(root)
    with environment({**KERNEL_ENV, **env, **tools_env()}):
        api = course_api(config)
        ensure_released(api, assignment)
    make_class(root, assignment, students)
    log(f"{students} synthetic submissions of {assignment} in {root}; {os.cpu_count()} CPU cores, "
        f"load average {os.getloadavg()[0]:.2f}")
    figures = {}
    for n in (1, jobs):
        start = time.perf_counter()
        report = grade_assignment(root, assignment, jobs=n, regrade=True, progress=False, log=lambda *a: None)
        seconds = time.perf_counter() - start
        phases = {}
        for result in report.results.values():
            for k, v in result.get("seconds", {}).items():
                phases.setdefault(k, []).append(v)
        figures[n] = seconds
        median = {k: sorted(v)[len(v) // 2] for k, v in phases.items()}
        log(f"  {n} worker(s): {seconds:7.1f} s wall, {seconds / students:5.2f} s per submission; median per "
            f"submission inside a worker: " + ", ".join(f"{k} {v:.2f} s" for k, v in median.items())
            + f" (load average now {os.getloadavg()[0]:.2f})")
    ratio = figures[1] / figures[jobs]
    log(f"  parallel speed-up with {jobs} workers: {ratio:.2f}x (goal >= 1.6x); wall time per submission "
        f"{figures[jobs] / students:.2f} s (goal <= 2 s)")
    if not keep:
        shutil.rmtree(root.parent, ignore_errors=True)
    return {"sequential": figures[1], "parallel": figures[jobs], "jobs": jobs, "ratio": ratio, "students": students}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--assignment", default="a2_relu_softmax", choices=["a2_relu_softmax"])
    parser.add_argument("--jobs", type=int, default=None, help="parallel workers (default: CPU cores)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary course")
    args = parser.parse_args(argv)
    run(args.students, args.assignment, args.jobs, args.keep)


if __name__ == "__main__":
    main()
