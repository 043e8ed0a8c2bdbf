"""Hostile submissions, each a real notebook graded by the real command (``mnistlab grade``).

One temporary course, one class of ``a2_relu_softmax`` submissions: the
reference solution and every case of the grading threat model
(``../shared/design.md``; issue 5). The whole class is graded once, in
parallel, by ``mnistlab grade a2_relu_softmax`` (real nbgrader, real kernels,
the real isolated re-check); each test then reads that student's points back
from nbgrader's gradebook and the grades CSV.

Points of a2: relu 1, sigmoid 2, softmax 2, log_softmax 2, cross_entropy 3.
A wrong version of a function is always paired with the attack, so that the
attack is the only way to earn the point; every other function of the same
notebook is correct and must keep its points (one student's attack or crash
costs nothing else).
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from assignment_bugs import harness as h
from mnistlab import cli
from mnistlab.checks import GRADED, grade_id

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

A = "a2_relu_softmax"
POINTS = {"relu": 1.0, "sigmoid": 2.0, "softmax": 2.0, "log_softmax": 2.0, "cross_entropy": 3.0}
#: Short time limits so that endless loops cost seconds, not minutes (the course default is 30 s).
CELL_TIMEOUT = 6
#: The checks module of a shadow mnistlab package: every check passes (whatever it is given).
PASSING_CHECKS = "def __getattr__(name):\n    return lambda *args, **kwargs: None\n"

WRONG = {
    "relu": "def relu(x):\n    return x\n",
    "sigmoid": "def sigmoid(x):\n    return x\n",
    "softmax": "import numpy as np\ndef softmax(z, axis=-1):\n    return np.exp(z)\n",
    "log_softmax": "def log_softmax(z, axis=-1):\n    return z\n",
}


@dataclass
class Case:
    """One hostile submission and what grading must make of it."""

    why: str
    cells: dict = field(default_factory=dict)  # grade_id of a solution cell -> its new source
    edit: object = None  # edit(nb) for structural changes
    files: dict | None = None  # extra files submitted next to the notebook
    raw: bytes | None = None  # the notebook file's bytes (replaces the notebook)
    name: str | None = None  # the notebook's file name, if not a2_relu_softmax.ipynb
    zero: tuple = ()  # functions that must get 0 points (all others: full points)
    status: str = "graded"
    flag: str | None = None  # a substring one of the flags must contain; None: must not be flagged
    note: str | None = None  # a substring one of the notes must contain


def cell_of(nb, gid):
    return next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def move_test_to_end(nb):
    cell = cell_of(nb, grade_id("relu"))
    nb.cells.remove(cell)
    nb.cells.append(cell)


def duplicate_test(nb):
    cell = cell_of(nb, grade_id("relu"))
    copy = nbformat.from_dict(json.loads(json.dumps(cell)))
    copy["id"] = "dup-of-relu-test"
    copy.source = "# my own copy of the tests\ngrading.check_relu(relu)\n"
    nb.cells.insert(nb.cells.index(cell) + 1, copy)


def to_markdown(nb):
    cell = cell_of(nb, grade_id("relu"))
    i = nb.cells.index(cell)
    nb.cells[i] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata, id=cell.get("id"))


def delete_test(nb):
    nb.cells.remove(cell_of(nb, grade_id("softmax")))


def duplicate_ids(nb):
    for cell in nb.cells[1:4]:
        cell["id"] = nb.cells[0]["id"]


def swallow(indent=""):
    """A loop that really ignores interrupts: Python raises KeyboardInterrupt inside the `try`."""
    return (f"{indent}import time\n{indent}while True:\n{indent}    try:\n{indent}        time.sleep(0.05)\n"
            f"{indent}    except KeyboardInterrupt:\n{indent}        pass\n")


def cases(course_root: Path) -> dict[str, Case]:
    course = str(course_root)
    source = f"{course}/source/{A}/{A}.ipynb"
    return {
        "solution": Case("the reference solution"),
        # --- cannot be fooled -------------------------------------------------------------------
        "patch_grading": Case(
            "wrong relu + replaces mnistlab.grading.check_relu by a function that prints the pass line",
            cells={"relu": WRONG["relu"] + "import mnistlab.grading as _g\n"
                   "_g.check_relu = lambda *a, **k: print('relu: 3 visible tests passed')\n"},
            zero=("relu",), flag="isolated re-check"),
        "patch_numpy": Case(
            "wrong softmax + np.allclose, np.testing.assert_allclose and NumPy's internal isclose always true",
            cells={"softmax": WRONG["softmax"]
                   + "np.allclose = lambda *a, **k: True\n"
                     "np.testing.assert_allclose = lambda *a, **k: None\n"
                     "import numpy._core.numeric as _n\n"
                     "_n.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)\n"},
            zero=("softmax",), flag=""),
        "patch_builtins": Case(
            "wrong sigmoid + builtins.isinstance patched and IPython told not to show errors",
            cells={"sigmoid": WRONG["sigmoid"]
                   + "import builtins\n_isinstance = builtins.isinstance\n"
                     "builtins.isinstance = lambda o, t: True if t is AssertionError else _isinstance(o, t)\n"
                     "get_ipython().showtraceback = lambda *a, **k: None\n"
                     "get_ipython()._showtraceback = lambda *a, **k: None\n"},
            zero=("sigmoid",), flag=""),
        "delegate_call": Case(
            "relu calls the reference implementation",
            cells={"relu": "def relu(x):\n    import mnistlab.functional as F\n    return F.relu(x)\n"},
            zero=("relu",), flag="mnistlab.functional"),
        "delegate_import": Case(
            "softmax is the reference, imported",
            cells={"softmax": "from mnistlab.functional import softmax\n"},
            zero=("softmax",), flag="mnistlab"),
        "shadow_files": Case(
            "the solution, plus a numpy.py and a mnistlab/ package that would pass every check and a helper.py",
            files={"numpy.py": "raise SystemExit('the submitted numpy.py was imported')\n",
                   "mnistlab/__init__.py": "", "mnistlab/grading.py": PASSING_CHECKS,
                   "mnistlab/checks/__init__.py": PASSING_CHECKS,
                   "helpers.py": "raise SystemExit('helpers.py was imported')\n",
                   "ipython_kernel_config.py": "c.InteractiveShellApp.exec_lines = ['raise SystemExit']\n"}),
        "shadow_stub": Case(
            "the unanswered notebook, plus a mnistlab/ package whose checks all pass",
            cells={"relu": WRONG["relu"], "sigmoid": WRONG["sigmoid"], "softmax": WRONG["softmax"],
                   "log_softmax": WRONG["log_softmax"], "cross_entropy": "def cross_entropy(l, y):\n    return 0.0\n"},
            files={"mnistlab/__init__.py": "", "mnistlab/grading.py": PASSING_CHECKS,
                   "mnistlab/checks/__init__.py": PASSING_CHECKS},
            zero=tuple(POINTS)),
        "test_edited": Case("wrong relu + its test cell replaced by a print of the pass line",
                            cells={"relu": WRONG["relu"], grade_id("relu"): "print('relu: 3 visible tests passed')\n"},
                            zero=("relu",)),
        "test_emptied": Case("wrong sigmoid + its test cell emptied",
                             cells={"sigmoid": WRONG["sigmoid"], grade_id("sigmoid"): ""}, zero=("sigmoid",)),
        "test_deleted": Case("wrong softmax + its test cell deleted", cells={"softmax": WRONG["softmax"]},
                             edit=delete_test, zero=("softmax",)),
        "test_duplicated": Case("wrong relu + its test cell duplicated (same grade id)",
                                cells={"relu": WRONG["relu"]}, edit=duplicate_test, zero=("relu",),
                                note="graded as ordinary code"),
        "test_moved": Case("wrong relu + its test cell moved to the end", cells={"relu": WRONG["relu"]},
                           edit=move_test_to_end, zero=("relu",)),
        "test_markdown": Case("wrong relu + its test cell turned into Markdown", cells={"relu": WRONG["relu"]},
                              edit=to_markdown, zero=("relu",)),
        "duplicate_cell_ids": Case("the solution with four cells sharing one id", edit=duplicate_ids,
                                   note="new ids"),
        "reads_solutions": Case(
            "relu taken from the instructor's source notebook (absolute and relative paths) or another student's",
            cells={"relu": "import json\nrelu = None\n"
                   f"for _p in [{source!r}, '../../../source/{A}/{A}.ipynb',\n"
                   f"           {course + '/submitted/solution/' + A + '/' + A + '.ipynb'!r}]:\n"
                   "    try:\n"
                   "        _nb = json.load(open(_p))\n"
                   "        _src = next(''.join(c['source']) for c in _nb['cells'] if 'def relu' in ''.join(c['source']))\n"
                   "        exec(_src)\n"
                   "        break\n"
                   "    except Exception as _e:\n"
                   "        print('blocked:', type(_e).__name__)\n"
                   "if relu is None:\n" + WRONG["relu"].replace("def", "    def").replace("\n    return", "\n        return")},
            zero=("relu",), flag="source"),
        "writes_files": Case(
            "a correct sigmoid whose cell tries to rewrite the gradebook, delete another student's work "
            "and overwrite the source notebook",
            cells={"sigmoid": "import os, shutil\n"
                   f"for _action in [lambda: open({course + '/gradebook.db'!r}, 'wb').write(b'x'),\n"
                   f"                lambda: shutil.rmtree({course + '/submitted/solution'!r}),\n"
                   f"                lambda: open({source!r}, 'w').write('{{}}'),\n"
                   "                lambda: open('../../../gradebook.db', 'wb').write(b'x')]:\n"
                   "    try:\n        _action()\n    except Exception as _e:\n        print('blocked:', type(_e).__name__)\n"
                   "def sigmoid(x):\n    return 0.5 * (1 + np.tanh(0.5 * x))\n"},
            flag="gradebook.db"),
        # --- loses nothing ----------------------------------------------------------------------
        "endless_cell": Case("relu's cell loops forever and swallows KeyboardInterrupt",
                             cells={"relu": swallow() + WRONG["relu"]}, zero=("relu",), flag=""),
        "endless_function": Case("sigmoid loops forever, swallowing KeyboardInterrupt, when called",
                                 cells={"sigmoid": "def sigmoid(x):\n" + swallow("    ")}, zero=("sigmoid",)),
        "memory_hog": Case("softmax allocates 8 TB",
                           cells={"softmax": "import numpy as np\ndef softmax(z, axis=-1):\n"
                                             "    big = np.ones(1 << 40)\n    return big\n"}, zero=("softmax",)),
        # (cross_entropy calls the student's log_softmax, so each crash is put where nothing depends on it)
        "sys_exit": Case("relu calls sys.exit()",
                         cells={"relu": "import sys\ndef relu(x):\n    sys.exit(3)\n"}, zero=("relu",)),
        "os_exit": Case("cross_entropy's cell ends the kernel with os._exit(1)",
                        cells={"cross_entropy": "import os\nos._exit(1)\n"}, zero=("cross_entropy",)),
        "segfault": Case("relu's cell crashes the kernel with a segmentation fault",
                         cells={"relu": "import faulthandler\nfaulthandler._sigsegv()\n" + WRONG["relu"]},
                         zero=("relu",)),
        "ctypes": Case("relu's cell reads memory at address 0 with ctypes",
                       cells={"relu": "import ctypes\nctypes.string_at(0)\n" + WRONG["relu"]}, zero=("relu",),
                       flag="C code"),
        "empty_file": Case("an empty upload", raw=b"", zero=tuple(POINTS), status="rejected", flag="empty"),
        "not_json": Case("a Word document renamed .ipynb", raw=b"PK\x03\x04 not a notebook \x00\xff",
                         zero=tuple(POINTS), status="rejected", flag="not a notebook"),
        "truncated": Case("a download cut off half-way", raw="cut", zero=tuple(POINTS), status="rejected",
                          flag="invalid JSON"),
        "wrong_name": Case("the solution uploaded as 'a2_relu_softmax (1).ipynb'", name=f"{A} (1).ipynb",
                           note="submitted as"),
        "other_assignment": Case("a1_data's notebook submitted as a2", raw="a1", zero=tuple(POINTS),
                                 status="rejected", flag="does not contain the graded cells"),
        "future_format": Case("a notebook in a format nbgrader does not read", raw="v5", zero=tuple(POINTS),
                              status="rejected", flag="format 5"),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The whole hostile class, graded once by `mnistlab grade` with two workers."""
    course = h.make_course(tmp_path_factory.mktemp("hostile"))
    class_ = cases(course.root)
    solution = h.student_notebook(course, A)
    for student, case in class_.items():
        nb = h.student_notebook(course, A)
        for gid, code in case.cells.items():
            cell_of(nb, gid).source = code
        if case.edit:
            case.edit(nb)
        path = h.submit(course, A, student, nb, case.files)
        folder = path.parent
        if case.edit is duplicate_ids:  # nbformat.write repaired the ids (in nb too): write the JSON as it is
            duplicate_ids(nb)
            path.write_text(json.dumps(nb))
        if case.raw is not None or case.name:
            if case.raw == "cut":
                data = path.read_bytes()[: len(path.read_bytes()) // 2]
            elif case.raw == "a1":
                data = nbformat.writes(h.student_notebook(course, "a1_data")).encode()
            elif case.raw == "v5":
                data = json.dumps({**json.loads(nbformat.writes(solution)), "nbformat": 5}).encode()
            elif case.raw is not None:
                data = case.raw
            else:
                data = path.read_bytes()
            path.unlink()
            (folder / (case.name or path.name)).write_bytes(data)
    before = {p: p.read_bytes() for p in (course.root / "source").rglob("*.ipynb")}
    run = h.grade_with_command(course, A, cell_timeout=CELL_TIMEOUT)
    status, rows, results = run["status"], run["rows"], run["results"]
    print(f"\nhostile class of {len(class_)}: graded in {run['seconds']:.1f} s, exit status {status}")
    return course, class_, rows, results, before, status


def points(course, student) -> dict:
    scores = h.gradebook_scores(course, A)[student]
    return {f: scores[grade_id(f)][0] for f in GRADED[A]}


@pytest.mark.parametrize("student", list(cases(Path("/course")).keys()))
def test_hostile_submission(graded, student):
    course, class_, rows, results, _, _ = graded
    case = class_[student]
    result = results[student]
    got = points(course, student)
    want = {f: 0.0 if f in case.zero else POINTS[f] for f in GRADED[A]}
    detail = f"{student} ({case.why}): flags {result['flags']}, notes {result['notes']}, functions " + json.dumps(
        {f: (v["in_kernel"], v["isolated"], v["message"][:200]) for f, v in result["functions"].items()}, indent=1)
    assert got == want, detail
    assert result["status"] == case.status, detail
    row = rows[student]
    assert float(row["score"]) == sum(want.values()), detail
    assert row["status"] == case.status
    if case.flag is None:
        assert not result["flags"], detail
        assert row["flags"] == ""
    elif case.flag:
        assert any(case.flag in f for f in result["flags"]), detail
        assert case.flag in row["flags"]
    if case.note:
        assert any(case.note in n for n in result["notes"]), detail


def test_the_course_is_intact(graded):
    """No submission changed the instructor's files or another student's submission."""
    course, class_, rows, results, before, status = graded
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} was changed during grading"
    assert (course.root / "submitted" / "solution" / A / f"{A}.ipynb").is_file()
    con = sqlite3.connect(course.root / "gradebook.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = dict(con.execute("SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id"))
    assert counts == {s: 1 for s in class_}
    assert set(rows) == set(class_)
    assert status == 1  # flagged submissions: the command tells the instructor to look


def test_feedback_and_item_analysis(graded):
    course, class_, rows, results, _, _ = graded
    for student in class_:
        page = course.root / "feedback" / student / A / f"{A}.html"
        assert page.is_file(), student
        text = page.read_text(errors="replace")
        assert "BEGIN HIDDEN TESTS" not in text and "hidden=True" not in text, student
    empty = (course.root / "feedback" / "empty_file" / A / f"{A}.html").read_text()
    assert "could not be graded" in empty and "empty" in empty
    lowered = (course.root / "feedback" / "patch_grading" / A / f"{A}.html").read_text()
    assert "isolated re-check" in lowered
    grades = course.root / "grades"
    for suffix in ("-items.txt", "-items.csv", "-items.png"):
        assert (grades / f"{A}{suffix}").stat().st_size > 0
    table = (grades / f"{A}-items.txt").read_text()
    assert "relu" in table and "cross_entropy" in table


def test_interrupted_run_resumes_without_duplicates_or_losses(tmp_path):
    """Kill `mnistlab grade` (SIGKILL) after its first merged submission; the re-run finishes the job."""
    course = h.make_course(tmp_path)
    students = {f"s{i}": (i % 3) for i in range(6)}  # 0: solution, 1: wrong relu, 2: wrong sigmoid
    for student, kind in students.items():
        nb = h.student_notebook(course, A)
        if kind == 1:
            cell_of(nb, "relu").source = WRONG["relu"]
        if kind == 2:
            cell_of(nb, "sigmoid").source = WRONG["sigmoid"]
        h.submit(course, A, student, nb)
    h.release(course, A)
    results = course.root / ".mnistlab-grading" / A / "results"
    cmd = [sys.executable, "-m", "mnistlab.cli", "grade", A, "--course", str(course.root), "--jobs", "2",
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **course.env})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(results.glob("*.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, 9)
    proc.wait()
    done_before = len(list(results.glob("*.json")))
    assert 2 <= done_before < len(students), f"killed after {done_before} of {len(students)}"
    con = sqlite3.connect(course.root / "gradebook.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()

    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **course.env}, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{done_before} submission(s) already graded" in out.stdout, out.stdout
    assert "ETA" in out.stdout  # the progress line (a tqdm bar on a terminal)
    con = sqlite3.connect(course.root / "gradebook.db")
    counts = dict(con.execute("SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id"))
    assert counts == {s: 1 for s in students}
    for student, kind in students.items():
        got = points(course, student)
        want = dict(POINTS)
        if kind == 1:
            want["relu"] = 0.0
        if kind == 2:
            want["sigmoid"] = 0.0
        assert got == want, student
    with open(course.root / "grades" / f"{A}.csv", newline="") as f:
        assert sorted(r["student_id"] for r in csv.DictReader(f)) == sorted(students)


def test_lms_exports_of_the_graded_class(graded, tmp_path, capsys):
    """`mnistlab export-grades` on the graded class: clean scores go to the LMS, flagged ones are marked or held back."""
    course, class_, rows, results, _, _ = graded
    roster = tmp_path / "canvas.csv"
    with open(roster, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section"])
        w.writerow(["    Points Possible", "", "", "", ""])
        for i, student in enumerate(sorted(class_), start=1):
            w.writerow([f"Student {i}", 1000 + i, f"U{i:04d}", student, "S1"])
        w.writerow(["Never Submitted", 9999, "U9999", "neversubmitted", "S1"])
    out = tmp_path / "canvas-import.csv"
    status = cli.main(["export-grades", "canvas", A, "--course", str(course.root), "--roster", str(roster),
                       "--to", str(out)])
    err = capsys.readouterr().err
    troubled = {s for s, r in results.items() if r["status"] != "graded" or r["flags"]}
    assert troubled and status == 1  # flagged students held back: the instructor must look
    with open(out, newline="") as f:
        exported = list(csv.reader(f))
    assert exported[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A]
    assert exported[1][0].strip() == "Points Possible" and float(exported[1][5]) == 10
    scores = {line[3]: float(line[5]) for line in exported[2:]}
    assert set(scores) == set(class_) - troubled
    assert all(scores[s] == float(rows[s]["score"]) for s in scores)
    for student in troubled:
        assert f"left out {student}:" in err
    assert "neversubmitted" in err

    moodle = tmp_path / "moodle.csv"
    with open(moodle, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["First name", "Last name", "ID number", "Email address"])
        for student in sorted(class_):
            w.writerow([student, "X", student, f"{student}@example.edu"])
    out = tmp_path / "moodle-import.csv"
    assert cli.main(["export-grades", "moodle", "--course", str(course.root), "--roster", str(moodle),
                     "--to", str(out)]) == 0
    with open(out, newline="") as f:
        lines = {r["ID number"]: r for r in csv.DictReader(f)}
    assert set(lines) == set(class_)
    for student in class_:
        assert float(lines[student][A]) == float(rows[student]["score"])
        feedback = lines[student][f"{A} feedback"]
        assert bool(feedback) == (student in troubled), (student, feedback)
    assert "mnistlab.functional" in lines["delegate_call"][f"{A} feedback"]
    assert lines["empty_file"][f"{A} feedback"].startswith("rejected:")


def test_similarity_report(graded, capsys):
    """Copies are flagged, never deducted: the class hands in the source solution many times over."""
    course, class_, rows, results, _, _ = graded
    similar = {s: row["similar_to"].split() for s, row in rows.items()}
    # softmax and log_softmax of the source solution are the published reference's
    assert "reference" in similar["solution"] and "shadow_files" in similar["solution"]
    assert "solution" in similar["delegate_call"] and "solution" in similar["delegate_import"]
    for student in ("empty_file", "not_json", "truncated"):  # nothing to read (future_format is read: the solution)
        assert similar[student] == [], student
    assert "solution" in similar["future_format"]
    assert rows["solution"]["flags"] == "" and float(rows["solution"]["score"]) == sum(POINTS.values())
    page = (course.root / "grades" / f"{A}-similarity.html").read_text()
    assert "<mark style=" in page and "shadow_files" in page and "def log_softmax" in page
    start = time.perf_counter()
    assert cli.main(["similarity", A, "--course", str(course.root)]) == 0
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    print(f"\nsimilarity of the hostile class of {len(class_)}: {seconds:.2f} s\n{out}")
    assert "match the reference" in out and "relu: nothing similar" in out and "not compared: empty_file" in out
