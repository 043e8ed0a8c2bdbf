"""Realistic wrong versions of every graded function (data for the assessment-quality tests).

One module per assignment, each with ``BUGS`` (a list of :class:`harness.Bug`) and ``CALLS``
(graded function -> the graded functions its solution calls, whose bugs it may inherit).
"""

from __future__ import annotations

import importlib

from mnistlab.checks import GRADED

#: Every assignment of the course (the checks' chapter map): each needs its catalog module here.
ASSIGNMENTS = tuple(GRADED)


def catalog(assignment: str):
    """The ``(BUGS, CALLS)`` of one assignment."""
    try:
        module = importlib.import_module(f"{__name__}.{assignment}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{assignment}":
            raise
        raise AssertionError(f"write tests/assignment_bugs/{assignment}.py: the realistic wrong versions of "
                             f"{assignment}'s graded functions (BUGS, CALLS), as the other catalogs do") from exc
    return module.BUGS, module.CALLS
