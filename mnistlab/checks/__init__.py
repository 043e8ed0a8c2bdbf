"""The checks: what the assignments' test cells call, one per graded function.

Chapters 1-5 (assignments ``a1_data`` ... ``a5_sgd_momentum``) and the
instructor guide (``book/07_instructor_guide.md``).

One module per assignment (``mnistlab.checks.a2_relu_softmax``, ...) holds the
checks of its graded functions and its ``GRADED`` tuple; the shared machinery is
:mod:`~mnistlab.checks.runner` (runs the tests of one function, matches common
bugs), :mod:`~mnistlab.checks.messages` (what a failure says) and
:mod:`~mnistlab.checks.references` (NumPy and the reference functions, taken at
import time). This package imports the teaching library only, never the grader.

Each ``check_<function>(fn, hidden=False)`` takes a student's function (for
``TwoLayerNet.loss``: the class), runs it on fixed, seeded inputs and compares
the results with the reference implementation in :mod:`mnistlab`. It either
prints one line ("relu: 3 visible tests passed") and returns ``None``, or
raises :class:`GradingFailure`, whose message says what to fix: the call and
its inputs, the expected and the actual value or shape, where they differ, and
a hint for the usual mistake.

``hidden=False`` runs the tests students see in their notebook: fixed,
seeded inputs, so the same verdict in any process, any number of times.
``hidden=True`` runs the ones only the autograder runs: fixed cases (extreme
values, other shapes and dtypes, inputs left unmodified) and then random cases
whose inputs come from :mod:`~mnistlab.checks.hidden_draws`: from the student's
grading seed when the grader sets one (the same inputs every time that student
is graded, other inputs for every other student), from fresh entropy at home.

Messages never contain test code and never print a large array in full:
arrays are summarized by shape, dtype, a few entries and where they differ.
In IPython (and so in nbgrader's autograded and feedback notebooks) a failure
shows only its message, without a traceback of the test cell.

NumPy functions and the reference functions are looked up once, when this
package is imported (the notebooks import it in their first, read-only cell),
so reassigning ``np.allclose`` or ``mnistlab.functional.relu`` later does not
change what the checks compare with.

Adding an assignment ``a6_name``: its source notebook under
``assignments/source/a6_name/``, a module ``mnistlab/checks/a6_name.py`` with
``GRADED``, ``REFERENCE_MODULES`` and its ``check_<function>`` functions, and its row in the chapter
map (``README.md``). This package finds the module by its name.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from mnistlab.checks.messages import GradingFailure
from mnistlab.checks.references import IDXFormatError

#: An assignment's checks module is named like its nbgrader assignment: ``a<number>_<topic>``.
_ASSIGNMENT_MODULE = re.compile(r"a(\d+)_\w+")


def _assignment_modules() -> dict:
    """The checks module of every assignment, in chapter order (``a1_...``, ``a2_...``, ...)."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if _ASSIGNMENT_MODULE.fullmatch(m.name)]
    names.sort(key=lambda name: int(_ASSIGNMENT_MODULE.fullmatch(name).group(1)))
    return {name: importlib.import_module(f"{__name__}.{name}") for name in names}


ASSIGNMENT_MODULES = _assignment_modules()

#: The graded functions of each assignment, in notebook order (the chapter map
#: of the design). Each has one autograder cell, ``grade_id(function)``.
GRADED: dict[str, tuple[str, ...]] = {name: tuple(module.GRADED) for name, module in ASSIGNMENT_MODULES.items()}

#: The chapter map's other half: the teaching-library modules that define each assignment's references
#: (the book's listings and the grader's similarity report look the graded functions up there).
REFERENCE_MODULES: dict[str, tuple[str, ...]] = {
    name: tuple(module.REFERENCE_MODULES) for name, module in ASSIGNMENT_MODULES.items()
}


def grade_id(function: str) -> str:
    """The nbgrader ``grade_id`` of the autograder cell that checks ``function``."""
    return "test_" + function.replace(".", "_")


def _public_checks() -> dict:
    found = {}
    for module in ASSIGNMENT_MODULES.values():
        for name in dir(module):
            if name.startswith("check_") or name in ("TRAINING_RUN", "TrainingResult"):
                found[name] = getattr(module, name)
    return found


# Every check is also reachable as ``mnistlab.checks.check_<function>``, which is what the notebooks call.
_CHECKS = _public_checks()
globals().update(_CHECKS)

__all__ = ["GradingFailure", "IDXFormatError", "GRADED", "REFERENCE_MODULES", "ASSIGNMENT_MODULES", "grade_id", *sorted(_CHECKS)]
