"""The isolated re-check (mnistlab.grader.isolation) on real student notebooks, with the real checks.

Notebooks are built with the assessment harness (the released notebook with the reference
solutions written in, the stubs, or a wrong version from ``assignment_bugs``), then edited
the way a hostile submission would be. Nothing is mocked: each re-check starts a real
isolated process and runs the real ``mnistlab.checks`` checks here.
"""

from __future__ import annotations

import tempfile
import time

import nbformat
import pytest

from assignment_bugs import ASSIGNMENTS, catalog
from assignment_bugs import harness as h
from mnistlab.fetch import MNIST_FILES, default_data_dir
from mnistlab.checks import GRADED
from mnistlab.grader.isolation import TOP_LEVEL_PREFIX, recheck_notebook

A2 = "a2_relu_softmax"
REPO = h.REPO
TIMINGS: dict[str, float] = {}

#: The body of a correct numerical_gradient, after whatever a test's version does first.
CENTRAL_DIFFERENCE_BODY = (
    "    grad = np.zeros(x.shape)\n"
    "    for ix in np.ndindex(x.shape):\n"
    "        old = x[ix]\n"
    "        x[ix] = old + h\n"
    "        f_plus = f(x)\n"
    "        x[ix] = old - h\n"
    "        f_minus = f(x)\n"
    "        x[ix] = old\n"
    "        grad[ix] = (f_plus - f_minus) / (2 * h)\n"
    "    return grad\n"
)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return h.make_course(tmp_path_factory.mktemp("isolation"))


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield
    if TIMINGS:
        print("\nisolated re-check wall times:")
        for name, seconds in TIMINGS.items():
            print(f"  {name:<45} {seconds:6.2f} s")


def recheck(course, tmp_path, assignment, label, nb=None, **kwargs):
    nb = nb if nb is not None else h.student_notebook(course, assignment)
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    start = time.perf_counter()
    verdicts = recheck_notebook(path, assignment, **kwargs)
    TIMINGS[label] = time.perf_counter() - start
    assert list(verdicts) == list(GRADED[assignment])
    return verdicts


def solution_cell(nb, function):
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == function.replace(".", "_")]
    assert len(cells) == 1
    return cells[0]


def with_cells(course, assignment, *, replace=None, top_level=None, before=None):
    """The reference notebook with solution cells replaced and/or a code cell added after the setup cell."""
    nb = h.student_notebook(course, assignment)
    for function, source in (replace or {}).items():
        solution_cell(nb, function).source = source
    if top_level is not None:
        setup = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
        nb.cells.insert(setup + 1, nbformat.v4.new_code_cell(top_level))
    if before is not None:  # a cell right before the solution cell of `before[0]`
        index = nb.cells.index(solution_cell(nb, before[0]))
        nb.cells.insert(index, nbformat.v4.new_code_cell(before[1]))
    return nb


def passed(verdicts):
    return {f for f, v in verdicts.items() if v.passed}


def first_bug(assignment, function):
    bugs, _ = catalog(assignment)
    return next(b for b in bugs if b.function == function)


# ---------------------------------------------------------------------------
# Honest notebooks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if a != "a5_sgd_momentum"])
def test_reference_solutions_pass(course, tmp_path, assignment):
    verdicts = recheck(course, tmp_path, assignment, f"{assignment} (reference)")
    failures = {f: v.message for f, v in verdicts.items() if not v.passed}
    assert not failures
    assert all(not v.flags for v in verdicts.values()), {f: v.flags for f, v in verdicts.items()}


def test_a2_recheck_is_fast(course, tmp_path):
    recheck(course, tmp_path, A2, "a2 warm-up")
    verdicts = recheck(course, tmp_path, A2, "a2 (reference, timed)")
    assert passed(verdicts) == set(GRADED[A2])
    assert TIMINGS["a2 (reference, timed)"] < 3.0  # about 0.2 s; generous for loaded CI machines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stubs_fail(course, tmp_path, assignment):
    nb = h.student_notebook(course, assignment, stub=True)
    verdicts = recheck(course, tmp_path, assignment, f"{assignment} (stubs)", nb=nb)
    assert passed(verdicts) == set()
    first = GRADED[assignment][0]
    message = verdicts[first].message
    assert "NotImplementedError" in message, message
    # The traceback is rebuilt from the isolated process: the hint names the student's function.
    name = "TwoLayerNet.loss" if first == "TwoLayerNet.loss" else first
    assert f"{name.split('.')[-1]} is not implemented yet" in message, message


