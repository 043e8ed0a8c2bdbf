"""mnistlab.checks in-process: the checks accept correct code, reject every catalogued bug, and explain.

These run the assignment notebooks' own code (setup and solution cells, with
and without each bug from ``tests/assignment_bugs``) in a plain namespace, so
they take seconds; ``test_assignments.py`` confirms the same verdicts through
real nbgrader runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re

import nbformat
import numpy as np
import pytest

from assignment_bugs import ASSIGNMENTS, catalog
from assignment_bugs.harness import ASSIGNMENTS as COURSE, apply_bug, solutions
from mnistlab import checks, data, functional, gradcheck, layers, model, optim
from mnistlab.checks import GRADED, GradingFailure, hidden_draws
from mnistlab.checks.messages import describe

#: graded function -> (check, the notebook name it is given)
CHECKS = {fn: (f"check_{fn}", fn) for fns in GRADED.values() for fn in fns}
CHECKS["TwoLayerNet.loss"] = ("check_two_layer_net_loss", "TwoLayerNet")

REFERENCE = {
    "read_idx": data.read_idx, "one_hot": data.one_hot, "normalize": data.normalize,
    "iterate_minibatches": data.iterate_minibatches, "relu": functional.relu, "sigmoid": functional.sigmoid,
    "softmax": functional.softmax, "log_softmax": functional.log_softmax,
    "cross_entropy": functional.cross_entropy, "numerical_gradient": gradcheck.numerical_gradient,
    "rel_error": gradcheck.rel_error, "affine_forward": layers.affine_forward,
    "affine_backward": layers.affine_backward, "relu_forward": layers.relu_forward,
    "relu_backward": layers.relu_backward, "softmax_cross_entropy": layers.softmax_cross_entropy,
    "TwoLayerNet.loss": model.TwoLayerNet, "sgd": optim.sgd, "sgd_momentum": optim.sgd_momentum,
}

BUGS = [(a, b) for a in ASSIGNMENTS for b in catalog(a)[0] if b.function != "training_run"]


def notebook_namespace(assignment: str, bug=None) -> dict:
    """Run the setup cell and the (student's) solution cells of the source notebook, with ``bug`` applied."""
    nb = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    code = solutions(assignment)
    ns: dict = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "setup":
            exec(cell.source, ns)
        elif meta.get("solution"):
            source = code[meta["grade_id"]]
            if bug is not None and meta["grade_id"] == bug.function.replace(".", "_"):
                source = apply_bug(source, bug)
            exec(source, ns)
    return ns


def verdict(ns: dict, function: str) -> tuple[str, str]:
    """("pass", "") or (the stage that failed, the message)."""
    check, name = CHECKS[function]
    for hidden in (False, True):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                getattr(checks, check)(ns.get(name), hidden=hidden)
        except GradingFailure as exc:
            return ("hidden" if hidden else "visible"), str(exc)
    return "pass", ""


@pytest.mark.parametrize("function", list(REFERENCE))
def test_reference_passes_visible_and_hidden_tests(function, capsys):
    check, _ = CHECKS[function]
    getattr(checks, check)(REFERENCE[function])
    getattr(checks, check)(REFERENCE[function], hidden=True)
    out = capsys.readouterr().out
    assert re.search(r"\d+ visible tests passed", out) and re.search(r"\d+ hidden tests passed", out)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_solutions_pass_every_check(assignment):
    ns = notebook_namespace(assignment)
    for function in GRADED[assignment]:
        if function != "training_run":
            assert verdict(ns, function) == ("pass", ""), function


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_catalog_has_three_wrong_versions_per_graded_function(assignment):
    bugs, calls = catalog(assignment)
    for function in GRADED[assignment]:
        assert sum(b.function == function for b in bugs) >= 3, function
    assert len({b.id for b in bugs}) == len(bugs)
    assert set(calls) <= set(GRADED[assignment])


@pytest.mark.parametrize("assignment, bug", BUGS, ids=[f"{a}-{b.id}" for a, b in BUGS])
def test_each_bug_fails_its_own_check_only(assignment, bug):
    """The bug fails its function's check at the stage the catalog says, with a message that helps."""
    _, calls = catalog(assignment)
    ns = notebook_namespace(assignment, bug)
    stage, message = verdict(ns, bug.function)
    assert stage == bug.caught_by, f"{bug.id}: caught by the {stage} tests, catalogued as {bug.caught_by}\n{message}"
    first = message.split("\n", 1)[0]
    assert first.startswith(f'{bug.function}: {stage} test "'), first
    assert "hint:" in message, f"{bug.id}: no hint\n{message}"
    assert any(word in message for word in ("expected", "should", "raised", "changed its argument")), message
    assert max(len(line) for line in message.split("\n")) < 600, message
    assert len(message) < 4000
    for function in GRADED[assignment]:
        if function not in (bug.function, "training_run") and bug.function not in calls.get(function, set()):
            assert verdict(ns, function) == ("pass", ""), f"{bug.id} costs {function} its points"


#: Grading seeds for the tests of the random cases: fixed, so a failure can be reproduced.
TEST_SEEDS = [f"{i:02x}" * 32 for i in (0x11, 0x5a, 0xc3)]


def _fails_hidden(ns: dict, function: str) -> str | None:
    """The failure message of ``function``'s hidden check on the notebook namespace, None if it passes."""
    check, name = CHECKS[function]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            getattr(checks, check)(ns.get(name), hidden=True)
    except GradingFailure as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("assignment, bug", BUGS, ids=[f"{a}-{b.id}" for a, b in BUGS])
def test_each_random_case_alone_catches_the_bug(assignment, bug):
    """Each random hidden case, without the fixed ones and without the other random cases, under several seeds."""
    ns = notebook_namespace(assignment, bug)
    for seed in TEST_SEEDS:
        for case in range(1, hidden_draws.RANDOM_CASES + 1):
            with hidden_draws.grading_seed(seed), hidden_draws.random_cases_only(case):
                message = _fails_hidden(ns, bug.function)
            assert message is not None, f"{bug.id}: random case {case} passes it under the grading seed {seed}"
            assert f'hidden test "random draw {case} of {hidden_draws.RANDOM_CASES}:' in message
            assert "hint:" in message or "raised" in message, message


#: Seeds a correct solution is tried under: a wrong verdict on a correct function is the worst outcome
#: of random inputs (a numerical gradient near 0 once had a large relative error in 1 draw of 75).
MANY_SEEDS = [hashlib.sha256(f"solution seed {i}".encode()).hexdigest() for i in range(100)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_the_random_cases_under_any_seed(assignment):
    ns = notebook_namespace(assignment)
    for seed in [*TEST_SEEDS, None, None]:  # None: fresh entropy, as at home
        with hidden_draws.grading_seed(seed):
            for function in GRADED[assignment]:
                if function != "training_run":
                    assert _fails_hidden(ns, function) is None, f"{function} under the seed {seed}"
    for seed in MANY_SEEDS:
        with hidden_draws.grading_seed(seed), hidden_draws.random_cases_only():
            for function in GRADED[assignment]:
                if function != "training_run":
                    assert _fails_hidden(ns, function) is None, f"{function} under the seed {seed}"


def _hidden_calls(function: str, seed) -> list[tuple[str, bool, str]]:
    """(test, random, inputs digest) of every call the reference's hidden check makes under ``seed``."""
    calls = []
    check, _ = CHECKS[function]
    with hidden_draws.grading_seed(seed), hidden_draws.record_draws(lambda f, t, r, d: calls.append((t, r, d))), \
            contextlib.redirect_stdout(io.StringIO()):
        getattr(checks, check)(REFERENCE[function], hidden=True)
    return calls


@pytest.mark.parametrize("function", list(REFERENCE))
def test_random_cases_are_drawn_from_the_seed_and_fixed_cases_stay_fixed(function):
    one, again, other = (_hidden_calls(function, s) for s in (TEST_SEEDS[0], TEST_SEEDS[0], TEST_SEEDS[1]))
    home, home_again = _hidden_calls(function, None), _hidden_calls(function, None)
    assert one == again  # the same seed draws the same inputs: regrading gives the same score
    random = [{d for _, r, d in calls if r} for calls in (one, other, home, home_again)]
    assert all(len(r) >= hidden_draws.RANDOM_CASES for r in random), random
    for i in range(len(random)):
        for j in range(i):
            assert not random[i] & random[j], f"{function}: two draws share inputs"
    fixed = [[(t, d) for t, r, d in calls if not r] for calls in (one, other, home)]
    assert fixed[0] == fixed[1] == fixed[2] and fixed[0]


def test_messages_summarize_large_arrays():
    text = describe(np.arange(60 * 784, dtype=np.float32).reshape(60, 784))
    assert "shape (60, 784)" in text and "float32" in text and len(text) < 200
    small = describe(np.array([[1.0, -2.0], [3.0, 4.5]]))
    assert "4.5" in small and "shape (2, 2)" in small
    with_nan = describe(np.array([np.nan, 1.0, np.inf] * 10))
    assert "nan or inf" in with_nan


def test_a_stub_is_reported_as_not_implemented():
    def relu(x):
        raise NotImplementedError()

    with pytest.raises(GradingFailure) as info:
        checks.check_relu(relu)
    message = str(info.value)
    assert "relu(x) raised NotImplementedError." in message
    assert "relu is not implemented yet" in message


def test_failure_renders_as_its_message_only():
    """In IPython (and so in nbgrader's outputs) a failure shows no traceback, hence no test code."""
    with pytest.raises(GradingFailure) as info:
        checks.check_relu(lambda x: np.abs(x))
    lines = info.value._render_traceback_()
    assert "GradingFailure" in lines[0] and 'relu: visible test "hand-worked example" failed.' in lines[0]
    assert not any("check_relu" in line or "Traceback" in line for line in lines)


def test_checks_keep_numpy_references_from_import_time(monkeypatch):
    """Reassigning numpy functions after the notebook's setup cell cannot make a wrong relu pass."""
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "isclose", lambda a, b, **k: np.ones(np.broadcast(a, b).shape, bool))
    monkeypatch.setattr(functional, "relu", lambda x: np.abs(x))
    with pytest.raises(GradingFailure):
        checks.check_relu(lambda x: np.abs(x))


def test_checks_are_deterministic():
    """Same function, same verdict and the same message, every time (seeded inputs only)."""
    ns = notebook_namespace("a2_relu_softmax", [b for a, b in BUGS if b.id == "softmax-global_max"][0])
    assert verdict(ns, "softmax") == verdict(ns, "softmax")


def test_check_rejects_a_non_function():
    with pytest.raises(GradingFailure, match="expected a function"):
        checks.check_sigmoid(None)


def test_training_run_rejects_out_of_range_settings():
    with pytest.raises(GradingFailure, match="learning_rate = 5 is out of range"):
        checks.check_training_run(optim.sgd_momentum, learning_rate=5)
    with pytest.raises(GradingFailure, match="momentum = 1.0 is out of range"):
        checks.check_training_run(optim.sgd_momentum, momentum=1.0)


def test_scrub_removes_quoted_hidden_test_lines():
    from mnistlab.grader.feedback import ScrubHiddenTestOutputs

    cell = nbformat.v4.new_code_cell(
        "# Tests\ngrading.check_relu(relu)\n### BEGIN HIDDEN TESTS\ngrading.check_relu(relu, hidden=True)\n"
        "### END HIDDEN TESTS"
    )
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_relu", "points": 1, "solution": False,
                                 "locked": True, "schema_version": 3}
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="NameError", evalue="name 'relu' is not defined",
        traceback=["\x1b[31mNameError\x1b[0m", "----> 2 checks.check_relu(relu)\n      3 ### BEGIN HIDDEN TESTS\n"
                   "      4 \x1b[32mgrading.check_relu(relu, hidden=True)\x1b[0m\n      5 ### END HIDDEN TESTS",
                   "NameError: name 'relu' is not defined"])]
    cell, _ = ScrubHiddenTestOutputs().preprocess_cell(cell, {}, 0)
    text = "\n".join(cell.outputs[0].traceback)
    assert "hidden=True" not in text and "check_relu(relu)" in text and "NameError" in text
    assert "HIDDEN" not in text


def test_grading_commands_are_registered():
    from mnistlab.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["check", "a1_data.ipynb"]).handler.__name__ == "cmd_check"
    args = parser.parse_args(["grade", "a2_relu_softmax", "--zip", "x.zip", "--student", "ada"])
    assert (args.handler.__name__, args.zip, args.student) == ("cmd_grade", ["x.zip"], ["ada"])
