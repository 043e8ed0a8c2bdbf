"""Checks of assignment ``a2_relu_softmax`` (chapter 2, ReLU and softmax)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from mnistlab.tolerances import FLOAT32_ATOL, FLOAT32_RTOL
from mnistlab.checks.references import NUMPY as _np, REFERENCE as _ref
from mnistlab.checks.messages import STABLE_HINT
from mnistlab.checks.runner import Check, random_shape, random_signed, seeded_rng, with_extremes


#: The graded functions of this assignment, in notebook order: one autograder cell each.
GRADED = ('relu', 'sigmoid', 'softmax', 'log_softmax', 'cross_entropy')
#: The teaching-library modules that define the reference of each graded function (the chapter map).
REFERENCE_MODULES = ("mnistlab.functional",)


def check_relu(relu: Callable, hidden: bool = False) -> None:
    """Check ``relu(x)`` (assignment a2_relu_softmax) against :func:`mnistlab.functional.relu`."""
    c = Check("relu", relu, hidden, ("x",))

    def bugs(x):
        return [
            ("your result equals np.abs(x): ReLU sets negative values to 0, it does not flip their sign",
             lambda: _np.abs(x)),
            ("your result is 1 where x > 0 (the derivative of ReLU): return the values, max(x, 0)",
             lambda: (x > 0).astype(x.dtype)),
            ("your result never exceeds 1 (np.clip(x, 0, 1)?): ReLU has no upper limit",
             lambda: x.clip(0, 1)),
        ]

    if not hidden:
        with c.test("hand-worked example"):
            x = _np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
            c.expect_array(c.call(x), _ref.relu(x), bugs=bugs(x))
        with c.test("random (3, 5) input"):
            x = seeded_rng(41).standard_normal((3, 5)) * 3
            c.expect_array(c.call(x), _ref.relu(x), bugs=bugs(x))
    elif c.fixed_hidden_cases:
        gen = seeded_rng(42)
        with c.test("the input is not modified"):
            x = gen.standard_normal((4, 6))
            c.expect_array(c.call(x, unmodified=("x",)), _ref.relu(x), bugs=bugs(x))
        with c.test("float32 stays float32"):
            x = gen.standard_normal((2, 3, 4)).astype(_np.float32)
            c.expect_array(c.call(x), _ref.relu(x), dtype=True, bugs=bugs(x))
        with c.test("extreme values"):
            x = _np.array([-1e300, -1e-300, 0.0, 1e-300, 1e300])
            c.expect_array(c.call(x), _ref.relu(x), bugs=bugs(x))
        with c.test("a large random batch"):
            x = gen.standard_normal((64, 100))
            c.expect_array(c.call(x), _ref.relu(x), bugs=bugs(x))
    if hidden:
        for title, rng in c.random_cases("float64 and float32, input not modified"):
            with c.test(title, random=True):
                x = random_signed(rng, random_shape(rng, min_size=2))
                c.expect_array(c.call(x, unmodified=("x",)), _ref.relu(x), bugs=bugs(x))
                x32 = x.astype(_np.float32)
                c.expect_array(c.call(x32, unmodified=("x",)), _ref.relu(x32), dtype=True, bugs=bugs(x32))
    c.done()


def check_sigmoid(sigmoid: Callable, hidden: bool = False) -> None:
    """Check ``sigmoid(x)`` (assignment a2_relu_softmax) against :func:`mnistlab.functional.sigmoid`."""
    c = Check("sigmoid", sigmoid, hidden, ("x",))
    stable_hint = (
        "for large |x| one of exp(x), exp(-x) overflows. Compute z = np.exp(-np.abs(x)), which is in (0, 1], "
        "then 1 / (1 + z) where x >= 0 and z / (1 + z) where x < 0. Careful: np.where evaluates both "
        "branches for every entry, so the branches themselves must not overflow"
    )

    def bugs(x):
        return [
            ("the sign is flipped: sigmoid(x) = 1 / (1 + exp(-x)), so sigmoid(2) is about 0.88",
             lambda: 1 / (1 + _np.exp(x))),
            ("this is tanh, not the logistic sigmoid", lambda: np.tanh(x)),
        ]

    if not hidden:
        with c.test("hand-worked values"):
            x = _np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
            c.expect_array(c.call(x), _ref.sigmoid(x), bugs=bugs(x))
        with c.test("random (4, 3) input"):
            x = seeded_rng(51).standard_normal((4, 3)) * 4
            c.expect_array(c.call(x), _ref.sigmoid(x), bugs=bugs(x))
    elif c.fixed_hidden_cases:
        gen = seeded_rng(52)
        with c.test("large |x| without overflow warnings"):
            x = _np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
            c.expect_array(c.call(x), _ref.sigmoid(x), bugs=bugs(x), hint=stable_hint)
            c.expect_no_warnings(stable_hint)
        with c.test("float32 input, large |x|, stays float32"):
            x = _np.array([[-100.0, -20.0, 0.0], [20.0, 100.0, 3.0]], dtype=_np.float32)
            c.expect_array(c.call(x), _ref.sigmoid(x), dtype=True, bugs=bugs(x), hint=stable_hint)
            c.expect_no_warnings(stable_hint)
        with c.test("the input is not modified"):
            x = gen.standard_normal((3, 4)) * 10
            c.expect_array(c.call(x, unmodified=("x",)), _ref.sigmoid(x), bugs=bugs(x))
        with c.test("random 3-D input"):
            x = gen.standard_normal((2, 3, 5)) * 5
            c.expect_array(c.call(x), _ref.sigmoid(x), bugs=bugs(x))
    if hidden:
        for title, rng in c.random_cases("large |x| of both signs, float64 and float32, no overflow warnings"):
            with c.test(title, random=True):
                x = with_extremes(rng, random_signed(rng, random_shape(rng, min_size=4)), 750.0, 1e4)
                for value in (x, x.astype(_np.float32)):
                    c.expect_array(c.call(value, unmodified=("x",)), _ref.sigmoid(value), dtype=True,
                                   bugs=bugs(value), hint=stable_hint)
                    c.expect_no_warnings(stable_hint)
    c.done()


def _softmax_bugs(z, axis, log: bool):
    """Typical wrong softmax/log-softmax results for scores ``z``."""
    ref = _ref.log_softmax if log else _ref.softmax
    other = 0 if axis in (-1, z.ndim - 1) else -1
    with _np.errstate(all="ignore"):
        flat = z.reshape(-1)
        over_all = (flat - _np.log(_np.sum(_np.exp(flat)))).reshape(z.shape) if log else \
            (_np.exp(flat) / _np.sum(_np.exp(flat))).reshape(z.shape)
    bugs = [
        (f"you normalized along the wrong axis: the classes are along axis={axis}; sum over that axis "
         "(with keepdims=True)", lambda: ref(z, axis=other)),
        ("you normalized over all entries at once: sum over the class axis only (axis=axis, keepdims=True), "
         "so that each row is normalized on its own", lambda: over_all),
    ]
    if log:
        # z - m + lse, where the right answer is z - m - lse (m the max, lse the log-sum-exp).
        shifted = z - _np.max(z, axis=axis, keepdims=True)
        bugs.append(("the sign of the log-sum-exp term is wrong: log_softmax(z) = z - max - "
                     "log(sum(exp(z - max)))", lambda: 2 * shifted - ref(z, axis=axis)))
    return bugs


def _normalization_hint(z, axis: int, log: bool) -> Callable[[], str | None]:
    """A hint from where the student's (log-)probabilities sum to 1, if anywhere."""

    def hint_for(got) -> str | None:
        if not isinstance(got, np.ndarray) or got.shape != z.shape:
            return None
        with _np.errstate(all="ignore"):
            p = _np.exp(got) if log else got
            sums = [bool(_np.allclose(_np.sum(p, axis=a), 1)) for a in range(z.ndim)]
        ax = axis % z.ndim
        what = "exp(log_softmax)" if log else "the probabilities"
        if not sums[ax] and any(sums):
            return (f"{what} sum to 1 along axis {sums.index(True)}, but the classes are along axis={axis}: "
                    "reduce (max and sum) over axis=axis with keepdims=True")
        if not sums[ax]:
            return (f"{what} do not sum to 1 along the class axis (axis={axis}): normalize each row by its own "
                    "sum, np.sum(..., axis=axis, keepdims=True)")
        return None

    return hint_for