@pytest.mark.parametrize("assignment,function", [
    ("a1_data", "iterate_minibatches"),
    ("a2_relu_softmax", "relu"),
    ("a3_numerical_gradients", "numerical_gradient"),
    ("a4_backprop", "TwoLayerNet.loss"),
    ("a5_sgd_momentum", "sgd_momentum"),
])
def test_a_wrong_version_fails_its_function_only(course, tmp_path, assignment, function):
    bug = first_bug(assignment, function)
    nb = h.student_notebook(course, assignment, bug=bug)
    kwargs = {"training_timeout": 0.001} if assignment == "a5_sgd_momentum" else {}
    verdicts = recheck(course, tmp_path, assignment, f"{assignment} bug {bug.id}", nb=nb, **kwargs)
    assert not verdicts[function].passed
    assert verdicts[function].message.startswith(f"{function}: ")
    others = set(GRADED[assignment]) - {function, "training_run"}
    assert others <= passed(verdicts), {f: verdicts[f].message for f in others}


@pytest.mark.parametrize("name,message", [
    ("in_place", "changed its argument x in place"),  # the child's write into x reaches the grader's x
    ("float64_cast", "has dtype float64, expected float32"),
])
def test_in_place_and_dtype_bugs_of_relu_are_seen(course, tmp_path, name, message):
    bugs, _ = catalog(A2)
    bug = next(b for b in bugs if b.function == "relu" and b.name == name)
    verdicts = recheck(course, tmp_path, A2, f"a2 bug {bug.id}", nb=h.student_notebook(course, A2, bug=bug))
    assert not verdicts["relu"].passed
    assert message in verdicts["relu"].message
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}


def test_warnings_in_the_isolated_process_reach_the_check(course, tmp_path):
    """The textbook sigmoid overflows: the check sees NumPy's warning although it was issued in the child."""
    bugs, _ = catalog(A2)
    bug = next(b for b in bugs if b.function == "sigmoid" and b.name == "naive_overflow")
    nb = h.student_notebook(course, A2, bug=bug)
    verdicts = recheck(course, tmp_path, A2, "a2 bug sigmoid-naive_overflow", nb=nb)
    assert not verdicts["sigmoid"].passed
    assert "RuntimeWarning: overflow encountered in exp" in verdicts["sigmoid"].message
    assert passed(verdicts) == set(GRADED[A2]) - {"sigmoid"}


def test_numerical_gradient_that_does_not_restore_x_fails(course, tmp_path):
    bugs, _ = catalog("a3_numerical_gradients")
    bug = next(b for b in bugs if b.name == "no_restore")
    nb = h.student_notebook(course, "a3_numerical_gradients", bug=bug)
    verdicts = recheck(course, tmp_path, "a3_numerical_gradients", "a3 bug no_restore", nb=nb)
    assert not verdicts["numerical_gradient"].passed
    assert "x was not restored" in verdicts["numerical_gradient"].message
    assert verdicts["rel_error"].passed


def test_perturbing_a_copy_fails_the_closure_test(course, tmp_path):
    """f reads w (the array passed as x): only in-place changes of x, sent back at each callback, reach it."""
    bugs, _ = catalog("a3_numerical_gradients")
    bug = next(b for b in bugs if b.name == "perturbs_copy")
    nb = h.student_notebook(course, "a3_numerical_gradients", bug=bug)
    verdicts = recheck(course, tmp_path, "a3_numerical_gradients", "a3 bug perturbs_copy", nb=nb)
    assert not verdicts["numerical_gradient"].passed
    assert "reads x itself" in verdicts["numerical_gradient"].message


# ---------------------------------------------------------------------------
# Hostile notebooks
# ---------------------------------------------------------------------------

WRONG_RELU = "def relu(x):\n    return np.abs(x)\n"


def test_monkeypatching_the_grader_numpy_and_builtins_does_not_help(course, tmp_path):
    patch = (
        "import builtins\n"
        "import numpy as np\n"
        "import mnistlab.grading\n"
        "from mnistlab import grading\n"
        "grading.check_relu = lambda *a, **k: None\n"
        "mnistlab.grading.check_relu = lambda *a, **k: None\n"
        "np.allclose = lambda *a, **k: True\n"
        "np.isclose = lambda a, b, **k: np.ones(np.shape(a), dtype=bool)\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        "builtins.isinstance = lambda *a: True\n"
    )
    nb = with_cells(course, A2, replace={"relu": WRONG_RELU}, top_level=patch)
    verdicts = recheck(course, tmp_path, A2, "a2 monkeypatching", nb=nb)
    assert not verdicts["relu"].passed
    assert "wrong values" in verdicts["relu"].message
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}


