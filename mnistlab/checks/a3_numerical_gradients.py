"""Checks of assignment ``a3_numerical_gradients`` (chapter 3, numerical gradients)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from mnistlab.tolerances import GRAD_REL_TOL, GRADING_RESTORE_ATOL
from mnistlab.checks.references import NUMPY as _np, REFERENCE as _ref
from mnistlab.checks.messages import labeled, describe, arrays_close, where_different
from mnistlab.checks.runner import Check, random_shape, random_signed, seeded_rng


#: The graded functions of this assignment, in notebook order: one autograder cell each.
GRADED = ('numerical_gradient', 'rel_error')
#: The teaching-library modules that define the reference of each graded function (the chapter map).
REFERENCE_MODULES = ("mnistlab.gradcheck",)


def _expect_gradient(c: Check, got, x, analytic, *, closure: bool = False):
    """A numerical gradient must have x's shape and agree with the analytic one (relative error)."""
    if got is None:
        raise c.problem("the result is None.", hint="did you forget to return the gradient array?")
    if not isinstance(got, _np.ndarray) or got.shape != x.shape:
        raise c.problem(
            f"the gradient should be an array of x's shape {x.shape}, got {describe(got)}.",
            hint="the gradient has one entry per entry of x: start from grad = np.zeros(x.shape)",
        )
    err = _ref.rel_error(got, analytic)
    if err <= GRAD_REL_TOL:
        return
    hint = None
    with _np.errstate(all="ignore"):
        if closure and _np.allclose(got, 0):
            hint = ("f ignores its argument and reads x itself (as a model's loss reads the weights), so "
                    "changing a copy of x changes nothing: perturb x itself, x[i] = old + h, call f(x), "
                    "then restore x[i] = old")
        elif _np.allclose(got, 2 * analytic, rtol=1e-4, atol=1e-6):
            hint = "your gradient is twice too large: the central difference divides by 2h"
        elif _np.allclose(got, analytic / 2, rtol=1e-4, atol=1e-6):
            hint = "your gradient is half the right one: divide (f(x + h) - f(x - h)) by 2h, not 4h"
        elif err < 1e-2:
            hint = (f"the relative error {err:.1e} is what forward differences give ((f(x + h) - f(x)) / h has "
                    f"an O(h) error): use central differences (f(x + h) - f(x - h)) / (2h), whose error is O(h^2)")
        elif x.ndim > 1:
            hint = ("every entry of a multi-dimensional x needs its own difference: iterate over all indices, "
                    "e.g. for ix in np.ndindex(x.shape) (x[i] for an integer i is a whole row)")
    raise c.problem(
        f"the gradient is wrong: relative error {err:.2e} (rel_error must be <= {GRAD_REL_TOL:g}).",
        labeled("expected", describe(analytic)),
        labeled("got", describe(got)),
        labeled("where", where_different(got, analytic, 1e-6, 1e-9)),
        hint=hint,
    )


def _expect_restored(c: Check, x: np.ndarray, x0: np.ndarray) -> None:
    if x.shape != x0.shape or not _np.allclose(x, x0, rtol=0, atol=GRADING_RESTORE_ATOL):
        raise c.problem(
            "x was not restored: after the call it differs from before.",
            labeled("before", describe(x0)),
            labeled("after", describe(x)),
            labeled("where", where_different(x, x0, 0, GRADING_RESTORE_ATOL)),
            hint="after evaluating f(x + h) and f(x - h), put the original value back (x[ix] = old): "
                 "f usually reads x (a model's weights), so a changed x corrupts everything after",
        )


