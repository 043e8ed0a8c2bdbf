"""Assessment quality of the five assignments, through real nbgrader runs.

For every assignment, in a temporary copy of the course (``assignments/``):
release it, submit the reference solution, the untouched stub and every wrong
version of ``tests/assignment_bugs`` as different students (each one the
*released* notebook with the student's code written in), autograde them all
with nbgrader's in-process API and read the points back from nbgrader's
gradebook. Then: feedback without hidden tests, the per-function grades CSV,
``mnistlab check`` agreeing with the autograder, and the instructor's one
command (``mnistlab grade``) on an LMS zip.
"""

from __future__ import annotations

import csv
import json
import statistics
import zipfile
from dataclasses import dataclass, field

import nbformat
import pytest

from assignment_bugs import ASSIGNMENTS, catalog
from assignment_bugs import harness as h
from mnistlab import cli
from mnistlab.checks import GRADED, grade_id
from mnistlab.grader.feedback import strip_ansi
from mnistlab.grader.selfcheck import run_graded_cells

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

CATALOG = {a: catalog(a) for a in ASSIGNMENTS}
BUG_CASES = [(a, b) for a in ASSIGNMENTS for b in CATALOG[a][0]]

#: Autograde seconds per submission this suite accepts on a busy 2-core machine (the goals are
#: 3 s for a1-a4 and 60 s for a5's training run; the measured figures are printed).
TIME_LIMIT = {"a5_sgd_momentum": 120.0}
DEFAULT_TIME_LIMIT = 15.0

#: A package that would give full marks if nbgrader copied it next to the notebook: every check passes.
FAKE_MNISTLAB = {
    "mnistlab/__init__.py": "",
    "mnistlab/grading.py": "def __getattr__(name):\n    return lambda *args, **kwargs: None\n",
    "mnistlab/checks/__init__.py": "def __getattr__(name):\n    return lambda *args, **kwargs: None\n",
}


@dataclass
class Run:
    """One assignment, graded: who submitted what, the gradebook's points, the autograde times."""

    assignment: str
    students: dict  # student id -> Bug, "solution", "stub" or a special case name
    scores: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    feedback: set = field(default_factory=set)


def student_id(bug) -> str:
    return f"bug-{bug.id}"


def special_students(course, assignment):
    """Submissions beyond solution/stub/bugs: (id, notebook, extra files, description)."""
    if assignment != "a2_relu_softmax":
        return []

    def delete_relu(nb):
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "relu"]

    return [
        ("shadow", h.student_notebook(course, assignment, stub=True), FAKE_MNISTLAB),
        ("no_relu", h.student_notebook(course, assignment, edit=delete_relu), None),
    ]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = h.make_course(tmp_path_factory.mktemp("nbgrader"))
    course.runs = {}
    return course


def graded(course, assignment) -> Run:
    """Submit and autograde every student of ``assignment`` once per test session."""
    if assignment in course.runs:
        return course.runs[assignment]
    run = Run(assignment, {})
    h.submit(course, assignment, "solution", h.student_notebook(course, assignment))
    h.submit(course, assignment, "stub", h.student_notebook(course, assignment, stub=True))
    run.students.update(solution="solution", stub="stub")
    for bug in CATALOG[assignment][0]:
        h.submit(course, assignment, student_id(bug), h.student_notebook(course, assignment, bug=bug))
        run.students[student_id(bug)] = bug
    for name, nb, files in special_students(course, assignment):
        h.submit(course, assignment, name, nb, extra_files=files)
        run.students[name] = name
    run.seconds = h.autograde(course, assignment, list(run.students))
    run.scores = h.gradebook_scores(course, assignment)
    course.runs[assignment] = run
    return run


def points(run: Run, student: str) -> dict[str, tuple[float, float]]:
    """function -> (score, max) of one student, from the gradebook."""
    cells = run.scores[student]
    return {f: cells[grade_id(f)] for f in GRADED[run.assignment]}


