"""Hidden inputs from the course secret, on ``mnistlab grade``'s path and on nbgrader's own (issue 12).

Real submissions of ``a2_relu_softmax`` graded by the real command (``mnistlab grade``: real
nbgrader, real kernels, the real isolated re-check) and by nbgrader's in-process API with the
course's ``nbgrader_config.py`` (what ``nbgrader autograde`` and the formgrader run); points are
read back from nbgrader's gradebook. Which inputs the hidden checks used is read from the
test-only draw log (``MNISTLAB_HIDDEN_DRAW_LOG``), written by the grading process.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import csv
import io
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest

from assignment_bugs import harness as h
from mnistlab import checks, cli, functional
from mnistlab.checks import GRADED, grade_id, hidden_draws
from mnistlab.grader.course_secret import DRAW_LOG_ENV, SECRET_FILE, grading_seed, read_secret

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

A = "a2_relu_softmax"
POINTS = {"relu": 1.0, "sigmoid": 2.0, "softmax": 2.0, "log_softmax": 2.0, "cross_entropy": 3.0}
FULL = sum(POINTS.values())
CELL_TIMEOUT = 10


def home_recording() -> list[np.ndarray]:
    """Every input the installed package's checks pass to relu, recorded at home (no course secret, no seed)."""
    seen = []

    def spy(x):
        seen.append(np.array(x, copy=True))
        return functional.relu(x)

    assert hidden_draws.current_seed() is None
    with contextlib.redirect_stdout(io.StringIO()):
        checks.check_relu(spy)
        checks.check_relu(spy, hidden=True)
    return seen


def lookup_relu_cell(recorded: list[np.ndarray]) -> str:
    """A relu that answers the recorded inputs from a table (the reference's answers) and anything else wrongly."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{f"x{i}": x for i, x in enumerate(recorded)},
                        **{f"y{i}": functional.relu(x) for i, x in enumerate(recorded)})
    blob = base64.b64encode(buffer.getvalue()).decode()
    return (
        "import base64, io\nimport numpy as np\n"
        f"_T = np.load(io.BytesIO(base64.b64decode('{blob}')))\n"
        "_TABLE = {}\n"
        f"for _i in range({len(recorded)}):\n"
        "    _x = _T[f'x{_i}']\n"
        "    _TABLE[(_x.dtype.str, _x.shape, _x.tobytes())] = _T[f'y{_i}']\n"
        "def relu(x):\n"
        "    x = np.asarray(x)\n"
        "    y = _TABLE.get((x.dtype.str, x.shape, x.tobytes()))\n"
        "    return y.copy() if y is not None else np.full(x.shape, 7.0, x.dtype)\n"
    )


def reads_secret_cell(course: Path) -> str:
    """A relu that is right only if the notebook could read the course secret."""
    return (
        "import numpy as np\n"
        "try:\n"
        f"    _SECRET = open({str(course / SECRET_FILE)!r}).read()\n"
        "except Exception:\n"
        "    _SECRET = None\n"
        "def relu(x):\n"
        "    return np.maximum(x, 0) if _SECRET else x\n"
    )


PATCH_CHECKS = ("def relu(x):\n    return x\n"
                "import mnistlab.grading as _g\n"
                "_g.check_relu = lambda *a, **k: print('relu: 4 hidden tests passed')\n")


def submit_class(course, cells_by_student: dict) -> None:
    for student, cells in cells_by_student.items():
        nb = h.student_notebook(course, A)
        for gid, code in cells.items():
            next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid).source = code
        h.submit(course, A, student, nb)


def points(course, student) -> dict:
    scores = h.gradebook_scores(course, A)[student]
    return {f: scores[grade_id(f)][0] for f in GRADED[A]}


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def digests(log: list[dict], student: str, *, random: bool) -> dict:
    """function -> the ordered digests of one student's hidden calls (random cases or fixed ones)."""
    out = collections.defaultdict(list)
    for entry in log:
        if entry["student"] == student and entry["random"] is random:
            out[entry["function"]].append(entry["digest"])
    return dict(out)


def grade(course, log: Path, *extra) -> int:
    os.environ["MNISTLAB_CELL_TIMEOUT"] = str(CELL_TIMEOUT)
    os.environ[DRAW_LOG_ENV] = str(log)
    try:
        return cli.main(["grade", A, "--course", str(course.root), "--jobs", "2", "--no-progress", *extra])
    finally:
        del os.environ["MNISTLAB_CELL_TIMEOUT"], os.environ[DRAW_LOG_ENV]


# ---------------------------------------------------------------------------
# mnistlab grade
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded_twice(tmp_path_factory):
    """A class graded by `mnistlab grade`, then regraded from scratch (--regrade); each run with its draw log."""
    folder = tmp_path_factory.mktemp("hidden")
    course = h.make_course(folder)
    recorded = home_recording()
    submit_class(course, {
        "honest": {},
        "twin": {},  # the same code as honest
        "lookup": {"relu": lookup_relu_cell(recorded)},
        "reads_secret": {"relu": reads_secret_cell(course.root)},
    })
    assert not (course.root / SECRET_FILE).exists()
    first_log, second_log = folder / "draws-1.jsonl", folder / "draws-2.jsonl"
    status = grade(course, first_log)
    first = {s: points(course, s) for s in ("honest", "twin", "lookup", "reads_secret")}
    with open(course.root / "grades" / f"{A}.csv", newline="") as f:
        first_rows = {r["student_id"]: r for r in csv.DictReader(f)}
    grade(course, second_log, "--regrade")
    second = {s: points(course, s) for s in first}
    results = {p.stem: json.loads(p.read_text())
               for p in (course.root / ".mnistlab-grading" / A / "results").glob("*.json")}
    return course, recorded, first, second, first_rows, read_log(first_log), read_log(second_log), results, status


