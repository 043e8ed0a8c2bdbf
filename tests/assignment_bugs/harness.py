"""Real nbgrader runs of the assignments, for the assessment-quality tests.

A course is a temporary copy of ``assignments/`` (its ``nbgrader_config.py``
and ``source/``): the repository's own gradebook is never touched. Students'
notebooks are built the way a student makes one: the *released* notebook
(no solutions, no hidden tests) with code written into its solution cells.
They are graded with nbgrader's in-process ``NbGraderAPI`` and the scores are
read back from nbgrader's gradebook.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENTS = REPO / "assignments"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


@dataclass(frozen=True)
class Bug:
    """A realistic wrong version of one graded function (or of the a5 training run's settings).

    ``edits`` are ``(old, new)`` replacements applied to the solution cell of
    ``function`` (for ``training_run``: to the code cell that contains ``old``);
    each ``old`` must occur exactly once.
    """

    function: str
    name: str
    why: str
    edits: tuple
    #: "visible" if the notebook's visible tests catch it, "hidden" if only the hidden ones do.
    caught_by: str = "visible"

    @property
    def id(self) -> str:
        return f"{self.function.replace('.', '_')}-{self.name}"


def bug(function: str, name: str, why: str, *edits, caught_by: str = "visible") -> Bug:
    assert edits and all(len(e) == 2 for e in edits), name
    assert caught_by in ("visible", "hidden"), name
    return Bug(function, name, why, tuple(edits), caught_by)


@dataclass
class Course:
    """A temporary nbgrader course with the repository's configuration and sources."""

    root: Path
    api: object
    env: dict
    released: set = field(default_factory=set)


def make_course(folder: Path) -> Course:
    from mnistlab.grader.course import course_api, environment, load_course_config, tools_env
    from mnistlab.grader.settings import KERNEL_ENV

    root = Path(folder) / "course"
    root.mkdir(parents=True)
    shutil.copy(ASSIGNMENTS / "nbgrader_config.py", root)
    shutil.copytree(ASSIGNMENTS / "source", root / "source")
    config, env = load_course_config(root)
    env = {**KERNEL_ENV, **env, **tools_env()}
    with environment(env):
        api = course_api(config)
    return Course(root, api, env)


def release(course: Course, assignment: str) -> Path:
    from mnistlab.grader.course import environment

    if assignment not in course.released:
        with environment(course.env):
            result = course.api.generate_assignment(assignment)
        assert result["success"], result.get("error") or result.get("log")
        course.released.add(assignment)
    return course.root / "release" / assignment / f"{assignment}.ipynb"


def solution_code(source_cell: str) -> str:
    """What a student who wrote the reference solution has in the cell: the source without the markers."""
    return "\n".join(line for line in source_cell.split("\n") if line.strip() not in SOLUTION_MARKERS)


def solutions(assignment: str) -> dict[str, str]:
    """The solution cells of the source notebook: grade_id -> the student's version of the cell."""
    nb = nbformat.read(ASSIGNMENTS / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return {
        cell.metadata.nbgrader.grade_id: solution_code(cell.source)
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def apply_bug(code: str, bug: Bug) -> str:
    for old, new in bug.edits:
        count = code.count(old)
        assert count == 1, f"bug {bug.id}: {old!r} occurs {count} times in the cell it edits"
        code = code.replace(old, new)
    return code


def student_notebook(course: Course, assignment: str, *, stub: bool = False, bug: Bug | None = None,
                     edit=None):
    """The released notebook with the solutions written in (or left as stubs), optionally with one bug.

    ``edit(nb)`` may change the notebook further (e.g. delete a cell).
    """
    nb = nbformat.read(release(course, assignment), as_version=4)
    code = solutions(assignment)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not stub:
            cell.source = code[meta["grade_id"]]
    if bug is not None:
        target = bug.function.replace(".", "_")
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == target]
        if not cells:  # not a function: the one code cell that has the text to change
            cells = [c for c in nb.cells if c.cell_type == "code" and bug.edits[0][0] in c.source]
        assert len(cells) == 1, f"bug {bug.id}: no single cell to edit"
        cells[0].source = apply_bug(cells[0].source, bug)
    if edit is not None:
        edit(nb)
    return nb


def submit(course: Course, assignment: str, student: str, nb, extra_files: dict | None = None) -> Path:
    folder = course.root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    for name, content in (extra_files or {}).items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return path


def autograde(course: Course, assignment: str, students) -> dict[str, float]:
    """Autograde each student in-process; return the wall seconds per submission."""
    from mnistlab.grader.course import environment

    seconds = {}
    with environment(course.env):
        for student in students:
            start = time.perf_counter()
            result = course.api.autograde(assignment, student)
            seconds[student] = time.perf_counter() - start
            assert result["success"], f"autograde of {student} failed:\n{result.get('error') or result.get('log')}"
    return seconds


def gradebook_scores(course: Course, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """student -> {grade cell: (score, max_score)}, read from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", "mnistlab") as gb:
        for submission in gb.assignment_submissions(assignment):
            cells = {}
            for nb in submission.notebooks:
                for grade in nb.grades:
                    cells[grade.name] = (float(grade.score), float(grade.max_score))
            out[submission.student_id] = cells
    return out


def autograded_notebook(course: Course, assignment: str, student: str):
    return nbformat.read(course.root / "autograded" / student / assignment / f"{assignment}.ipynb", as_version=4)


def grade_with_command(course: Course, assignment: str, *, cell_timeout: float, jobs: int = 2) -> dict:
    """``mnistlab grade`` of the whole class (the real command, ``jobs`` workers, short cell timeouts).

    Returns ``status`` (its exit status), ``seconds``, ``rows`` (student -> the grades CSV's row) and
    ``results`` (student -> the worker's result record).
    """
    import csv
    import json
    import os

    from mnistlab import cli

    os.environ["MNISTLAB_CELL_TIMEOUT"] = str(cell_timeout)
    try:
        start = time.perf_counter()
        status = cli.main(["grade", assignment, "--course", str(course.root), "--jobs", str(jobs), "--no-progress"])
        seconds = time.perf_counter() - start
    finally:
        del os.environ["MNISTLAB_CELL_TIMEOUT"]
    with open(course.root / "grades" / f"{assignment}.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    results = {p.stem: json.loads(p.read_text())
               for p in (course.root / ".mnistlab-grading" / assignment / "results").glob("*.json")}
    return {"status": status, "seconds": seconds, "rows": rows, "results": results}