def cell_error(nb, function: str) -> str:
    """The error text of the autograder cell of ``function`` ('' if it passed)."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id(function):
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    return strip_ansi("\n".join(out.traceback))
                if out.output_type == "stream" and out.name == "stderr":
                    return out.text
            return ""
    raise AssertionError(f"no autograder cell for {function}")


# ---------------------------------------------------------------------------
# Released notebooks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_solution_and_no_hidden_test(course, assignment):
    path = h.release(course, assignment)
    text = path.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "hidden=True"):
        assert marker not in text, marker
    nb = nbformat.reads(text, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    for cell_id, code in h.solutions(assignment).items():
        solution_lines = {line.strip() for line in code.split("\n")} - {
            line.strip() for c in nb.cells for line in c.source.split("\n")}
        assert solution_lines, f"the release still contains all of {cell_id}'s solution"
    stubs = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(stubs) == len(h.solutions(assignment))
    assert all("raise NotImplementedError()" in c.source for c in stubs)


# ---------------------------------------------------------------------------
# Full marks, zero, and every wrong version
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_earns_full_marks(course, assignment):
    got = points(graded(course, assignment), "solution")
    assert all(score == top for score, top in got.values()), got
    assert sum(top for _, top in got.values()) == 10


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_stub_earns_zero(course, assignment):
    got = points(graded(course, assignment), "stub")
    assert all(score == 0 for score, _ in got.values()), got


@pytest.mark.parametrize("assignment, bug", BUG_CASES, ids=[f"{a}-{b.id}" for a, b in BUG_CASES])
def test_wrong_version_loses_its_points_only(course, assignment, bug):
    run = graded(course, assignment)
    got = points(run, student_id(bug))
    assert got[bug.function][0] == 0, f"{bug.id} ({bug.why}) keeps {got[bug.function]} points"
    calls = CATALOG[assignment][1]
    for function, (score, top) in got.items():
        if function != bug.function and bug.function not in calls.get(function, set()):
            assert score == top, f"{bug.id} costs {function} {top - score} points"
    # The failure is reported by the stage (visible or hidden tests) the catalog says.
    message = cell_error(h.autograded_notebook(course, assignment, student_id(bug)), bug.function)
    first = message.split("\n", 1)[0]
    if bug.function == "training_run":
        assert first.startswith("GradingFailure: training run:"), first
    else:
        assert f'{bug.function}: {bug.caught_by} test "' in first, first


def test_submitted_files_cannot_shadow_mnistlab(course):
    """A stub with a mnistlab/ package whose checks all pass still earns nothing (CourseDirectory.ignore)."""
    run = graded(course, "a2_relu_softmax")
    assert all(score == 0 for score, _ in points(run, "shadow").values())
    autograded = course.root / "autograded" / "shadow" / "a2_relu_softmax"
    assert not (autograded / "mnistlab").exists()


def test_deleted_solution_cell_loses_only_that_function(course):
    run = graded(course, "a2_relu_softmax")
    got = points(run, "no_relu")
    assert got["relu"][0] == 0
    assert all(score == top for f, (score, top) in got.items() if f != "relu")


# ---------------------------------------------------------------------------
# Feedback, grades, and the students' check
# ---------------------------------------------------------------------------


def feedback_students(run: Run) -> list[str]:
    bugs = [s for s, b in run.students.items() if not isinstance(b, str)]
    hidden = [s for s in bugs if run.students[s].caught_by == "hidden"]
    return ["solution", "stub", bugs[0], *hidden[:1], *[s for s in ("no_relu",) if s in run.students]]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_shows_scores_and_messages_but_no_hidden_test(course, assignment):
    run = graded(course, assignment)
    from mnistlab.grader.course import environment

    for student in feedback_students(run):
        with environment(course.env):
            result = course.api.generate_feedback(assignment, student)
        assert result["success"], result.get("error")
        html = (course.root / "feedback" / student / assignment / f"{assignment}.html").read_text()
        for leak in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "hidden=True"):
            assert leak not in html, f"{student}'s feedback shows hidden test code ({leak})"
        assert "Tests of" in html  # the visible test cells are there
        if student.startswith("bug-"):
            bug = run.students[student]
            assert f"{bug.function}: {bug.caught_by} test" in html


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_grades_csv_has_the_gradebook_points_per_function(course, assignment, tmp_path):
    from nbgrader.api import Gradebook

    from mnistlab.grader.grades import PerFunctionCsvExport

    run = graded(course, assignment)
    dest = tmp_path / "grades.csv"
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", "mnistlab") as gb:
        PerFunctionCsvExport(to=str(dest), assignment=[assignment]).export(gb)
    rows = {r["student_id"]: r for r in csv.DictReader(dest.open())}
    assert set(rows) >= set(run.students)
    for student in set(rows) - set(run.students):  # in the gradebook through another assignment
        assert float(rows[student]["score"]) == 0 and rows[student]["timestamp"] == ""
    for student in run.students:
        got = points(run, student)
        for function, (score, top) in got.items():
            assert float(rows[student][function]) == score
        assert float(rows[student]["score"]) == sum(score for score, _ in got.values())
        assert float(rows[student]["max_score"]) == 10


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_check_command_gives_the_autograders_visible_verdict(course, assignment):
    """`mnistlab check` on a student's notebook agrees, function by function, with the autograder's visible tests."""
    run = graded(course, assignment)
    for student in feedback_students(run)[:4]:
        submitted = course.root / "submitted" / student / assignment / f"{assignment}.ipynb"
        verdicts = run_graded_cells(submitted)
        autograded = h.autograded_notebook(course, assignment, student)
        assert [v.function for v in verdicts] == list(GRADED[assignment])
        for v in verdicts:
            error = cell_error(autograded, v.function)
            visible_ok = not error or " hidden test " in error.split("\n", 1)[0]
            assert v.passed == visible_ok, f"{student} {v.function}: check says {v.passed}\n{v.message}\n---\n{error}"
            if not v.passed:
                assert v.message.split("\n", 1)[0] == error.split("\n", 1)[0]


def test_autograde_time_per_submission(course, capsys, tmp_path_factory):
    """Measured seconds per submission (all five assignments), printed; bounded generously."""
    table = {}
    for assignment in ASSIGNMENTS:
        run = graded(course, assignment)
        times = sorted(run.seconds.values())
        table[assignment] = {
            "submissions": len(times), "median_s": round(statistics.median(times), 2),
            "max_s": round(times[-1], 2), "solution_s": round(run.seconds["solution"], 2),
        }
        assert statistics.median(times) < TIME_LIMIT.get(assignment, DEFAULT_TIME_LIMIT), (assignment, table)
    with capsys.disabled():
        print("\nautograde seconds per submission:\n" + json.dumps(table, indent=1))


# ---------------------------------------------------------------------------
# The instructor's one command, from an LMS download
# ---------------------------------------------------------------------------


def test_grade_command_from_an_lms_zip(tmp_path, capsys):
    """`mnistlab grade A --zip Z`: zip_collect, autograde, feedback and the CSV, in a fresh course."""
    course = h.make_course(tmp_path)
    assignment = "a3_numerical_gradients"
    bug = next(b for b in CATALOG[assignment][0] if b.name == "forward_difference")
    notebooks = {
        "bitdiddleben_1001_2001_a3_numerical_gradients.ipynb": h.student_notebook(course, assignment),
        "hackeralyssa_LATE_1002_2002_a3_numerical_gradients-1.ipynb": h.student_notebook(course, assignment, bug=bug),
        "doejane_1003_2003_a3_numerical_gradients.ipynb": h.student_notebook(course, assignment, stub=True),
    }
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as z:
        for name, nb in notebooks.items():
            z.writestr(name, nbformat.writes(nb))
        z.writestr("bitdiddleben_1001_2001_notes.txt", "not a notebook")
    status = cli.main(["grade", assignment, "--course", str(course.root), "--zip", str(download)])
    out = capsys.readouterr().out
    assert status == 0, out
    rows = {r["student_id"]: r for r in csv.DictReader((course.root / "grades" / f"{assignment}.csv").open())}
    assert set(rows) == {"bitdiddleben", "hackeralyssa", "doejane"}
    assert (float(rows["bitdiddleben"]["numerical_gradient"]), float(rows["bitdiddleben"]["rel_error"])) == (6, 4)
    assert (float(rows["hackeralyssa"]["numerical_gradient"]), float(rows["hackeralyssa"]["rel_error"])) == (0, 4)
    assert float(rows["doejane"]["score"]) == 0
    for student in rows:
        html = (course.root / "feedback" / student / assignment / f"{assignment}.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in html and "hidden=True" not in html
    assert "hackeralyssa" in out and "grades:" in out


def test_check_command_exit_status(course, capsys):
    run = graded(course, "a3_numerical_gradients")
    folder = course.root / "submitted"
    assert cli.main(["check", str(folder / "solution" / run.assignment / f"{run.assignment}.ipynb")]) == 0
    assert "2 of 2 graded cells pass their visible tests" in capsys.readouterr().out
    assert cli.main(["check", str(folder / "stub" / run.assignment / f"{run.assignment}.ipynb")]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "numerical_gradient is not implemented yet" in out
