"""The check runner: :class:`Check` runs the named tests of one graded function, calls the student's code
with copies of its inputs, compares results with expectations and turns a problem into a
:class:`~mnistlab.checks.messages.GradingFailure`; :func:`match_bug` names the common mistake a wrong
result matches.
"""

from __future__ import annotations

import contextlib
import copy
import math
import traceback
import warnings

import numpy as np

from mnistlab.tolerances import FLOAT32_ATOL, FLOAT32_RTOL, REF_ATOL, REF_RTOL
from mnistlab.checks import hidden_draws
from mnistlab.checks.references import NUMPY as _np
from mnistlab.checks.messages import GradingFailure, Problem, labeled, fmt_number, describe, tolerances, arrays_close, where_different, quiet_numpy, student_frames, shorten, ERROR_HINTS


# ---------------------------------------------------------------------------
# One check: a sequence of named tests of one function
# ---------------------------------------------------------------------------


class Check:
    """Runs the tests of one graded function and turns problems into GradingFailure."""

    def __init__(self, name: str, fn, hidden: bool, params: tuple[str, ...], *, kind="function", error_hints=()):
        self.name = name
        self.error_hints = tuple(error_hints)
        self.fn = fn
        self.params = params
        self.kind = "hidden" if hidden else "visible"
        self.passed = 0
        self.warnings: list[str] = []
        self._call_text = name
        self._input_lines: list[str] = []
        self._test_title = ""
        self._test_random = False
        if kind == "function" and not callable(fn):
            raise GradingFailure(
                f"{name}: expected a function, got {describe(fn)} ({type(fn).__name__}).\n"
                + labeled("hint", f"run the cell that defines {name} (and keep its name)")
            )

    # -- running tests ---------------------------------------------------

    @contextlib.contextmanager
    def test(self, title: str, *, random: bool = False):
        """One named test; ``random`` marks a hidden case drawn from :func:`random_cases`."""
        self._test_title, self._test_random = title, random
        try:
            yield
        except Problem as problem:
            lines = [f'{self.name}: {self.kind} test "{title}" failed.', *problem.lines]
            raise GradingFailure("\n".join(lines)) from None
        self.passed += 1

    @property
    def fixed_hidden_cases(self) -> bool:
        """Whether the hidden check runs its fixed cases (always, except in the tests of the random cases)."""
        return hidden_draws.fixed_cases_enabled()

    def random_cases(self, title: str, count: int = hidden_draws.RANDOM_CASES):
        """``(test title, Generator)`` for each random hidden case (the seed: :mod:`~mnistlab.checks.hidden_draws`).

        Each case runs as ``with c.test(title, random=True):`` with the inputs it draws from its Generator.
        """
        rngs = hidden_draws.case_rngs(self.name, count)
        return [(f"random draw {i} of {count}: {title}", rng) for i, rng in enumerate(rngs, 1)
                if hidden_draws.case_enabled(i)]

    def done(self) -> None:
        print(f"{self.name}: {self.passed} {self.kind} tests passed")

    # -- calling the student's code -----------------------------------------

    def _describe_call(self, fn_name, args, kwargs, labels) -> None:
        names = list(self.params) + [f"arg{i}" for i in range(len(self.params), len(args))]
        shown = names[: len(args)] + [f"{k}={describe(v) if is_small(v) else k}" for k, v in kwargs.items()]
        self._call_text = f"{fn_name}({', '.join(shown)})"
        lines = []
        for name, value in zip(names, args):
            lines.append(labeled(name, labels.get(name) or describe(value)))
        for k, v in kwargs.items():
            if not is_small(v):
                lines.append(labeled(k, labels.get(k) or describe(v)))
        self._input_lines = lines

    def call(self, *args, fn=None, fn_name=None, consume=None, labels=None, unmodified=(), error_hints=(),
             copy_args=True, **kwargs):
        """Call the function under test; an exception it raises becomes a problem report.

        ``consume`` post-processes the result inside the same guard (e.g. to run a
        generator). ``unmodified`` names arguments that must be unchanged after the
        call; otherwise (and unless ``copy_args`` is false) the function gets copies,
        so that a function that writes into its inputs cannot change what the test
        compares with (that is what the hidden tests with ``unmodified`` are for).
        """
        fn = self.fn if fn is None else fn
        self._describe_call(fn_name or self.name, args, kwargs, labels or {})
        self._record(args, kwargs)
        if copy_args and not unmodified:
            args, kwargs = copy_data(args), copy_data(kwargs)
        names = list(self.params) + [f"arg{i}" for i in range(len(self.params), len(args))]
        values = dict(zip(names, args), **kwargs)
        before = {name: copy.deepcopy(values[name]) for name in unmodified}
        caught: list[str] = []
        try:
            with quiet_numpy(caught):
                out = fn(*args, **kwargs)
                if consume is not None:
                    out = consume(out)
        except Problem:
            raise
        except Exception as exc:
            raise Problem(*self._raised(exc, error_hints)) from None
        self.warnings = caught
        for name, old in before.items():
            if not same_value(old, values[name]):
                raise Problem(
                    f"{self._call_text} changed its argument {name} in place.",
                    labeled("before", describe(old)),
                    labeled("after", describe(values[name])),
                    labeled("hint", f"never write into an input: the caller still needs {name}. Compute a "
                           "new array (e.g. a = b - c instead of b -= c, np.maximum(x, 0) instead of "
                           "x[x < 0] = 0), or work on a copy"),
                )
        return out

    def _record(self, args, kwargs) -> None:
        """Report a hidden call's inputs to the grader's draw log, when it keeps one."""
        callback = hidden_draws.recorder()
        if callback is not None and self.kind == "hidden":
            callback(self.name, self._test_title, self._test_random, hidden_draws.inputs_digest(args, kwargs))

    def _raised(self, exc: Exception, error_hints) -> list[str]:
        text = shorten(exc)
        lines = [f"{self._call_text} raised {type(exc).__name__}" + (f": {text}" if text else "."), *self._input_lines]
        frames = student_frames(exc)
        if frames:
            lines.append(labeled("where", "\n".join(frames)))
        if isinstance(exc, NotImplementedError):
            tb = traceback.extract_tb(exc.__traceback__)
            where = tb[-1].name if tb else self.name
            lines.append(labeled("hint", f"{where} is not implemented yet: replace `raise NotImplementedError()` "
                                f"in its cell with your code, then run that cell again"))
            return lines
        message = f"{type(exc).__name__}: {exc}"
        for substring, hint in tuple(error_hints) + self.error_hints + ERROR_HINTS:
            if substring in message:
                lines.append(labeled("hint", hint))
                break
        return lines

    def problem(self, what: str, *lines: str, hint: str | None = None):
        """A problem report about the last call: what is wrong, the inputs, details, a hint."""
        out = [f"{self._call_text}: {what}", *self._input_lines, *[line for line in lines if line]]
        if hint:
            out.append(labeled("hint", hint))
        return Problem(*out)

    # -- expectations -------------------------------------------------------

    def expect_array(
        self,
        got,
        expected: np.ndarray,
        *,
        what: str = "the result",
        dtype: bool = False,
        rtol: float | None = None,
        atol: float | None = None,
        bugs=(),
        hint: str | None = None,
    ) -> np.ndarray:
        """``got`` must be an ndarray of ``expected``'s shape (and dtype) with close values.

        ``bugs`` is a sequence of ``(hint, make)`` pairs: ``make()`` returns what a
        typical wrong version returns; if ``got`` matches it, its hint is given.
        """
        expected = _np.asarray(expected)
        if got is None:
            raise self.problem(f"{what} is None.", hint="did you forget the return statement?")
        if not isinstance(got, _np.ndarray):
            raise self.problem(
                f"{what} should be a NumPy array, got {type(got).__name__}: {describe(got)}.",
                hint="build the result with NumPy operations (np.array(...) turns a list into an array)",
            )
        bug_hint = match_bug(got, bugs)
        if got.shape != expected.shape:
            if bug_hint is None and got.shape == expected.shape[::-1] and got.ndim == 2:
                bug_hint = "the shape is transposed: check the order of the axes (and of the matrix product)"
            raise self.problem(
                f"{what} has the wrong shape.",
                labeled("expected", f"shape {expected.shape}"),
                labeled("got", f"shape {got.shape}"),
                hint=bug_hint or hint,
            )
        if got.dtype.kind not in "biuf":
            raise self.problem(f"{what} has dtype {got.dtype}, expected numbers ({expected.dtype}).", hint=hint)
        if dtype and got.dtype != expected.dtype:
            raise self.problem(
                f"{what} has dtype {got.dtype}, expected {expected.dtype}.",
                labeled("got", describe(got)),
                hint=bug_hint or f"keep the input's precision ({expected.dtype} in, {expected.dtype} out): no "
                     "dtype=float / .astype(np.float64), and create helper arrays with np.zeros_like(...)",
            )
        if rtol is None:
            rtol, atol = tolerances(got, expected)
        if not arrays_close(got, expected, rtol, atol):
            raise self.problem(
                f"{what} has wrong values.",
                labeled("expected", describe(expected)),
                labeled("got", describe(got)),
                labeled("where", where_different(got, expected, rtol, atol)),
                hint=bug_hint or hint,
            )
        return got

    def expect_number(self, got, expected: float, *, what="the result", rtol=None, atol=None, bugs=(),
                      hint=None) -> float:
        """``got`` must be one finite-if-expected number close to ``expected``."""
        if got is None:
            raise self.problem(f"{what} is None.", hint="did you forget the return statement?")
        if isinstance(got, _np.ndarray):
            if got.size != 1:
                raise self.problem(
                    f"{what} should be one number, got an array of shape {got.shape}.",
                    labeled("got", describe(got)),
                    hint=hint or "reduce to one number (np.mean, np.max, ...)",
                )
            got = got.reshape(-1)[0]
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.integer, np.floating)):
            raise self.problem(f"{what} should be a number, got {type(got).__name__}: {describe(got)}.", hint=hint)
        value = float(got)
        if rtol is None:
            rtol, atol = (FLOAT32_RTOL, FLOAT32_ATOL) if isinstance(got, np.float32) else (REF_RTOL, REF_ATOL)
        if math.isnan(value) or not math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
            raise self.problem(
                f"{what} is wrong.",
                labeled("expected", fmt_number(expected)),
                labeled("got", fmt_number(value)),
                hint=match_bug(value, bugs) or hint,
            )
        return value

    def expect_no_warnings(self, hint: str) -> None:
        if self.warnings:
            raise self.problem(
                "NumPy warned while computing the result.",
                labeled("expected", "no warnings (the result must be computed without overflow)"),
                labeled("warning", "\n".join(sorted(set(self.warnings))[:3])),
                hint=hint,
            )

    def expect_tuple(self, got, n: int, names: str):
        if not isinstance(got, (tuple, list)) or len(got) != n:
            raise self.problem(
                f"should return a tuple {names}, got {describe(got)}.",
                hint=f"end with `return {names.strip('()')}`",
            )
        return got

    def expect_raises(self, exc_types, *args, reason: str, hint: str | None = None, consume=None, labels=None,
                      **kwargs):
        """The call must raise one of ``exc_types`` (anything else is a problem)."""
        if not isinstance(exc_types, tuple):
            exc_types = (exc_types,)
        expected = " or ".join(t.__name__ for t in exc_types)
        self._describe_call(self.name, args, kwargs, labels or {})
        self._record(args, kwargs)
        caught: list[str] = []
        try:
            with quiet_numpy(caught):
                out = self.fn(*args, **kwargs)
                if consume is not None:
                    out = consume(out)
        except exc_types:
            return
        except Exception as exc:
            raise self.problem(
                f"raised {type(exc).__name__}: {shorten(exc)}",
                labeled("expected", f"{expected}: {reason}"),
                hint=hint,
            ) from None
        raise self.problem(
            f"returned {describe(out)} instead of raising {expected}.",
            labeled("expected", f"{expected}: {reason}"),
            hint=hint,
        )