def _no_keepdims(z, log: bool):
    """(log-)softmax of a square ``z`` written without keepdims=True (the reductions broadcast along columns)."""
    shifted = z - _np.max(z, axis=1)
    if log:
        return shifted - _np.log(_np.sum(_np.exp(shifted), axis=1))
    e = _np.exp(shifted)
    return e / _np.sum(e, axis=1)


def _spread_scores(rng: np.random.Generator) -> np.ndarray:
    """Random scores, shape (N, C), N in 2..8, C in 3..10: rows thousands apart, and one entry thousands below its row.

    The first row's scores exceed 1000 (exp overflows without the max-shift), the second row is
    1000-5000 below it (it underflows to all zeros when the maximum of the whole array is
    subtracted), and one entry is 1000-5000 below the rest of its row (its probability underflows
    to 0, so np.log(softmax) gives -inf).
    """
    n, classes = int(rng.integers(2, 9)), int(rng.integers(3, 11))
    offsets = rng.uniform(-1e4, 1e4, size=n)
    offsets[0] = rng.uniform(1000.0, 1e4)
    offsets[1] = offsets[0] - rng.uniform(1000.0, 5000.0)
    z = rng.standard_normal((n, classes)) * rng.uniform(0.5, 5.0) + offsets[:, None]
    z[rng.integers(0, n), rng.integers(0, classes)] -= rng.uniform(1000.0, 5000.0)
    return z


