"""The assignment sources, ``assignments/source/<a>/<a>.ipynb``: the one file a course author edits.

Every assignment that ``mnistlab.checks`` knows has a source, and every source follows the course's
pattern, whatever tool edited it (Jupyter with nbgrader's "Create Assignment" toolbar, or a text
editor): valid nbgrader metadata, no outputs, a read-only setup cell that imports the checks first,
then per graded function (in the order of its checks module's ``GRADED``) its solution cell followed
by its read-only test cell worth points, which calls the function's visible check and hides the
hidden one; cell ids present, unique and kept as they are when the notebook is saved.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from assignment_bugs.harness import ASSIGNMENTS as COURSE
from mnistlab.checks import ASSIGNMENT_MODULES, GRADED, REFERENCE_MODULES, grade_id

SOURCES = sorted(p.parent.name for p in (COURSE / "source").glob("*/*.ipynb"))


def _source(assignment: str):
    return nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)


def _check_name(function: str) -> str:
    return "check_two_layer_net_loss" if function == "TwoLayerNet.loss" else f"check_{function}"


def test_every_assignment_has_a_source_and_every_source_its_checks():
    assert SOURCES == sorted(GRADED), "each assignments/source/<a>/<a>.ipynb needs mnistlab/checks/<a>.py and back"
    for assignment, module in ASSIGNMENT_MODULES.items():
        for function in GRADED[assignment]:
            assert callable(getattr(module, _check_name(function))), (assignment, function)


def test_every_graded_function_has_its_reference_in_the_chapter_maps_modules():
    import importlib

    for assignment, functions in GRADED.items():
        modules = [importlib.import_module(m) for m in REFERENCE_MODULES[assignment]]
        for function in functions:
            if function == "training_run":  # a run of the student's sgd_momentum, not a function
                continue
            found = []
            for module in modules:
                obj = module
                for part in function.split("."):
                    obj = getattr(obj, part, None)
                found.append(callable(obj))
            assert any(found), f"{assignment}: {function} is in none of {REFERENCE_MODULES[assignment]}"


@pytest.mark.parametrize("assignment", SOURCES)
def test_source_structure(assignment):
    from nbgrader.nbgraderformat import MetadataValidator

    nb = _source(assignment)
    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)  # raises on invalid or duplicate nbgrader metadata
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "store the source without outputs"
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    assert all(m.get("schema_version") == 3 for m in meta if m)
    # The setup cell is the first code cell, read-only, and imports the checks before any student code runs.
    first = code[0]
    assert first.metadata.nbgrader.grade_id == "setup" and first.metadata.nbgrader.locked
    assert not first.metadata.get("editable", True) and not first.metadata.get("deletable", True)
    assert "from mnistlab import checks" in first.source
    for cell in nb.cells:
        m = cell.metadata.get("nbgrader", {})
        has_solution = "### BEGIN SOLUTION" in cell.source
        has_hidden = "### BEGIN HIDDEN TESTS" in cell.source
        assert has_solution == bool(m.get("solution")), cell.source[:80]
        assert cell.source.count("### BEGIN SOLUTION") == cell.source.count("### END SOLUTION")
        assert cell.source.count("### BEGIN HIDDEN TESTS") == cell.source.count("### END HIDDEN TESTS")
        if m.get("grade"):
            assert m.get("locked") and m.get("points", 0) > 0 and not m.get("solution")
            assert not cell.metadata.get("editable", True) and not cell.metadata.get("deletable", True)
            assert "hidden=True" not in cell.source or has_hidden
        else:
            assert not has_hidden
    graded = [m["grade_id"] for m in meta if m.get("grade")]
    solutions = [m["grade_id"] for m in meta if m.get("solution")]
    assert graded == [grade_id(f) for f in GRADED[assignment]]
    assert solutions == [f.replace(".", "_") for f in GRADED[assignment] if f != "training_run"]
    assert sum(m.get("points", 0) for m in meta) == 10


@pytest.mark.parametrize("assignment", SOURCES)
def test_each_test_cell_follows_its_solution_and_calls_its_check(assignment):
    nb = _source(assignment)
    position = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
    for function in GRADED[assignment]:
        cell = nb.cells[position[grade_id(function)]]
        visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
        call = f"checks.{_check_name(function)}("
        assert call in visible, f"{assignment}: the test cell of {function} must call {call}...)"
        if function != "training_run":  # the training run has no hidden part
            assert f"{call}" in hidden and "hidden=True" in hidden, f"{assignment}: {function} has no hidden check"
            solution = position[function.replace(".", "_")]
            assert solution < position[grade_id(function)], f"{assignment}: {function}'s tests come before it"


@pytest.mark.parametrize("assignment", SOURCES)
def test_cell_ids_are_present_unique_and_stable(assignment):
    path = COURSE / "source" / assignment / f"{assignment}.ipynb"
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text)
    ids = [c.get("id") for c in raw["cells"]]
    assert all(isinstance(i, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", i) for i in ids), ids
    assert len(set(ids)) == len(ids), "duplicate cell ids"
    # Saved as nbformat writes it: reading and writing again changes nothing (no ids regenerated,
    # no metadata reordered), so a diff of the source shows only what the author changed.
    assert nbformat.writes(nbformat.reads(text, as_version=4)) + "\n" == text, \
        f"{path.name} is not in nbformat's canonical form: save it from Jupyter or with nbformat.write"


def test_cell_timeouts():
    from mnistlab.grader.settings import CELL_TIMEOUT, TRAINING_RUN_TIMEOUT, cell_timeout

    nb = _source("a5_sgd_momentum")
    timeouts = {c.metadata.get("nbgrader", {}).get("grade_id"): cell_timeout(c) for c in nb.cells}
    assert timeouts["test_training_run"] == TRAINING_RUN_TIMEOUT
    assert timeouts["test_sgd"] == timeouts[None] == CELL_TIMEOUT