def copy_data(value):
    """Copies of the arrays in ``value`` (also inside tuples, lists and dicts); other objects as they are.

    A Generator passed as ``rng`` must stay the same object: its state is what the test is about.
    """
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(copy_data(v) for v in value)
    if isinstance(value, dict):
        return {k: copy_data(v) for k, v in value.items()}
    return value


def is_small(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.integer, np.floating))


def same_value(a, b) -> bool:
    """Deep equality for what the checks pass as arguments (arrays exactly, nan equal to nan)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(_np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:
        return False


def match_bug(got, bugs) -> str | None:
    for hint, make in bugs:
        try:
            with warnings.catch_warnings(), _np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                wrong = make()
        except Exception:
            continue
        if isinstance(got, float) and not isinstance(wrong, np.ndarray):
            try:
                wrong = float(wrong)
                if math.isclose(got, wrong, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(got) and math.isnan(wrong)):
                    return hint
            except (TypeError, ValueError):
                continue
        elif arrays_close(got, wrong, 1e-6, 1e-9):
            return hint
    return None


def seeded_rng(seed: int) -> np.random.Generator:
    return _np.default_rng(seed)


# ---------------------------------------------------------------------------
# Inputs of the random hidden cases
# ---------------------------------------------------------------------------


def random_shape(rng: np.random.Generator, *, ndim: int | None = None, low: int = 1, high: int = 7,
                 min_size: int = 1) -> tuple[int, ...]:
    """A shape of ``ndim`` (1 to 3 if None) axes of ``low``..``high`` entries each, with at least ``min_size`` entries."""
    ndim = int(rng.integers(1, 4)) if ndim is None else ndim
    while True:
        shape = tuple(int(n) for n in rng.integers(low, high + 1, size=ndim))
        if math.prod(shape) >= min_size:
            return shape


def random_signed(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Float64 values of one random scale (1e-3 to 1e3), with at least one negative and one positive entry if size > 1."""
    x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3)
    if x.size > 1:
        flat = x.reshape(-1)
        first, second = rng.choice(x.size, size=2, replace=False)
        flat[first], flat[second] = -abs(flat[first]), abs(flat[second])
    return x


def with_extremes(rng: np.random.Generator, x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``x`` with one to a quarter of its entries set to magnitudes in [low, high), at least one of each sign."""
    out = x.copy().reshape(-1)
    count = int(rng.integers(2, max(3, out.size // 4 + 1)))
    where = rng.choice(out.size, size=min(count, out.size), replace=False)
    signs = rng.choice([-1.0, 1.0], size=where.size)
    signs[:2] = (-1.0, 1.0)
    out[where] = signs * rng.uniform(low, high, size=where.size)
    return out.reshape(x.shape)