@pytest.mark.parametrize("source", [
    "def relu(x):\n    import mnistlab.functional as F\n    return F.relu(x)\n",
    "from mnistlab.functional import relu\n",
    "import mnistlab\n\ndef relu(x):\n    return mnistlab.functional.relu(x)\n",
])
def test_calling_the_reference_fails_and_is_flagged(course, tmp_path, source):
    nb = with_cells(course, A2, replace={"relu": source})
    verdicts = recheck(course, tmp_path, A2, "a2 uses mnistlab.functional.relu", nb=nb)
    relu = verdicts["relu"]
    assert not relu.passed
    assert "uses the reference mnistlab.functional.relu" in relu.flags
    assert "ReferenceUnavailable" in relu.message
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}
    assert not verdicts["softmax"].flags


def test_a_function_that_swallows_keyboard_interrupt_times_out(course, tmp_path):
    hang = ("def relu(x):\n    while True:\n        try:\n            pass\n"
            "        except KeyboardInterrupt:\n            pass\n")
    nb = with_cells(course, A2, replace={"relu": hang})
    verdicts = recheck(course, tmp_path, A2, "a2 relu hangs (timeout 3 s)", nb=nb, function_timeout=3)
    assert not verdicts["relu"].passed
    assert "did not finish within 3 s" in verdicts["relu"].message
    assert 2.5 < verdicts["relu"].seconds < 10
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}


@pytest.mark.parametrize("exit_call,expected", [
    ("sys.exit()", "raised SystemExit"),
    ("sys.exit(3)", "raised SystemExit"),
    ("os._exit(1)", "the process ended (exit code 1) while running relu"),
])
def test_exiting_fails_that_function_only(course, tmp_path, exit_call, expected):
    source = f"import os\nimport sys\n\ndef relu(x):\n    {exit_call}\n"
    nb = with_cells(course, A2, replace={"relu": source})
    verdicts = recheck(course, tmp_path, A2, f"a2 relu calls {exit_call}", nb=nb)
    assert not verdicts["relu"].passed
    assert expected in verdicts["relu"].message, verdicts["relu"].message
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}


@pytest.mark.parametrize("hog", ["np.ones(10**11)", "[0] * 10**10"])
def test_exhausting_memory_fails_that_function_only(course, tmp_path, hog):
    source = f"def relu(x):\n    big = {hog}\n    return np.maximum(x, 0)\n"
    nb = with_cells(course, A2, replace={"relu": source})
    verdicts = recheck(course, tmp_path, A2, f"a2 relu allocates {hog}", nb=nb, memory_mb=1024)
    assert not verdicts["relu"].passed
    assert "MemoryError" in verdicts["relu"].message
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}


def test_a_top_level_infinite_loop_is_skipped(course, tmp_path):
    nb = with_cells(course, A2, before=("sigmoid", "while True:\n    pass\n"))
    verdicts = recheck(course, tmp_path, A2, "a2 top-level loop (cell timeout 2 s)", nb=nb, cell_timeout=2)
    assert passed(verdicts) == set(GRADED[A2])
    skipped = [f for f in verdicts["relu"].flags if f.startswith(TOP_LEVEL_PREFIX + "skipped")]
    assert skipped and "did not finish within 2 s" in skipped[0]


def test_garbage_on_the_pipe_fails_cleanly(course, tmp_path):
    junk = "import os\nimport sys\n\ndef relu(x):\n    os.write(int(sys.argv[2]), b'junk' * 1000)\n    return x\n"
    nb = with_cells(course, A2, replace={"relu": junk})
    verdicts = recheck(course, tmp_path, A2, "a2 relu writes junk on the pipe", nb=nb)
    assert not verdicts["relu"].passed
    assert "malformed reply" in verdicts["relu"].message
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}