def test_the_first_grading_creates_the_secret(graded_twice):
    course = graded_twice[0]
    path = course.root / SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(read_secret(course.root)) == 32


def test_a_table_of_the_home_inputs_loses_relus_point(graded_twice):
    """The attack of issue 12: a relu that looks up the inputs recorded at home passes the fixed cases only."""
    course, recorded, first, *_, results, _ = graded_twice
    assert len(recorded) >= 6 + 2 * hidden_draws.RANDOM_CASES
    assert first["lookup"] == {**POINTS, "relu": 0.0}
    message = results["lookup"]["functions"]["relu"]["message"]
    # Every visible and fixed hidden case passed (the table holds them); a per-student random draw did not.
    assert 'hidden test "random draw 1 of' in message, message


def test_an_honest_relu_keeps_its_point(graded_twice):
    _, _, first, *_, results, _ = graded_twice
    assert first["honest"] == POINTS
    assert first["twin"] == POINTS
    # The kernel and the re-check drew the same inputs (one seed): they agree, nothing is flagged.
    for student in ("honest", "twin"):
        assert results[student]["flags"] == [], results[student]["flags"]
        assert all(f["in_kernel"] == f["points"] and f["isolated"] for f in results[student]["functions"].values())


def test_the_notebook_cannot_read_the_secret(graded_twice):
    _, _, first, *_ = graded_twice
    assert first["reads_secret"] == {**POINTS, "relu": 0.0}


def test_two_gradings_give_the_same_scores_and_draws(graded_twice):
    _, _, first, second, _, first_log, second_log, *_ = graded_twice
    assert first == second
    for student in first:
        for random in (True, False):
            assert digests(first_log, student, random=random) == digests(second_log, student, random=random)


def test_identical_code_gets_different_hidden_inputs(graded_twice):
    _, _, _, _, _, log, *_ = graded_twice
    honest_random, twin_random = digests(log, "honest", random=True), digests(log, "twin", random=True)
    assert set(honest_random) == set(twin_random) == set(GRADED[A])
    for function in GRADED[A]:
        assert len(honest_random[function]) >= hidden_draws.RANDOM_CASES
        assert not set(honest_random[function]) & set(twin_random[function]), function
    # The fixed cases stay fixed: the same inputs for everyone.
    assert digests(log, "honest", random=False) == digests(log, "twin", random=False)


def test_the_secret_appears_nowhere_the_course_shares(graded_twice):
    course, *_, first_rows, first_log, _, results, _ = graded_twice
    secret = read_secret(course.root)
    needles = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    seeds = [grading_seed(secret, A, s).encode() for s in first_rows]
    scanned = 0
    for folder in ("release", "feedback", "autograded", "grades"):
        for path in (course.root / folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                scanned += 1
                assert not any(n in data for n in needles), f"the course secret is in {path}"
                assert not any(s in data for s in seeds), f"a grading seed is in {path}"
    assert scanned >= 4 * 2 + 3  # notebooks and feedback pages of the class, the CSV, the release
    assert secret.hex() not in json.dumps(first_log) + json.dumps(results)


# ---------------------------------------------------------------------------
# nbgrader's own path
# ---------------------------------------------------------------------------


def test_plain_nbgrader_autograde_keeps_the_rules(tmp_path):
    """nbgrader's API with the course's config (what `nbgrader autograde` and the formgrader run)."""
    course = h.make_course(tmp_path)
    submit_class(course, {
        "honest": {},
        "patch_checks": {"relu": PATCH_CHECKS},
        "lookup": {"relu": lookup_relu_cell(home_recording())},
        "reads_secret": {"relu": reads_secret_cell(course.root)},
    })
    os.environ["MNISTLAB_CELL_TIMEOUT"] = str(CELL_TIMEOUT)
    try:
        h.autograde(course, A, ["honest", "patch_checks", "lookup", "reads_secret"])
    finally:
        del os.environ["MNISTLAB_CELL_TIMEOUT"]
    assert points(course, "honest") == POINTS
    for student in ("patch_checks", "lookup", "reads_secret"):
        assert points(course, student) == {**POINTS, "relu": 0.0}, student
    nb = h.autograded_notebook(course, A, "patch_checks")
    relu_test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id("relu"))
    assert relu_test.outputs[0]["ename"] == "IsolatedRecheckFailed"
    assert "mnistlab grade" in "\n".join(relu_test.outputs[0]["traceback"])
    assert (course.root / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    secret = read_secret(course.root).hex()
    for path in (course.root / "autograded").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    # Without the config's re-check the patch would have earned the point (what this test guards against).
    assert "relu: 4 hidden tests passed" in "".join(o.get("text", "") for o in relu_test.outputs)


def test_unreadable_secret_is_a_clear_error(tmp_path, capsys):
    course = h.make_course(tmp_path)
    submit_class(course, {"honest": {}})
    (course.root / SECRET_FILE).write_text("not a secret\n")
    status = cli.main(["grade", A, "--course", str(course.root), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1
    assert "not 64 lower-case hexadecimal digits" in err and "mnistlab secret" in err
    assert not (course.root / "autograded").exists()


def test_released_notebooks_carry_no_secret(tmp_path):
    course = h.make_course(tmp_path)
    cli.main(["secret", "--course", str(course.root)])
    path = h.release(course, A)
    assert read_secret(course.root).hex() not in path.read_text()
    assert hidden_draws.SEED_ENV not in nbformat.read(path, as_version=4).cells[0].source