def _check_softmax_like(c: Check, ref, hidden: bool, log: bool) -> None:
    fname = "log_softmax" if log else "softmax"

    def expect(got, z, axis=-1, **kw):
        if kw.get("hint") is None:
            kw["hint"] = _normalization_hint(z, axis, log)(got)
        return c.expect_array(got, ref(z, axis=axis), **kw)

    unstable_hint = (
        STABLE_HINT + ("; and never take np.log(softmax(z)): a probability that underflows to 0 gives "
                        "-inf, while z - max - log(sum(exp(z - max))) stays finite" if log else "")
    )
    if not hidden:
        with c.test("hand-worked rows"):
            z = _np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
            expect(c.call(z), z, bugs=_softmax_bugs(z, -1, log))
        with c.test("random scores (5, 10)"):
            z = seeded_rng(61 if log else 60).standard_normal((5, 10)) * 3
            expect(c.call(z), z, bugs=_softmax_bugs(z, -1, log))
    elif c.fixed_hidden_cases:
        gen = seeded_rng(63 if log else 62)
        with c.test("large scores (|z| up to 1e4) without overflow"):
            z = _np.array([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4], [0.0, -1000.0, 1000.0]])
            expect(c.call(z), z, hint=unstable_hint)
            c.expect_no_warnings(unstable_hint)
        with c.test("rows on very different scales"):
            z = _np.array([[1e4, 0.0, 1.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]])
            expect(
                c.call(z), z,
                hint="subtract each row's own maximum (np.max(z, axis=axis, keepdims=True)), not the maximum "
                     "of the whole array: a row far below the global maximum underflows to all zeros",
            )
        with c.test("axis=0"):
            z = gen.standard_normal((3, 5)) * 2
            expect(c.call(z, axis=0), z, axis=0, bugs=_softmax_bugs(z, 0, log),
                   hint=f"use the axis argument: {fname}(z, axis=0) normalizes each column")
        with c.test("3-D scores, classes along the last axis"):
            z = gen.standard_normal((2, 3, 4)) * 2
            expect(c.call(z), z, bugs=_softmax_bugs(z, -1, log),
                   hint="reduce over axis=axis (default -1) with keepdims=True, so any shape works")
        with c.test("square scores (4, 4)"):
            z = gen.standard_normal((4, 4)) * 2
            expect(c.call(z), z, bugs=[
                ("without keepdims=True, np.max(z, axis=1) has shape (4,) and broadcasts along the last axis: "
                 "z - m subtracts row j's maximum from column j of every row; keep the axis (keepdims=True)",
                 lambda: _no_keepdims(z, log)),
            ] + _softmax_bugs(z, -1, log))
        with c.test("float32 stays float32"):
            z = (gen.standard_normal((3, 10)) * 5).astype(_np.float32)
            expect(c.call(z), z, dtype=True)
        with c.test("the input is not modified"):
            z = gen.standard_normal((6, 10)) * 5
            expect(c.call(z, unmodified=("z",)), z)
    if hidden:
        for title, rng in c.random_cases("rows far apart and spread out, 3-D scores, axis=0"):
            with c.test(title, random=True):
                z = _spread_scores(rng)
                expect(c.call(z, unmodified=("z",)), z, bugs=_softmax_bugs(z, -1, log), hint=unstable_hint)
                c.expect_no_warnings(unstable_hint)
                z3 = rng.standard_normal((int(rng.integers(2, 4)), *random_shape(rng, ndim=2, low=2))) * 3
                expect(c.call(z3), z3, bugs=_softmax_bugs(z3, -1, log),
                       hint="reduce over axis=axis (default -1) with keepdims=True, so any shape works")
                zt = _spread_scores(rng).T
                expect(c.call(zt, axis=0), zt, axis=0, bugs=_softmax_bugs(zt, 0, log), hint=unstable_hint)