def test_a_forged_reply_gets_no_marks(course, tmp_path):
    """A well-formed message that claims success still has to carry the right values."""
    forged = (
        "import json, os, struct, sys\n\n"
        "def relu(x):\n"
        "    head = json.dumps({'t': 'ok', 'v': 0, 'bl': []}).encode()\n"
        "    os.write(int(sys.argv[2]), struct.pack('<4sIQ', b'MNL1', len(head), 0) + head)\n"
        "    os._exit(0)\n"
    )
    nb = with_cells(course, A2, replace={"relu": forged})
    verdicts = recheck(course, tmp_path, A2, "a2 relu forges a reply", nb=nb)
    assert not verdicts["relu"].passed
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}


def test_the_grader_objects_are_out_of_reach(course, tmp_path):
    """The child can call the grader's callables, but not reach their globals or set attributes."""
    snoop = (
        "def numerical_gradient(f, x, h=1e-5):\n"
        "    for name in ('__globals__', '__code__', '__closure__', '_private'):\n"
        "        try:\n"
        "            getattr(f, name)\n"
        "        except (AttributeError, PermissionError):\n"
        "            pass\n"
        "        else:\n"
        "            raise AssertionError('reached ' + name)\n"
        "    try:\n"
        "        f.x = 1\n"
        "    except PermissionError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError('set an attribute')\n"
        + CENTRAL_DIFFERENCE_BODY
    )
    nb = with_cells(course, "a3_numerical_gradients", replace={"numerical_gradient": snoop})
    verdicts = recheck(course, tmp_path, "a3_numerical_gradients", "a3 snooping", nb=nb)
    assert verdicts["numerical_gradient"].passed, verdicts["numerical_gradient"].message


def test_no_recheck_without_the_guard(course, tmp_path, monkeypatch):
    """A missing guard file fails closed: the child does not start, no function passes."""
    import mnistlab.grader.isolation as isolation

    monkeypatch.setattr(isolation, "SANDBOX_FILE", tmp_path / "gone" / "sandbox.py")
    verdicts = recheck(course, tmp_path, A2, "a2 without the guard")
    assert passed(verdicts) == set()
    assert all("could not start" in v.message and "guard" in v.message for v in verdicts.values()), \
        {f: v.message for f, v in verdicts.items()}


def test_the_guard_refuses_hidden_files_and_flags_it(course, tmp_path):
    secret = tmp_path / "course-secrets"
    secret.mkdir()
    (secret / "gradebook.db").write_text("grades")
    peek = (
        "def relu(x):\n"
        "    try:\n"
        f"        open({str(secret / 'gradebook.db')!r}).read()\n"
        "    except PermissionError:\n"
        "        pass\n"
        "    return np.maximum(x, 0)\n"
    )
    top = f"try:\n    open({str(secret / 'gradebook.db')!r}, 'w')\nexcept PermissionError:\n    pass\n"
    nb = with_cells(course, A2, replace={"relu": peek}, top_level=top)
    verdicts = recheck(course, tmp_path, A2, "a2 relu reads a hidden file", nb=nb, hidden_dirs=[secret])
    assert passed(verdicts) == set(GRADED[A2])  # refused, caught, and the result is right: flagged only
    relu_flags = [f for f in verdicts["relu"].flags if not f.startswith(TOP_LEVEL_PREFIX)]
    assert any("gradebook.db" in f for f in relu_flags), verdicts["relu"].flags
    for verdict in verdicts.values():  # the top-level attempt is reported with every function
        assert any(f.startswith(TOP_LEVEL_PREFIX) and "gradebook.db" in f for f in verdict.flags), verdict.flags
    assert not [f for f in verdicts["softmax"].flags if not f.startswith(TOP_LEVEL_PREFIX)]


def test_the_checks_temporary_files_stay_readable_when_tmp_is_hidden(course, tmp_path, monkeypatch):
    """read_idx's tests write IDX files for the child to read: not into a folder the child must not see.

    The grader's temporary folder is a dedicated one here, not /tmp itself, which may hold the Python
    environment (a clean clone under /tmp in CI): hiding that would hide NumPy from the child.
    """
    grader_tmp = tmp_path / "grader-tmp"
    grader_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(grader_tmp))
    verdicts = recheck(course, tmp_path, "a1_data", "a1 (reference, the temp folder hidden)",
                       hidden_dirs=[grader_tmp])
    assert passed(verdicts) == set(GRADED["a1_data"]), {f: v.message for f, v in verdicts.items()}