def check_numerical_gradient(numerical_gradient: Callable, hidden: bool = False) -> None:
    """Check ``numerical_gradient(f, x, h=1e-5)`` (assignment a3_numerical_gradients)."""
    c = Check("numerical_gradient", numerical_gradient, hidden, ("f", "x"))
    if not hidden:
        with c.test("f(x) = sum(x**3) at a 1-D x"):
            x = _np.array([-1.5, -0.5, 0.7, 1.2, 2.0])
            x0 = x.copy()
            got = c.call(lambda v: float(_np.sum(v**3)), x, copy_args=False,
                         labels={"f": "lambda x: np.sum(x ** 3), whose gradient is 3 x^2", "x": describe(x0)})
            _expect_gradient(c, got, x0, 3 * x0**2)
        with c.test("x is restored afterwards"):
            x = _np.array([0.3, -1.7, 2.9, 0.01])
            x0 = x.copy()
            c.call(lambda v: float(_np.sum(_np.sin(v))), x, copy_args=False,
                   labels={"f": "lambda x: np.sum(np.sin(x))", "x": describe(x0)})
            _expect_restored(c, x, x0)
        with c.test("f reads x from outside, like a model's loss"):
            w = seeded_rng(81).standard_normal((3, 2))
            coef = _np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.25]])
            w0 = w.copy()
            got = c.call(lambda _: float(_np.sum(coef * w**2)), w, copy_args=False,
                         labels={"f": "lambda _: np.sum(coef * w ** 2), which ignores its argument and reads w, "
                                      "the array passed as x; its gradient is 2 coef w", "x": f"w = {describe(w0)}"})
            _expect_gradient(c, got, w0, 2 * coef * w0, closure=True)
            _expect_restored(c, w, w0)
    elif c.fixed_hidden_cases:
        gen = seeded_rng(82)
        with c.test("2-D and 3-D x"):
            for shape in ((3, 4), (2, 3, 2)):
                x = gen.uniform(-2, 2, size=shape)
                a = gen.standard_normal(shape)
                x0 = x.copy()
                got = c.call(lambda v: float(_np.sum(a * _np.sin(v))), x, copy_args=False,
                             labels={"f": "lambda x: np.sum(a * np.sin(x)), whose gradient is a cos(x)",
                                     "x": describe(x0)})
                _expect_gradient(c, got, x0, a * _np.cos(x0))
                _expect_restored(c, x, x0)
        with c.test("the step h is the one given"):
            x = _np.array([-1.0, 0.5, 2.0])
            got = c.call(lambda v: float(_np.sum(v**3)), x, copy_args=False, h=0.1,
                         labels={"f": "lambda x: np.sum(x ** 3)"})
            # Central differences of a cubic are exact up to h^2: 3 x^2 + h^2.
            want = 3 * x**2 + 0.01
            if not isinstance(got, _np.ndarray) or got.shape != x.shape or not arrays_close(got, want, 1e-8, 1e-10):
                raise c.problem(
                    "with h=0.1 the central difference of x^3 is 3 x^2 + h^2 exactly.",
                    labeled("expected", describe(want)),
                    labeled("got", describe(got)),
                    hint="use the h argument (not a fixed 1e-5) in x + h, x - h and 2h",
                )
        with c.test("f returning a NumPy scalar and reading x itself"):
            w = gen.standard_normal(6)
            w0 = w.copy()
            got = c.call(lambda _: _np.sum(_np.exp(w)), w, copy_args=False,
                         labels={"f": "lambda _: np.sum(np.exp(w)), which returns np.float64 and reads w, the "
                                      "array passed as x", "x": f"w = {describe(w0)}"})
            _expect_gradient(c, got, w0, _np.exp(w0), closure=True)
            _expect_restored(c, w, w0)
        with c.test("a larger x, f = 0.5 * ||A x||^2"):
            a = gen.standard_normal((5, 8))
            x = gen.standard_normal(8)
            x0 = x.copy()
            got = c.call(lambda v: 0.5 * float(_np.sum((a @ v) ** 2)), x, copy_args=False,
                         labels={"f": "lambda x: 0.5 * np.sum((A @ x) ** 2) with A of shape (5, 8)",
                                 "x": describe(x0)})
            _expect_gradient(c, got, x0, a.T @ (a @ x0))
            _expect_restored(c, x, x0)
    if hidden:
        for title, rng in c.random_cases("a 2-D or 3-D x that f reads itself, then a given step h"):
            with c.test(title, random=True):
                # |w| <= 1.2 and |a| >= 0.5 keep every entry of the gradient a cos(w) above 0.18: where it is
                # near 0, a correct central difference has a large *relative* error (rounding in f / 2h).
                w = rng.uniform(-1.2, 1.2, size=random_shape(rng, ndim=int(rng.integers(2, 4)), low=2, high=4))
                w.reshape(-1)[0] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.2)  # forward differences show here
                coef = rng.choice([-1.0, 1.0], size=w.shape) * rng.uniform(0.5, 2.0, size=w.shape)
                w0 = w.copy()
                got = c.call(lambda _: float(_np.sum(coef * _np.sin(w))), w, copy_args=False,
                             labels={"f": "lambda _: np.sum(a * np.sin(w)), which ignores its argument and reads w, "
                                          "the array passed as x; its gradient is a cos(w)", "x": f"w = {describe(w0)}"})
                _expect_gradient(c, got, w0, coef * _np.cos(w0), closure=True)
                _expect_restored(c, w, w0)
                x = rng.uniform(-2, 2, size=random_shape(rng, ndim=1, low=2, high=6))
                b, h = rng.uniform(0.5, 2.0, size=x.shape), float(rng.uniform(0.05, 0.3))
                got = c.call(lambda v: float(_np.sum(b * v**3)), x, copy_args=False, h=h,
                             labels={"f": "lambda x: np.sum(b * x ** 3)"})
                want = b * (3 * x**2 + h**2)  # central differences of a cubic: exact up to the h^2 term
                if not isinstance(got, _np.ndarray) or got.shape != x.shape or not arrays_close(got, want, 1e-7, 1e-9):
                    raise c.problem(
                        f"with h={h:.4g} the central difference of b x^3 is b (3 x^2 + h^2) exactly.",
                        labeled("expected", describe(want)),
                        labeled("got", describe(got)),
                        hint="use the h argument (not a fixed 1e-5) in x + h, x - h and 2h",
                    )
    c.done()