def check_softmax(softmax: Callable, hidden: bool = False) -> None:
    """Check ``softmax(z, axis=-1)`` (assignment a2_relu_softmax) against :func:`mnistlab.functional.softmax`."""
    c = Check("softmax", softmax, hidden, ("z",))
    _check_softmax_like(c, _ref.softmax, hidden, log=False)
    c.done()


def check_log_softmax(log_softmax: Callable, hidden: bool = False) -> None:
    """Check ``log_softmax(z, axis=-1)`` (assignment a2_relu_softmax) against the reference."""
    c = Check("log_softmax", log_softmax, hidden, ("z",))
    _check_softmax_like(c, _ref.log_softmax, hidden, log=True)
    c.done()


def _cross_entropy_bugs(logits, labels):
    n = len(logits)
    ids = labels.argmax(axis=1) if labels.ndim == 2 else labels
    loss = _ref.cross_entropy(logits, labels)
    logp = _ref.log_softmax(logits, axis=1)
    return [
        ("this is the sum over the batch: the loss is the mean, so divide by N (np.mean)", lambda: loss * n),
        ("the sign is wrong: the loss is MINUS the mean log-probability of the right class, and it is >= 0",
         lambda: -loss),
        ("logp[:, labels] picks N columns for every row: index one entry per row with "
         "logp[np.arange(N), labels]", lambda: -_np.mean(logp[:, ids])),
        ("you used the probabilities, not their logarithm: the loss is -mean(log p[n, y_n])",
         lambda: -_np.mean(_np.exp(logp)[_np.arange(n), ids])),
    ]


