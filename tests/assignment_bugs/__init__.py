"""Realistic wrong versions of every graded function (data for the assessment-quality tests).

One module per assignment, each with ``BUGS`` (a list of :class:`harness.Bug`) and ``CALLS``
(graded function -> the graded functions its solution calls, whose bugs it may inherit).
"""

from __future__ import annotations

import importlib

ASSIGNMENTS = ("a1_data", "a2_relu_softmax", "a3_numerical_gradients", "a4_backprop", "a5_sgd_momentum")


def catalog(assignment: str):
    """The ``(BUGS, CALLS)`` of one assignment."""
    module = importlib.import_module(f"{__name__}.{assignment}")
    return module.BUGS, module.CALLS
