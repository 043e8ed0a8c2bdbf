"""The grading pipeline's parts: preflight of submitted files, shards, the gradebook merge.

The hostile submissions themselves are in ``test_hostile_grading.py``; here:
what :mod:`mnistlab.grader.preflight` makes of each kind of broken upload (no
nbgrader needed), the shard split, and a class graded on two "machines"
(two copies of the course) merged into one gradebook by the real command.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from assignment_bugs import harness as h
from mnistlab import cli
from mnistlab.checks import GRADED, grade_id
from mnistlab.grader import pool
from mnistlab.grader.pool import in_shard, parse_shard
from mnistlab.grader.worker import stored_scores
from mnistlab.grader.preflight import MAX_NOTEBOOK_BYTES, Rejection, preflight

A = "a2_relu_softmax"
IDS = [grade_id(f) for f in GRADED[A]]
RELEASED = Path(__file__).resolve().parent.parent / "assignments" / "source" / A / f"{A}.ipynb"


def submission(tmp_path, name=f"{A}.ipynb", data: bytes | None = None) -> Path:
    folder = tmp_path / "submitted" / "s" / A
    folder.mkdir(parents=True)
    (folder / name).write_bytes(RELEASED.read_bytes() if data is None else data)
    return folder


def test_preflight_accepts_the_notebook_unchanged(tmp_path):
    folder = submission(tmp_path)
    checked = preflight(folder, A, IDS)
    assert checked.notes == []
    assert nbformat.writes(checked.notebook) == nbformat.writes(nbformat.read(RELEASED, as_version=4))


@pytest.mark.parametrize("data, reason", [
    (b"", "is empty (0 bytes)"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "not UTF-8 text"),
    (b'{"cells": [', "invalid JSON at line 1"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (b'{"cells": [], "nbformat": 2, "metadata": {}}', "notebook format 2"),
    (b'{"cells": [], "nbformat": 5, "nbformat_minor": 0, "metadata": {}}', "newer than this nbgrader reads"),
    (b'{"cells": [{"cell_type": "code"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "not a valid notebook"),
])
def test_preflight_rejects_broken_uploads_with_the_reason(tmp_path, data, reason):
    with pytest.raises(Rejection, match=reason.replace("(", r"\(").replace(")", r"\)")):
        preflight(submission(tmp_path, data=data), A, IDS)


def test_preflight_rejects_another_assignments_notebook(tmp_path):
    other = (RELEASED.parent.parent / "a1_data" / "a1_data.ipynb").read_bytes()
    with pytest.raises(Rejection, match="does not contain the graded cells of a2_relu_softmax"):
        preflight(submission(tmp_path, data=other), A, IDS)


def test_preflight_rejects_oversized_files_without_reading_them(tmp_path):
    folder = submission(tmp_path)
    with open(folder / f"{A}.ipynb", "r+b") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)  # sparse: no 50 MB written
    with pytest.raises(Rejection, match="MB"):
        preflight(folder, A, IDS)


def test_preflight_takes_a_single_renamed_notebook_and_says_so(tmp_path):
    checked = preflight(submission(tmp_path, name=f"{A} (1).ipynb"), A, IDS)
    assert any("submitted as 'a2_relu_softmax (1).ipynb'" in n for n in checked.notes)


def test_preflight_will_not_guess_between_several_notebooks(tmp_path):
    folder = submission(tmp_path, name="mine.ipynb")
    (folder / "copy.ipynb").write_bytes(RELEASED.read_bytes())
    with pytest.raises(Rejection, match="found 'copy.ipynb', 'mine.ipynb'"):
        preflight(folder, A, IDS)


def test_preflight_repairs_duplicated_cell_ids_and_keeps_the_code(tmp_path):
    nb = nbformat.read(RELEASED, as_version=4)
    for cell in nb.cells[1:5]:
        cell["id"] = nb.cells[0]["id"]
    checked = preflight(submission(tmp_path, data=json.dumps(nb).encode()), A, IDS)
    ids = [c["id"] for c in checked.notebook.cells]
    assert len(set(ids)) == len(ids)
    assert [c.source for c in checked.notebook.cells] == [c.source for c in nb.cells]
    assert any("new ids" in n for n in checked.notes)


def test_preflight_converts_format_3(tmp_path):
    nb = nbformat.read(RELEASED, as_version=4)
    v3 = nbformat.writes(nbformat.convert(copy.deepcopy(nb), 3), version=3)
    checked = preflight(submission(tmp_path, data=v3.encode()), A, IDS)
    assert checked.notebook.nbformat == 4
    assert any("format 3" in n for n in checked.notes)
    assert [c.source for c in checked.notebook.cells if c.cell_type == "code"] == \
        [c.source for c in nb.cells if c.cell_type == "code"]


def test_shards_split_a_class_into_disjoint_stable_parts():
    students = [f"student{i}" for i in range(1000)]
    parts = [[s for s in students if in_shard(s, (k, 4))] for k in range(4)]
    assert sorted(sum(parts, [])) == sorted(students)
    assert all(180 < len(p) < 320 for p in parts), [len(p) for p in parts]
    assert parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1", "a/b"):
        with pytest.raises(ValueError, match="K/N"):
            parse_shard(bad)


@pytest.mark.slow
def test_two_machines_grade_shards_and_one_gradebook_merges_them(tmp_path):
    """Grade a class as two shards in two copies of the course, merge both into the first: one gradebook."""
    master = h.make_course(tmp_path / "master")
    h.release(master, A)
    students = [f"s{i}" for i in range(5)]  # shard 0/2: s0, s3; shard 1/2: s1, s2, s4
    wrong_relu = "def relu(x):\n    return x\n"
    for i, student in enumerate(students):
        nb = h.student_notebook(master, A)
        if i % 2:
            next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "relu").source = \
                wrong_relu
        h.submit(master, A, student, nb)
    # A shard never makes its own course secret: every machine must draw the same hidden inputs.
    unprepared = tmp_path / "unprepared"
    shutil.copytree(master.root, unprepared)
    assert cli.main(["grade", A, "--course", str(unprepared), "--shard", "0/2", "--no-progress"]) == 1
    assert not (unprepared / ".mnistlab-secret").exists() and not (unprepared / "autograded").exists()
    assert cli.main(["secret", "--course", str(master.root)]) == 0
    machines = []
    for k in range(2):
        copy = tmp_path / f"machine{k}"
        shutil.copytree(master.root, copy)  # what an instructor ships: the course folder after release
        assert cli.main(["grade", A, "--course", str(copy), "--shard", f"{k}/2", "--jobs", "1", "--no-progress"]) == 0
        machines.append(copy)
    graded = [sorted(p.stem for p in (m / ".mnistlab-grading" / A / "results").glob("*.json")) for m in machines]
    assert sorted(graded[0] + graded[1]) == students and not set(graded[0]) & set(graded[1])
    assert cli.main(["grade", A, "--course", str(master.root), "--merge-from", str(machines[0]),
                     "--merge-from", str(machines[1])]) == 0
    # merging again changes nothing (idempotent)
    assert cli.main(["grade", A, "--course", str(master.root), "--merge-from", str(machines[1])]) == 0
    scores = h.gradebook_scores(master, A)
    assert sorted(scores) == students
    for i, student in enumerate(students):
        assert scores[student][grade_id("relu")][0] == (0.0 if i % 2 else 1.0), student
        assert sum(v[0] for v in scores[student].values()) == (9.0 if i % 2 else 10.0)
        assert (master.root / "feedback" / student / A / f"{A}.html").is_file()
    con = sqlite3.connect(master.root / "gradebook.db")
    assert dict(con.execute("SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id")) == \
        {s: 1 for s in students}
    with open(master.root / "grades" / f"{A}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student_id"] for r in rows) == students
    assert json.loads((master.root / ".mnistlab-grading" / A / "results" / "s1.json").read_text())["score"] == 9.0


def test_preflight_keeps_only_the_first_cell_of_a_repeated_grade_id(tmp_path):
    nb = nbformat.read(RELEASED, as_version=4)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id("relu"))
    copy_ = copy.deepcopy(test)
    copy_["id"] = "my-copy"
    nb.cells.insert(nb.cells.index(test) + 1, copy_)
    checked = preflight(submission(tmp_path, data=json.dumps(nb).encode()), A, IDS)
    graded = [c for c in checked.notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id("relu")]
    assert len(graded) == 1 and graded[0]["id"] == test["id"]
    assert checked.notebook.cells[nb.cells.index(test) + 1].source == test.source  # the copy's code stays
    assert any("graded as ordinary code" in n for n in checked.notes)


@pytest.mark.slow
def test_a_submission_over_the_wall_clock_limit_is_killed_and_flagged(tmp_path, monkeypatch):
    """`--timeout`: the worker grading a too-slow submission is killed with its kernel; the class goes on."""
    import os
    import time

    from mnistlab.grader.processes import descendants

    course = h.make_course(tmp_path)
    slow = h.student_notebook(course, A)
    cell = next(c for c in slow.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "relu")
    cell.source = "import time\ntime.sleep(60)\n" + cell.source  # within the cell limit, over the job limit
    h.submit(course, A, "slow", slow)
    h.submit(course, A, "normal", h.student_notebook(course, A))
    monkeypatch.setenv("MNISTLAB_CELL_TIMEOUT", "90")
    before = set(descendants(os.getpid()))  # e.g. a browser an earlier test left to pytest's exit
    start = time.monotonic()
    status = cli.main(["grade", A, "--course", str(course.root), "--jobs", "2", "--timeout", "25", "--no-progress"])
    seconds = time.monotonic() - start
    assert status == 1  # flagged
    assert seconds < 60, f"took {seconds:.0f} s: the slow submission was not cut off at 25 s"
    left = set(descendants(os.getpid())) - before
    for _ in range(50):  # a worker told to stop may take a moment to exit
        if not left:
            break
        time.sleep(0.1)
        left = set(descendants(os.getpid())) - before
    commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:200] for pid in left
                if Path(f"/proc/{pid}/cmdline").exists()}
    assert not left, f"a worker, kernel or re-check process was left running: {commands}"
    results = course.root / ".mnistlab-grading" / A / "results"
    slow_result = json.loads((results / "slow.json").read_text())
    assert slow_result["status"] == "error"
    assert "did not finish within 25 s" in slow_result["flags"][0]
    scores = h.gradebook_scores(course, A)
    assert sum(v[0] for v in scores["slow"].values()) == 0.0
    assert sum(v[0] for v in scores["normal"].values()) == 10.0
    page = course.root / "feedback" / "slow" / A / f"{A}.html"
    assert "could not be graded" in page.read_text()


@pytest.mark.parametrize("in_kernel, points, stored", [
    (2.0, 2.0, (2.0, None)),  # agreed: the kernel's score stands, no manual score
    (0.0, 0.0, (0.0, None)),
    (2.0, 0.0, (2.0, 0.0)),  # lowered by the re-check: manual 0 counts, the kernel's 2 kept for the record
    (None, 0.0, (0.0, 0.0)),  # nothing ran (rejected or error): an explicit manual 0
])
def test_stored_scores(in_kernel, points, stored):
    assert stored_scores({"in_kernel": in_kernel, "points": points}) == stored


_RUN_DIR_OWNER = """
import sys
from mnistlab.grader.pool import make_run_dir
run_dir, lock = make_run_dir("a2_relu_softmax")
(run_dir / "private").mkdir()
(run_dir / "private" / "copy-of-a-submission.ipynb").write_text("{}")
print(run_dir, flush=True)
sys.stdin.read()  # until killed
"""


def test_a_killed_runs_private_folder_is_removed_by_the_next_run_and_a_live_one_is_kept(tmp_path, monkeypatch):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    owners = [subprocess.Popen([sys.executable, "-c", _RUN_DIR_OWNER], env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True) for _ in range(2)]
    killed, alive = [Path(owner.stdout.readline().strip()) for owner in owners]
    try:
        owners[0].send_signal(signal.SIGKILL)
        owners[0].wait(timeout=10)
        older = tmp_path / f"{pool.RUN_DIR_PREFIX}a1_data-from-an-older-version"  # no .lock: not ours to judge
        older.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        run_dir, lock = pool.make_run_dir("a2_relu_softmax")  # sweeps first
        assert not killed.exists(), "the killed run's folder (a copy of a submission in it) is still there"
        assert (alive / "private" / "copy-of-a-submission.ipynb").is_file(), "a running run's folder was removed"
        assert older.is_dir() and run_dir.is_dir()
        assert pool.sweep_run_dirs(str(tmp_path)) == []  # the live ones hold their locks
        lock.close()
        assert pool.sweep_run_dirs(str(tmp_path)) == [run_dir]  # lock released: swept like a killed run's
    finally:
        for owner in owners:
            owner.kill()
            owner.wait(timeout=10)