def check_rel_error(rel_error: Callable, hidden: bool = False) -> None:
    """Check ``rel_error(a, b)`` (assignment a3_numerical_gradients) against the reference."""
    c = Check("rel_error", rel_error, hidden, ("a", "b"))

    def bugs(a, b):
        a = _np.asarray(a, dtype=float)
        b = _np.asarray(b, dtype=float)
        with _np.errstate(all="ignore"):
            return [
                ("the denominator must be |a| + |b| (absolute values): a + b can be 0 or negative when the "
                 "signs differ", lambda: float(_np.max(_np.abs(a - b) / _np.maximum(1e-8, a + b)))),
                ("take the maximum over the entries, not the mean: one wrong entry is enough to fail a "
                 "gradient check",
                 lambda: float(_np.mean(_np.abs(a - b) / _np.maximum(1e-8, _np.abs(a) + _np.abs(b))))),
                ("this is |a - b| without dividing by |a| + |b|: the error must be relative",
                 lambda: float(_np.max(_np.abs(a - b)))),
                ("this is the ratio of norms; the definition is elementwise: max(|a - b| / max(1e-8, |a| + |b|))",
                 lambda: float(_np.sqrt(_np.sum((a - b) ** 2)) / (_np.sqrt(_np.sum(a**2)) + _np.sqrt(_np.sum(b**2))))),
                ("the floor 1e-8 is missing or in the wrong place: divide by np.maximum(1e-8, |a| + |b|)",
                 lambda: float(_np.max(_np.abs(a - b) / (_np.abs(a) + _np.abs(b))))),
            ]

    if not hidden:
        for title, a, b in (
            ("hand-worked example", _np.array([1.0, 2.0]), _np.array([1.0, 2.2])),
            ("negative values", _np.array([-1.0, 3.0]), _np.array([-1.5, 3.0])),
            ("random 2-D arrays", seeded_rng(91).standard_normal((3, 4)), seeded_rng(92).standard_normal((3, 4))),
        ):
            with c.test(title):
                got = c.call(a, b)
                c.expect_number(got, _ref.rel_error(a, b), what="the relative error", bugs=bugs(a, b),
                                hint="rel_error = max over entries of |a - b| / max(1e-8, |a| + |b|)")
    elif c.fixed_hidden_cases:
        gen = seeded_rng(93)
        for title, a, b in (
            ("both zero", _np.zeros(3), _np.zeros(3)),
            ("tiny values below the floor", _np.array([1e-12, -3e-12]), _np.array([2e-12, -3e-12])),
            ("opposite signs", _np.array([1.0, -2.0, 0.5]), _np.array([-1.0, 2.0, 0.5])),
            ("a large random gradient", gen.standard_normal((20, 10)), gen.standard_normal((20, 10)) * 1e-3),
            ("nearly equal gradients", _np.array([1.0, 2.0, 3.0]), _np.array([1.0, 2.0, 3.0]) * (1 + 1e-9)),
        ):
            with c.test(title):
                got = c.call(a, b)
                c.expect_number(got, _ref.rel_error(a, b), what="the relative error", bugs=bugs(a, b),
                                rtol=1e-6, atol=1e-15)
                c.expect_no_warnings("0 / 0 gives nan: divide by np.maximum(1e-8, |a| + |b|), never by a sum "
                                     "that can be 0")
        with c.test("symmetric, and the inputs are not modified"):
            a = gen.standard_normal(5)
            b = a + gen.standard_normal(5) * 0.1
            one = c.call(a, b, unmodified=("a", "b"))
            two = c.call(b, a, unmodified=("a", "b"))
            c.expect_number(one, _ref.rel_error(a, b), what="rel_error(a, b)")
            c.expect_number(two, _ref.rel_error(a, b), what="rel_error(b, a)")
        with c.test("Python floats"):
            got = c.call(1.0, 1.5)
            c.expect_number(got, 0.2, what="the relative error", hint="np.asarray(a) accepts numbers too")
    if hidden:
        for title, rng in c.random_cases("negative entries, entries both zero, one scale"):
            with c.test(title, random=True):
                a = random_signed(rng, random_shape(rng, low=2, high=6, min_size=6))
                b = a * (1 + rng.standard_normal(a.shape) * 10.0 ** rng.uniform(-6, -1))
                spots = rng.choice(a.size, size=2, replace=False)
                a.reshape(-1)[spots] = b.reshape(-1)[spots] = 0.0  # both zero: 0 / 0 without the floor
                got = c.call(a, b, unmodified=("a", "b"))
                c.expect_number(got, _ref.rel_error(a, b), what="the relative error", bugs=bugs(a, b),
                                rtol=1e-6, atol=1e-15)
                c.expect_no_warnings("0 / 0 gives nan: divide by np.maximum(1e-8, |a| + |b|), never by a sum "
                                     "that can be 0")
    c.done()