def check_cross_entropy(cross_entropy: Callable, hidden: bool = False) -> None:
    """Check ``cross_entropy(logits, labels)`` (assignment a2_relu_softmax) against the reference."""
    c = Check("cross_entropy", cross_entropy, hidden, ("logits", "labels"), error_hints=[
        ("used as indices", "labels of shape (N, C) are one-hot rows: the loss is then -np.sum(labels * logp) / N"),
    ])
    if not hidden:
        with c.test("uniform scores give ln(C)"):
            logits = _np.zeros((4, 10))
            labels = _np.array([0, 3, 9, 2])
            got = c.call(logits, labels)
            c.expect_number(got, math.log(10), what="the loss", bugs=_cross_entropy_bugs(logits, labels))
        with c.test("random scores, integer labels"):
            gen = seeded_rng(71)
            logits = gen.standard_normal((5, 4)) * 2
            labels = _np.array([1, 0, 3, 3, 2])
            got = c.call(logits, labels)
            c.expect_number(got, _ref.cross_entropy(logits, labels), what="the loss",
                            bugs=_cross_entropy_bugs(logits, labels))
        with c.test("one-hot labels give the same loss"):
            onehot = _ref.one_hot(labels, 4)
            got = c.call(logits, onehot)
            c.expect_number(got, _ref.cross_entropy(logits, labels), what="the loss",
                            bugs=_cross_entropy_bugs(logits, onehot),
                            hint="labels of shape (N, C) are one-hot rows: the loss is -sum(labels * logp) / N")
    elif c.fixed_hidden_cases:
        gen = seeded_rng(72)
        stable = ("compute the loss from log_softmax(logits) (the log-sum-exp trick), not "
                  "-np.log(softmax(logits)): a probability that underflows to 0 gives log(0) = -inf")
        with c.test("confident wrong predictions give a large finite loss"):
            logits = _np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0], [-1e4, 1e4, 0.0]])
            labels = _np.array([2, 1, 0])
            got = c.call(logits, labels)
            c.expect_number(got, _ref.cross_entropy(logits, labels), what="the loss", hint=stable)
            c.expect_no_warnings(stable)
        with c.test("a batch of one"):
            logits = gen.standard_normal((1, 10))
            labels = _np.array([7])
            c.expect_number(c.call(logits, labels), _ref.cross_entropy(logits, labels), what="the loss",
                            bugs=_cross_entropy_bugs(logits, labels))
        with c.test("a large random batch, int32 labels"):
            logits = gen.standard_normal((64, 10)) * 4
            labels = gen.integers(0, 10, size=64).astype(_np.int32)
            c.expect_number(c.call(logits, labels), _ref.cross_entropy(logits, labels), what="the loss",
                            bugs=_cross_entropy_bugs(logits, labels))
        with c.test("float32 scores"):
            logits = (gen.standard_normal((8, 10)) * 4).astype(_np.float32)
            labels = gen.integers(0, 10, size=8)
            c.expect_number(c.call(logits, labels), _ref.cross_entropy(logits, labels), what="the loss",
                            rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
        with c.test("the inputs are not modified"):
            logits = gen.standard_normal((6, 5)) * 3
            labels = gen.integers(0, 5, size=6)
            got = c.call(logits, labels, unmodified=("logits", "labels"))
            c.expect_number(got, _ref.cross_entropy(logits, labels), what="the loss")
            onehot = _ref.one_hot(labels, 5)
            got = c.call(logits, onehot, unmodified=("logits", "labels"))
            c.expect_number(got, _ref.cross_entropy(logits, labels), what="the loss")
    if hidden:
        stable = ("compute the loss from log_softmax(logits) (the log-sum-exp trick), not "
                  "-np.log(softmax(logits)): a probability that underflows to 0 gives log(0) = -inf")
        for title, rng in c.random_cases("a confident wrong prediction, class ids and one-hot labels"):
            with c.test(title, random=True):
                n, classes = int(rng.integers(2, 13)), int(rng.integers(2, 11))
                logits = rng.standard_normal((n, classes)) * rng.uniform(0.5, 5.0)
                labels = rng.integers(0, classes, size=n).astype(rng.choice([_np.int32, _np.int64]))
                labels[1] = (labels[0] + rng.integers(1, classes)) % classes  # not all one class
                row = int(rng.integers(0, n))
                wrong = (int(labels[row]) + int(rng.integers(1, classes))) % classes
                logits[row, wrong] += rng.uniform(800.0, 5000.0)
                expected = _ref.cross_entropy(logits, labels)
                got = c.call(logits, labels, unmodified=("logits", "labels"))
                c.expect_number(got, expected, what="the loss", bugs=_cross_entropy_bugs(logits, labels), hint=stable)
                c.expect_no_warnings(stable)
                onehot = _ref.one_hot(labels, classes)
                got = c.call(logits, onehot, unmodified=("logits", "labels"))
                c.expect_number(got, expected, what="the loss", bugs=_cross_entropy_bugs(logits, onehot),
                                hint="labels of shape (N, C) are one-hot rows: the loss is -sum(labels * logp) / N")
    c.done()