def test_the_real_mnistlab_stays_out_of_reach(course, tmp_path):
    """Removing the stand-ins and putting the repository on sys.path does not bring the reference back."""
    escape = (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, '__name__', '') != 'StandInFinder']\n"
        "for name in [n for n in sys.modules if n == 'mnistlab' or n.startswith('mnistlab.')]:\n"
        "    del sys.modules[name]\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "try:\n"
        "    import __editable___mnistlab_0_1_0_finder as finder\n"
        "    finder.install()\n"
        "except Exception:\n"
        "    pass\n\n"
        "def relu(x):\n"
        "    import mnistlab.functional as F\n"
        "    return F.relu(x)\n"
    )
    nb = with_cells(course, A2, replace={"relu": escape})
    verdicts = recheck(course, tmp_path, A2, "a2 relu escapes the stand-ins", nb=nb)
    assert not verdicts["relu"].passed
    assert any("mnistlab" in f for f in verdicts["relu"].flags), verdicts["relu"].flags
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}


def test_a_fake_array_interface_cannot_reach_the_graders_memory(course, tmp_path):
    """NumPy trusts __array_interface__'s address: a proxy must never look it up in the child.

    The grader's lambdas apply NumPy to whatever the student passes as x; here an object whose
    __array_interface__ points at address 8 (a segfault, if NumPy used it).
    """
    evil = (
        "class Evil:\n"
        "    @property\n"
        "    def __array_interface__(self):\n"
        "        return {'data': (8, False), 'shape': (10**6,), 'typestr': '<f8', 'version': 3}\n\n"
        "def numerical_gradient(f, x, h=1e-5):\n"
        "    try:\n"
        "        f(Evil())\n"
        "    except Exception:\n"
        "        pass\n"
        + CENTRAL_DIFFERENCE_BODY
    )
    nb = with_cells(course, "a3_numerical_gradients", replace={"numerical_gradient": evil})
    verdicts = recheck(course, tmp_path, "a3_numerical_gradients", "a3 fake __array_interface__", nb=nb)
    assert verdicts["numerical_gradient"].passed, verdicts["numerical_gradient"].message


def test_a_function_whose_cell_failed_is_reported_as_not_defined(course, tmp_path):
    nb = with_cells(course, A2, replace={"relu": "def relu(x)\n    return x\n"})
    verdicts = recheck(course, tmp_path, A2, "a2 relu cell has a syntax error", nb=nb)
    assert not verdicts["relu"].passed
    assert "relu is not defined" in verdicts["relu"].message
    assert "SyntaxError" in verdicts["relu"].message
    assert passed(verdicts) == set(GRADED[A2]) - {"relu"}


def test_an_unreadable_notebook_fails_every_function(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json")
    verdicts = recheck_notebook(path, A2)
    assert passed(verdicts) == set()
    assert all("could not be read" in v.message for v in verdicts.values())


# ---------------------------------------------------------------------------
# The a5 training run (the real MNIST files)
# ---------------------------------------------------------------------------


def _mnist_present() -> bool:
    folder = default_data_dir()
    return all((folder / name).is_file() and (folder / name).stat().st_size == size
               for name, (size, _) in MNIST_FILES.items())


@pytest.mark.slow
@pytest.mark.skipif(not _mnist_present(), reason="the MNIST files are not in mnistlab.fetch.default_data_dir()")
def test_a5_training_run_in_isolation(course, tmp_path):
    import contextlib
    import io

    from mnistlab import grading, optim

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        grading.check_training_run(optim.sgd_momentum)
    TIMINGS["a5 training run, in-process check (reference)"] = time.perf_counter() - start

    verdicts = recheck(course, tmp_path, "a5_sgd_momentum", "a5 (reference, with the training run)")
    assert passed(verdicts) == set(GRADED["a5_sgd_momentum"]), {f: v.message for f, v in verdicts.items()}
    TIMINGS["a5 training run, isolated (verdict seconds)"] = verdicts["training_run"].seconds

    bugs, _ = catalog("a5_sgd_momentum")
    bug = next(b for b in bugs if b.function == "training_run" and b.name == "no_momentum")
    nb = h.student_notebook(course, "a5_sgd_momentum", bug=bug)
    verdicts = recheck(course, tmp_path, "a5_sgd_momentum", "a5 bug training_run-no_momentum", nb=nb)
    assert not verdicts["training_run"].passed
    assert "below the bar" in verdicts["training_run"].message
    assert verdicts["sgd"].passed and verdicts["sgd_momentum"].passed
