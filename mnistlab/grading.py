"""The autograder's checks: one per graded function of the five assignments.

Chapters 1-5 (assignments ``a1_data`` ... ``a5_sgd_momentum``) and the
instructor guide (``book/07_instructor_guide.md``).

Each ``check_<function>(fn, hidden=False)`` takes a student's function (for
``TwoLayerNet.loss``: the class), runs it on fixed, seeded inputs and compares
the results with the reference implementation in :mod:`mnistlab`. It either
prints one line ("relu: 3 visible tests passed") and returns ``None``, or
raises :class:`GradingFailure`, whose message says what to fix: the call and
its inputs, the expected and the actual value or shape, where they differ, and
a hint for the usual mistake.

``hidden=False`` runs the tests students see in their notebook;
``hidden=True`` the ones only the autograder runs (extreme values, other
shapes and dtypes, inputs left unmodified, randomized inputs). A check depends
on nothing but the function it is given and its own seeds, so it gives the same
verdict in any process, any number of times.

Messages never contain test code and never print a large array in full:
arrays are summarized by shape, dtype, a few entries and where they differ.
In IPython (and so in nbgrader's autograded and feedback notebooks) a failure
shows only its message, without a traceback of the test cell.

NumPy functions and the reference functions are looked up once, when this
module is imported (the notebooks import it in their first, read-only cell),
so reassigning ``np.allclose`` or ``mnistlab.functional.relu`` later does not
change what the checks compare with.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import itertools
import math
import os
import struct
import tempfile
import time
import traceback
import types
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from mnistlab import data as _data
from mnistlab import functional as _functional
from mnistlab import gradcheck as _gradcheck
from mnistlab import layers as _layers
from mnistlab import model as _model
from mnistlab import optim as _optim
from mnistlab.tolerances import (
    FLOAT32_ATOL,
    FLOAT32_RTOL,
    GRAD_REL_TOL,
    GRADING_RESTORE_ATOL,
    REF_ATOL,
    REF_RTOL,
)

__all__ = [
    "GradingFailure",
    "GRADED",
    "TRAINING_RUN",
    "grade_id",
    "check_read_idx",
    "check_one_hot",
    "check_normalize",
    "check_iterate_minibatches",
    "check_relu",
    "check_sigmoid",
    "check_softmax",
    "check_log_softmax",
    "check_cross_entropy",
    "check_numerical_gradient",
    "check_rel_error",
    "check_affine_forward",
    "check_affine_backward",
    "check_relu_forward",
    "check_relu_backward",
    "check_softmax_cross_entropy",
    "check_two_layer_net_loss",
    "check_sgd",
    "check_sgd_momentum",
    "check_training_run",
]

#: The graded functions of each assignment, in notebook order (the chapter map
#: of the design). Each has one autograder cell, ``grade_id(function)``.
GRADED: dict[str, tuple[str, ...]] = {
    "a1_data": ("read_idx", "one_hot", "normalize", "iterate_minibatches"),
    "a2_relu_softmax": ("relu", "sigmoid", "softmax", "log_softmax", "cross_entropy"),
    "a3_numerical_gradients": ("numerical_gradient", "rel_error"),
    "a4_backprop": (
        "affine_forward",
        "affine_backward",
        "relu_forward",
        "relu_backward",
        "softmax_cross_entropy",
        "TwoLayerNet.loss",
    ),
    "a5_sgd_momentum": ("sgd", "sgd_momentum", "training_run"),
}

#: The bounded training run of ``a5_sgd_momentum``: a 784-100-10 ``TwoLayerNet``
#: in float32, trained with the student's ``sgd_momentum`` for ``epochs`` passes
#: over the 60,000 training images, must classify at least ``accuracy_bar`` of
#: the 10,000 test images correctly. The reference reaches 96.9-97.2% (seeds
#: 0-3) in about 2 s on an idle 2-core machine; plain SGD at the same learning
#: rate reaches 94.4%.
TRAINING_RUN = types.MappingProxyType(
    {"hidden_dim": 100, "epochs": 3, "batch_size": 128, "seed": 0, "accuracy_bar": 0.96}
)


def grade_id(function: str) -> str:
    """The nbgrader ``grade_id`` of the autograder cell that checks ``function``."""
    return "test_" + function.replace(".", "_")


# ---------------------------------------------------------------------------
# References taken at import time
# ---------------------------------------------------------------------------

_np = types.SimpleNamespace(
    **{
        name: getattr(np, name)
        for name in (
            "abs", "all", "allclose", "arange", "argmax", "array", "array2string", "array_equal",
            "asarray", "concatenate", "cos", "empty", "errstate", "exp", "eye",
            "float32", "float64", "floating", "full", "int8", "int16", "int32", "int64", "integer",
            "isclose", "isfinite", "isnan", "issubdtype", "log", "max", "maximum", "mean", "min",
            "ndarray", "number", "ones", "prod", "shares_memory", "sin", "sort", "sqrt", "sum",
            "uint8", "unravel_index", "where", "zeros", "zeros_like", "bool_",
        )
    }
)
_np.default_rng = np.random.default_rng

_ref = types.SimpleNamespace(
    idx_bytes=_data.idx_bytes,
    read_idx=_data.read_idx,
    one_hot=_data.one_hot,
    normalize=_data.normalize,
    relu=_functional.relu,
    sigmoid=_functional.sigmoid,
    softmax=_functional.softmax,
    log_softmax=_functional.log_softmax,
    cross_entropy=_functional.cross_entropy,
    numerical_gradient=_gradcheck.numerical_gradient,
    rel_error=_gradcheck.rel_error,
    affine_forward=_layers.affine_forward,
    affine_backward=_layers.affine_backward,
    relu_forward=_layers.relu_forward,
    relu_backward=_layers.relu_backward,
    softmax_cross_entropy=_layers.softmax_cross_entropy,
    TwoLayerNet=_model.TwoLayerNet,
    sgd=_optim.sgd,
    sgd_momentum=_optim.sgd_momentum,
)

#: The exception ``read_idx`` raises for malformed data (the notebooks import it too).
IDXFormatError = _data.IDXFormatError

#: The grader's own files, whose frames a failure message leaves out: this module and the isolated
#: re-check's proxies (mnistlab.isolation), through which a student's exception reaches a check there.
_GRADER_FILES = frozenset(
    os.path.normcase(os.path.join(os.path.dirname(os.path.abspath(__file__)), name))
    for name in ("grading.py", "isolation.py", "_isolated_child.py")
)


# ---------------------------------------------------------------------------
# Failures and how they are shown
# ---------------------------------------------------------------------------


class GradingFailure(AssertionError):
    """A check failed; the message says what to fix (and shows no test code).

    In IPython the failure is shown as its message only (``_render_traceback_``),
    so an autograded or feedback notebook never shows the lines of the test
    cell that called the check.
    """

    def _render_traceback_(self) -> list[str]:
        first, *rest = str(self).split("\n")
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {first}", *rest]


class _Problem(Exception):
    """Raised inside one test; :meth:`_Check.test` turns it into a GradingFailure."""

    def __init__(self, *lines: str):
        super().__init__("\n".join(lines))
        self.lines = [line for line in lines if line]


def _label(key: str, text: str) -> str:
    """One ``  key: text`` line of a message (continuation lines indented)."""
    pad = " " * 12
    body = str(text).replace("\n", "\n" + pad)
    key = key + ":"
    return f"  {key:<10}{body}" if len(key) < 10 else f"  {key} {body}"


def _fmt_number(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return repr(v)
    if f == 0:
        return "0"
    return f"{f:.6g}"


def _fmt_index(index: tuple) -> str:
    return str(index[0]) if len(index) == 1 else "(" + ", ".join(map(str, index)) + ")"


def _describe(value, *, limit: int = 12) -> str:
    """A short description of ``value``: never more than ``limit`` array entries."""
    if isinstance(value, np.ndarray):
        return _describe_array(value, limit)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        head = raw[:16].hex(" ")
        return f"{len(raw)} bytes: {head}{' ...' if len(raw) > 16 else ''}"
    if isinstance(value, tuple):
        inner = ", ".join(_describe(v, limit=limit) for v in value[:4])
        return f"tuple of {len(value)}: ({inner}{', ...' if len(value) > 4 else ''})"
    if isinstance(value, list) and len(value) > 8:
        return f"list of {len(value)}: [{', '.join(_describe(v) for v in value[:4])}, ...]"
    if isinstance(value, dict):
        items = ", ".join(f"{k!r}: {_describe(v, limit=6)}" for k, v in list(value.items())[:6])
        return "{" + items + (", ..." if len(value) > 6 else "") + "}"
    if isinstance(value, (float, np.floating)):
        return _fmt_number(value)
    if isinstance(value, types.GeneratorType):
        return "a generator"
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _describe_array(a: np.ndarray, limit: int) -> str:
    info = f"shape {a.shape}, {a.dtype}"
    if a.size <= limit and a.ndim <= 2 and a.dtype.kind in "biuf":
        with _np.errstate(all="ignore"):
            body = _np.array2string(a, precision=6, separator=", ", max_line_width=10**6, threshold=limit)
        return f"{' '.join(body.split())}  ({info})"
    if a.dtype.kind not in "biuf" or a.size == 0:
        return f"array of {info}"
    flat = a.reshape(-1)
    head = ", ".join(_fmt_number(v) for v in flat[:4])
    finite = flat[_np.isfinite(flat)] if a.dtype.kind == "f" else flat
    stats = ""
    if finite.size:
        stats = f"; min {_fmt_number(_np.min(finite))}, max {_fmt_number(_np.max(finite))}"
    bad = flat.size - finite.size
    if bad:
        stats += f"; {bad} entries are nan or inf"
    return f"array of {info}: [{head}, ...]{stats}"


def _tolerances(*arrays) -> tuple[float, float]:
    if any(getattr(a, "dtype", None) == _np.float32 for a in arrays):
        return FLOAT32_RTOL, FLOAT32_ATOL
    return REF_RTOL, REF_ATOL


def _close(a, b, rtol=None, atol=None) -> bool:
    """Same shape and all entries close (nan matches nan)."""
    try:
        a = _np.asarray(a)
        b = _np.asarray(b)
        if a.shape != b.shape or a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
            return False
        if rtol is None:
            rtol, atol = _tolerances(a, b)
        with _np.errstate(all="ignore"):
            a, b = a.astype(_np.float64), b.astype(_np.float64)
            return bool(_np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    except Exception:  # a malformed result is simply "not close"
        return False


def _where_different(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str:
    g = got.astype(_np.float64)
    e = expected.astype(_np.float64)
    with _np.errstate(all="ignore"):
        close = _np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        diff = _np.abs(g - e)
    diff = _np.where(_np.isnan(diff), np.inf, diff)
    diff = _np.where(close, -1.0, diff)
    i = _np.unravel_index(int(_np.argmax(diff)), g.shape)
    n_bad = int(close.size - _np.sum(close))
    size = f"{n_bad} of {close.size} entries differ" if close.size > 1 else "the value differs"
    return (
        f"{size}; the largest difference is at index {_fmt_index(tuple(int(k) for k in i))}: "
        f"expected {_fmt_number(e[i])}, got {_fmt_number(g[i])}"
    )


@contextlib.contextmanager
def _quiet_numpy(caught: list):
    """Record warnings (instead of printing them to stderr, which nbgrader counts as a failure)."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        with _np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            yield
    caught.extend(f"{r.category.__name__}: {r.message}" for r in records)


def _student_frames(exc: BaseException, limit: int = 4) -> list[str]:
    """Where in the student's code the exception came from (frames of this module left out)."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if os.path.normcase(os.path.abspath(f.filename)) not in _GRADER_FILES and "contextlib" not in f.filename
    ]
    lines = []
    for f in frames[-limit:]:
        name = f.filename
        if "ipykernel_" in name or name.startswith("<ipython-input") or name.startswith("<"):
            where = "your notebook"
        else:
            parts = Path(name).parts
            where = "/".join(parts[-2:])
        code = (f.line or "").strip()
        lines.append(f"{where}, line {f.lineno}, in {f.name}" + (f": {code}" if code else ""))
    return lines


def _short(text: str, n: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


#: (substring of an error message, hint) tried in order when a student's function raises.
_ERROR_HINTS = (
    ("could not be broadcast", "shapes do not line up: reduce over the right axis and keep it "
     "(keepdims=True) so the result broadcasts against the input"),
    ("mismatch in its core dimension", "the matrix shapes do not match: (N, D) @ (D, H) gives (N, H); "
     "check which array needs a transpose"),
    ("truth value of an array", "Python's max/min/if work on single numbers; for arrays use "
     "np.maximum, np.where or a boolean mask"),
    ("NoneType", "something is None: did a function of yours forget its return statement?"),
    ("is not defined", "a name is not defined: run the notebook's cells from the top (the setup cell "
     "imports numpy as np), and define helper names inside your function's cell"),
    ("cannot reshape", "the sizes in the header do not match the data you read: the sizes are "
     "big-endian 32-bit integers ('>I' with struct, '>u4' with NumPy)"),
)


# ---------------------------------------------------------------------------
# One check: a sequence of named tests of one function
# ---------------------------------------------------------------------------


class _Check:
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
        if kind == "function" and not callable(fn):
            raise GradingFailure(
                f"{name}: expected a function, got {_describe(fn)} ({type(fn).__name__}).\n"
                + _label("hint", f"run the cell that defines {name} (and keep its name)")
            )

    # -- running tests ---------------------------------------------------

    @contextlib.contextmanager
    def test(self, title: str):
        try:
            yield
        except _Problem as problem:
            lines = [f'{self.name}: {self.kind} test "{title}" failed.', *problem.lines]
            raise GradingFailure("\n".join(lines)) from None
        self.passed += 1

    def done(self) -> None:
        print(f"{self.name}: {self.passed} {self.kind} tests passed")

    # -- calling the student's code -----------------------------------------

    def _describe_call(self, fn_name, args, kwargs, labels) -> None:
        names = list(self.params) + [f"arg{i}" for i in range(len(self.params), len(args))]
        shown = names[: len(args)] + [f"{k}={_describe(v) if _is_small(v) else k}" for k, v in kwargs.items()]
        self._call_text = f"{fn_name}({', '.join(shown)})"
        lines = []
        for name, value in zip(names, args):
            lines.append(_label(name, labels.get(name) or _describe(value)))
        for k, v in kwargs.items():
            if not _is_small(v):
                lines.append(_label(k, labels.get(k) or _describe(v)))
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
        if copy_args and not unmodified:
            args, kwargs = _copy_data(args), _copy_data(kwargs)
        names = list(self.params) + [f"arg{i}" for i in range(len(self.params), len(args))]
        values = dict(zip(names, args), **kwargs)
        before = {name: copy.deepcopy(values[name]) for name in unmodified}
        caught: list[str] = []
        try:
            with _quiet_numpy(caught):
                out = fn(*args, **kwargs)
                if consume is not None:
                    out = consume(out)
        except _Problem:
            raise
        except Exception as exc:
            raise _Problem(*self._raised(exc, error_hints)) from None
        self.warnings = caught
        for name, old in before.items():
            if not _same(old, values[name]):
                raise _Problem(
                    f"{self._call_text} changed its argument {name} in place.",
                    _label("before", _describe(old)),
                    _label("after", _describe(values[name])),
                    _label("hint", f"never write into an input: the caller still needs {name}. Compute a "
                           "new array (e.g. a = b - c instead of b -= c, np.maximum(x, 0) instead of "
                           "x[x < 0] = 0), or work on a copy"),
                )
        return out

    def _raised(self, exc: Exception, error_hints) -> list[str]:
        text = _short(exc)
        lines = [f"{self._call_text} raised {type(exc).__name__}" + (f": {text}" if text else "."), *self._input_lines]
        frames = _student_frames(exc)
        if frames:
            lines.append(_label("where", "\n".join(frames)))
        if isinstance(exc, NotImplementedError):
            tb = traceback.extract_tb(exc.__traceback__)
            where = tb[-1].name if tb else self.name
            lines.append(_label("hint", f"{where} is not implemented yet: replace `raise NotImplementedError()` "
                                f"in its cell with your code, then run that cell again"))
            return lines
        message = f"{type(exc).__name__}: {exc}"
        for substring, hint in tuple(error_hints) + self.error_hints + _ERROR_HINTS:
            if substring in message:
                lines.append(_label("hint", hint))
                break
        return lines

    def problem(self, what: str, *lines: str, hint: str | None = None):
        """A problem report about the last call: what is wrong, the inputs, details, a hint."""
        out = [f"{self._call_text}: {what}", *self._input_lines, *[line for line in lines if line]]
        if hint:
            out.append(_label("hint", hint))
        return _Problem(*out)

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
                f"{what} should be a NumPy array, got {type(got).__name__}: {_describe(got)}.",
                hint="build the result with NumPy operations (np.array(...) turns a list into an array)",
            )
        bug_hint = _match_bug(got, bugs)
        if got.shape != expected.shape:
            if bug_hint is None and got.shape == expected.shape[::-1] and got.ndim == 2:
                bug_hint = "the shape is transposed: check the order of the axes (and of the matrix product)"
            raise self.problem(
                f"{what} has the wrong shape.",
                _label("expected", f"shape {expected.shape}"),
                _label("got", f"shape {got.shape}"),
                hint=bug_hint or hint,
            )
        if got.dtype.kind not in "biuf":
            raise self.problem(f"{what} has dtype {got.dtype}, expected numbers ({expected.dtype}).", hint=hint)
        if dtype and got.dtype != expected.dtype:
            raise self.problem(
                f"{what} has dtype {got.dtype}, expected {expected.dtype}.",
                _label("got", _describe(got)),
                hint=bug_hint or f"keep the input's precision ({expected.dtype} in, {expected.dtype} out): no "
                     "dtype=float / .astype(np.float64), and create helper arrays with np.zeros_like(...)",
            )
        if rtol is None:
            rtol, atol = _tolerances(got, expected)
        if not _close(got, expected, rtol, atol):
            raise self.problem(
                f"{what} has wrong values.",
                _label("expected", _describe(expected)),
                _label("got", _describe(got)),
                _label("where", _where_different(got, expected, rtol, atol)),
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
                    _label("got", _describe(got)),
                    hint=hint or "reduce to one number (np.mean, np.max, ...)",
                )
            got = got.reshape(-1)[0]
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.integer, np.floating)):
            raise self.problem(f"{what} should be a number, got {type(got).__name__}: {_describe(got)}.", hint=hint)
        value = float(got)
        if rtol is None:
            rtol, atol = (FLOAT32_RTOL, FLOAT32_ATOL) if isinstance(got, np.float32) else (REF_RTOL, REF_ATOL)
        if math.isnan(value) or not math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
            raise self.problem(
                f"{what} is wrong.",
                _label("expected", _fmt_number(expected)),
                _label("got", _fmt_number(value)),
                hint=_match_bug(value, bugs) or hint,
            )
        return value

    def expect_no_warnings(self, hint: str) -> None:
        if self.warnings:
            raise self.problem(
                "NumPy warned while computing the result.",
                _label("expected", "no warnings (the result must be computed without overflow)"),
                _label("warning", "\n".join(sorted(set(self.warnings))[:3])),
                hint=hint,
            )

    def expect_tuple(self, got, n: int, names: str):
        if not isinstance(got, (tuple, list)) or len(got) != n:
            raise self.problem(
                f"should return a tuple {names}, got {_describe(got)}.",
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
        caught: list[str] = []
        try:
            with _quiet_numpy(caught):
                out = self.fn(*args, **kwargs)
                if consume is not None:
                    out = consume(out)
        except exc_types:
            return
        except Exception as exc:
            raise self.problem(
                f"raised {type(exc).__name__}: {_short(exc)}",
                _label("expected", f"{expected}: {reason}"),
                hint=hint,
            ) from None
        raise self.problem(
            f"returned {_describe(out)} instead of raising {expected}.",
            _label("expected", f"{expected}: {reason}"),
            hint=hint,
        )


def _copy_data(value):
    """Copies of the arrays in ``value`` (also inside tuples, lists and dicts); other objects as they are.

    A Generator passed as ``rng`` must stay the same object: its state is what the test is about.
    """
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_copy_data(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy_data(v) for k, v in value.items()}
    return value


def _is_small(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.integer, np.floating))


def _same(a, b) -> bool:
    """Deep equality for what the checks pass as arguments (arrays exactly, nan equal to nan)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(_np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:
        return False


def _match_bug(got, bugs) -> str | None:
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
        elif _close(got, wrong, 1e-6, 1e-9):
            return hint
    return None


def _rng(seed: int) -> np.random.Generator:
    return _np.default_rng(seed)


# ---------------------------------------------------------------------------
# Assignment 1: data loading
# ---------------------------------------------------------------------------

_IDX_CODE_HINT = ("byte 2 of the header is the data-type code: 0x08 uint8, 0x09 int8, 0x0B int16, "
                  "0x0C int32, 0x0D float32, 0x0E float64, all big-endian ('>i2', '>f4', ...)")


def _idx_header(code: int, dims) -> bytes:
    return struct.pack(f">BBBB{len(dims)}I", 0, 0, code, len(dims), *dims)


def _expect_idx(c: _Check, got, expected: np.ndarray) -> None:
    """read_idx's result: the right shape, dtype and values, with hints for the usual slips."""
    if isinstance(got, np.ndarray) and got.shape != expected.shape and got.size == expected.size:
        raise c.problem(
            "the values may be right but the shape is wrong.",
            _label("expected", f"shape {expected.shape}"),
            _label("got", f"shape {got.shape}"),
            hint="reshape the values to the sizes in the header (one big-endian uint32 per dimension, after "
                 "the 4 magic bytes)",
        )
    if isinstance(got, np.ndarray) and got.shape == expected.shape and got.dtype != expected.dtype:
        swapped = got.dtype.newbyteorder("=") == expected.dtype and not got.dtype.isnative
        raise c.problem(
            f"the result has dtype {got.dtype!s} ({'big-endian' if swapped else got.dtype.name}), "
            f"expected {expected.dtype}.",
            hint=("return a native-endian array: .astype(arr.dtype.newbyteorder('=')) converts it"
                  if swapped else _IDX_CODE_HINT),
        )
    swapped_values = expected.byteswap()
    c.expect_array(
        got,
        expected,
        dtype=True,
        bugs=[("the bytes of each value are in the wrong order: IDX values are big-endian, read them with "
               "a '>' dtype such as '>i2' and then convert to native order", lambda: swapped_values)],
        hint=_IDX_CODE_HINT,
    )


def check_read_idx(read_idx: Callable, hidden: bool = False) -> None:
    """Check ``read_idx(source)`` (assignment a1_data) against :func:`mnistlab.data.read_idx`."""
    c = _Check("read_idx", read_idx, hidden, ("source",), error_hints=[
        ("IDXFormatError", "this data is valid IDX: after the 4 magic bytes come ndim sizes, each a big-endian "
                           "uint32 (struct.unpack('>I', ...)), and the payload starts at byte 4 + 4 * ndim"),
    ])
    must_raise = "raise IDXFormatError (imported at the top of the notebook) with a message that says what is wrong"
    if not hidden:
        with c.test("a 1-D uint8 array from bytes"):
            raw = _ref.idx_bytes(_np.array([7, 8, 9], dtype=_np.uint8))
            _expect_idx(c, c.call(raw), _np.array([7, 8, 9], dtype=_np.uint8))
        with c.test("3-D uint8 images from a file path"):
            images = _rng(1).integers(0, 256, size=(2, 3, 4), dtype=np.uint8)
            raw = _ref.idx_bytes(images)
            with tempfile.TemporaryDirectory(prefix="read_idx-") as folder:
                path = os.path.join(folder, "images-idx3-ubyte")
                Path(path).write_bytes(raw)
                got = c.call(path, labels={"source": f"path (str) of a file holding {_describe(raw)}"})
            _expect_idx(c, got, images)
        with c.test("gzip-compressed bytes"):
            labels = _np.array([5, 0, 4, 1, 9, 2], dtype=_np.uint8)
            raw = gzip.compress(_ref.idx_bytes(labels), mtime=0)
            got = c.call(raw, error_hints=[("magic", "gzip data starts with the bytes 1f 8b: "
                                            "gzip.decompress it first, then parse the IDX bytes")])
            _expect_idx(c, got, labels)
        with c.test("a bad magic number raises IDXFormatError"):
            raw = b"\x01\x02\x08\x01" + struct.pack(">I", 3) + bytes([1, 2, 3])
            c.expect_raises(IDXFormatError, raw, reason="the first two bytes of an IDX file are 0", hint=must_raise)
    else:
        gen = _rng(11)
        with c.test("other data types, big-endian on disk"):
            arrays = [
                gen.integers(-128, 128, size=(3, 2), dtype=np.int8),
                _np.array([[-2, 300], [1000, -32768]], dtype=_np.int16),
                _np.array([-70000, 5, 2**31 - 1], dtype=_np.int32),
                gen.standard_normal((2, 3)).astype(_np.float32),
                gen.standard_normal((4,)),
            ]
            for arr in arrays:
                _expect_idx(c, c.call(_ref.idx_bytes(arr)), arr)
        with c.test("a binary file object"):
            arr = gen.integers(0, 256, size=(5, 2), dtype=np.uint8)
            raw = _ref.idx_bytes(arr)
            got = c.call(io.BytesIO(raw), labels={"source": f"io.BytesIO holding {_describe(raw)}"},
                         error_hints=[("BytesIO", "a file object has a .read() method: read its bytes first")])
            _expect_idx(c, got, arr)
        with c.test("a gzip-compressed file, as a pathlib.Path"):
            arr = gen.integers(0, 10, size=(7,), dtype=np.uint8)
            raw = gzip.compress(_ref.idx_bytes(arr), mtime=0)
            with tempfile.TemporaryDirectory(prefix="read_idx-") as folder:
                path = Path(folder) / "labels-idx1-ubyte.gz"
                path.write_bytes(raw)
                got = c.call(path, labels={"source": f"pathlib.Path of a file holding {_describe(raw)}"})
            _expect_idx(c, got, arr)
        with c.test("the result is a writable array of its own"):
            raw = _ref.idx_bytes(_np.array([1, 2, 3], dtype=_np.uint8))
            got = c.call(raw)
            _expect_idx(c, got, _np.array([1, 2, 3], dtype=_np.uint8))
            if not got.flags.writeable:
                raise c.problem(
                    "the returned array is read-only.",
                    hint="np.frombuffer on bytes gives a read-only view of them: return a copy (.copy())",
                )
        real = _real_mnist_test_files()
        if real:  # graded where MNIST is in the data folder (as the a5 training run needs it anyway)
            with c.test("the real MNIST test files"):
                for path in real:
                    got = c.call(str(path), labels={"source": f"path of {path.name} (the real file)"})
                    _expect_idx(c, got, _ref.read_idx(path))
        errors = [
            ("fewer than 4 bytes", b"\x00\x00", "an IDX header has at least 4 bytes"),
            ("an unknown data-type code", _idx_header(0x07, (2,)) + bytes(2), "0x07 is not an IDX data type"),
            ("zero dimensions", _idx_header(0x08, ()), "an IDX array has at least one dimension"),
            ("a header cut short", b"\x00\x00\x08\x03" + struct.pack(">I", 2), "3 dimensions need 12 bytes of sizes"),
            ("a payload cut short", _idx_header(0x08, (2, 3)) + bytes(5), "2 x 3 uint8 values need 6 bytes"),
            ("trailing bytes after the payload", _idx_header(0x08, (4,)) + bytes(6), "4 uint8 values need 4 bytes"),
            ("an int16 payload of odd length", _idx_header(0x0B, (2,)) + bytes(3), "2 int16 values need 4 bytes"),
        ]
        for title, raw, reason in errors:
            with c.test(f"{title} raises IDXFormatError"):
                c.expect_raises(
                    IDXFormatError, raw, reason=reason,
                    hint=must_raise + "; check every length (header and payload) before using it",
                )
    c.done()


def _real_mnist_test_files() -> list[Path]:
    """The MNIST test images and labels in the data folder, if both are there with their right sizes.

    Nothing is downloaded: a check never touches the network.
    """
    folder = _data.default_data_dir()
    names = ("t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte")
    paths = [folder / name for name in names]
    if all(p.is_file() and p.stat().st_size == _data.MNIST_FILES[p.name][0] for p in paths):
        return paths
    return []


def check_one_hot(one_hot: Callable, hidden: bool = False) -> None:
    """Check ``one_hot(labels, num_classes=10)`` (assignment a1_data) against :func:`mnistlab.data.one_hot`."""
    c = _Check("one_hot", one_hot, hidden, ("labels",))
    if not hidden:
        with c.test("hand-worked example with 3 classes"):
            labels = _np.array([2, 0, 1])
            got = c.call(labels, num_classes=3)
            c.expect_array(got, _ref.one_hot(labels, 3), bugs=[
                ("rows and columns are swapped: row i is sample i, with its 1 in column labels[i]",
                 lambda: _ref.one_hot(labels, 3).T),
                ("every row is all ones: out[:, labels] = 1 sets whole columns; set one entry per row with "
                 "out[np.arange(N), labels] = 1", lambda: _np.ones((3, 3))),
            ])
        with c.test("10 classes by default, even if the batch has no 9"):
            labels = _np.array([3, 1, 4, 1, 5])
            got = c.call(labels)
            c.expect_array(got, _ref.one_hot(labels, 10), bugs=[
                ("the number of columns comes from the labels (labels.max() + 1): use num_classes, a batch need "
                 "not contain every class", lambda: _ref.one_hot(labels, 6)),
            ])
    else:
        gen = _rng(21)
        with c.test("labels as a list, int32 or uint8"):
            for labels in ([0, 9, 4], _np.array([7, 7, 2], dtype=_np.int32), _np.array([1, 0, 8], dtype=_np.uint8)):
                got = c.call(labels)
                c.expect_array(got, _ref.one_hot(labels, 10))
        with c.test("a float array"):
            labels = gen.integers(0, 10, size=1000)
            got = c.call(labels, num_classes=10)
            c.expect_array(got, _ref.one_hot(labels, 10))
            if not _np.issubdtype(got.dtype, _np.floating):
                raise c.problem(f"the result has dtype {got.dtype}, expected floats (float64): one-hot rows are "
                                "used as probabilities.", hint="np.zeros((N, num_classes)) is float64")
        with c.test("an empty batch"):
            got = c.call(_np.array([], dtype=_np.int64), num_classes=4)
            c.expect_array(got, _np.zeros((0, 4)))
        with c.test("the input is not modified"):
            labels = gen.integers(0, 5, size=20)
            got = c.call(labels, num_classes=5, unmodified=("labels",))
            c.expect_array(got, _ref.one_hot(labels, 5))
        with c.test("a label equal to num_classes raises an error"):
            c.expect_raises((ValueError, IndexError), _np.array([0, 3]), num_classes=3,
                            reason="class ids must be in [0, num_classes)",
                            hint="check 0 <= labels < num_classes and raise ValueError")
        with c.test("a negative label raises an error"):
            c.expect_raises((ValueError, IndexError), _np.array([1, -1, 0]), num_classes=3,
                            reason="class ids must be in [0, num_classes)",
                            hint="NumPy reads index -1 as the last column, so np.eye(C)[labels] or "
                                 "out[rows, labels] = 1 silently accept it: check labels >= 0 and raise ValueError")
    c.done()


def check_normalize(normalize: Callable, hidden: bool = False) -> None:
    """Check ``normalize(images)`` (assignment a1_data) against :func:`mnistlab.data.normalize`."""
    c = _Check("normalize", normalize, hidden, ("images",))

    def bugs(images):
        x = _np.asarray(images, dtype=_np.float64)
        return [
            ("integer division (//) rounds everything down to 0 or 1: divide with /",
             lambda: images // 255),
            ("the result was divided by 256: the largest pixel value, 255, must become exactly 1",
             lambda: x / 256),
            ("this is min-max scaling of this batch ((x - min) / (max - min)): pixels are always divided by "
             "255, whatever the batch contains", lambda: (x - x.min()) / (x.max() - x.min())),
        ]

    if not hidden:
        with c.test("hand-worked uint8 pixels"):
            images = _np.array([[0, 51], [102, 204]], dtype=_np.uint8)
            got = c.call(images)
            c.expect_array(got, _ref.normalize(images), bugs=bugs(images))
        with c.test("a batch of 28x28 images keeps its shape"):
            images = _rng(31).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
            got = c.call(images)
            c.expect_array(got, _ref.normalize(images), bugs=bugs(images))
    else:
        gen = _rng(32)
        with c.test("uint8 pixels become float32"):
            images = gen.integers(0, 256, size=(4, 784), dtype=np.uint8)
            got = c.call(images)
            c.expect_array(got, _ref.normalize(images), dtype=True, bugs=[
                ("images / 255 of uint8 gives float64: ask for float32, e.g. images.astype(np.float32) / 255",
                 lambda: images / 255),
            ])
        with c.test("float input keeps its dtype"):
            for dt in (_np.float64, _np.float32):
                images = _np.array([[0.0, 127.5], [255.0, 25.5]], dtype=dt)
                got = c.call(images, unmodified=("images",))
                c.expect_array(got, _ref.normalize(images), dtype=True, bugs=bugs(images))
        with c.test("other integer types"):
            images = gen.integers(0, 256, size=(2, 5)).astype(_np.int64)
            got = c.call(images)
            c.expect_array(got, _ref.normalize(images), dtype=True)
        with c.test("the input is not modified"):
            images = gen.uniform(0, 255, size=(3, 4))
            got = c.call(images, unmodified=("images",))
            c.expect_array(got, _ref.normalize(images))
        for title, images in (
            ("values above 255 raise ValueError", _np.array([0, 128, 300], dtype=_np.int16)),
            ("negative values raise ValueError", _np.array([[-1.0, 0.5], [1.0, 2.0]])),
        ):
            with c.test(title):
                c.expect_raises(ValueError, images, reason="pixel values must be in [0, 255]",
                                hint="check images.min() >= 0 and images.max() <= 255 and raise ValueError "
                                     "with a message that says what was found")
    c.done()


def _take_batches(limit: int):
    """Run a mini-batch iterator (at most ``limit`` batches) into a list of (x, y) array copies."""

    def consume(batches):
        out = []
        for item in itertools.islice(batches, limit + 1):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise _Problem(f"iterate_minibatches yielded {_describe(item)}; expected (x_batch, y_batch) pairs.",
                               _label("hint", "yield x_batch, y_batch"))
            out.append((_np.array(item[0]), _np.array(item[1])))
        if len(out) > limit:
            raise _Problem(f"iterate_minibatches yielded more than {limit} batches.",
                           _label("hint", "one pass visits each sample once: loop over range(0, N, batch_size)"))
        return out

    return consume


def _expect_batches(c: _Check, batches, x, y, batch_size: int, *, in_order: bool, require_shuffled: bool = False):
    n = len(x)
    sizes = [len(b[1]) for b in batches]
    want = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    if sizes != want:
        hint = None
        if sizes == [batch_size] * (n // batch_size) and n % batch_size:
            hint = ("the last, short batch is missing: it holds the N % batch_size samples left over; loop "
                    "with range(0, N, batch_size)")
        elif sizes and sizes[-1] == 0:
            hint = "the last batch is empty: loop with range(0, N, batch_size), which never yields an empty slice"
        raise c.problem("the batches have the wrong sizes.",
                        _label("expected", f"{len(want)} batches of sizes {want}"),
                        _label("got", f"{len(sizes)} batches of sizes {sizes}"), hint=hint)
    for i, (xb, yb) in enumerate(batches):
        if xb.shape[1:] != x.shape[1:] or yb.shape[1:] != y.shape[1:] or len(xb) != len(yb):
            raise c.problem(f"batch {i} has shapes {xb.shape} and {yb.shape}.",
                            _label("expected", f"x_batch shape ({len(yb)}, {', '.join(map(str, x.shape[1:]))})"
                                   f" and y_batch shape ({len(yb)}{''.join(', ' + str(d) for d in y.shape[1:])})"))
    x_all = _np.concatenate([b[0] for b in batches]) if batches else x[:0]
    y_all = _np.concatenate([b[1] for b in batches]) if batches else y[:0]
    ids = y_all.argmax(axis=1) if y.ndim == 2 else y_all
    # The tests build y so that y's class id / row says which sample it is, and x[i] encodes i too.
    sample_of_x = x_all.reshape(len(x_all), -1)[:, 0].astype(_np.int64)
    if not _np.array_equal(_np.sort(ids), _np.arange(n)):
        raise c.problem("the batches do not cover every sample exactly once.",
                        _label("got", f"sample ids {_head(ids, 16)} (sorted: {_head(_np.sort(ids), 16)})"),
                        hint="one pass must visit each of the N samples once: take one permutation of "
                             "range(N) (or range(N) itself) and cut it into consecutive slices")
    if not _np.array_equal(sample_of_x, ids):
        raise c.problem(
            "images and labels are no longer paired: x_batch[k] is not the image of y_batch[k].",
            _label("expected", "x_batch[k] and y_batch[k] belong to the same sample, for every k"),
            _label("got", f"the images of samples {_head(sample_of_x)} with the labels of samples {_head(ids)}"),
            hint="shuffle x and y with the same order: draw one permutation (idx = rng.permutation(N)) and "
                 "index both x[idx] and y[idx]; shuffling each separately breaks the pairs",
        )
    if in_order and not _np.array_equal(ids, _np.arange(n)):
        raise c.problem("with shuffle=False the samples must come in their original order.",
                        _label("got", f"sample order {_head(ids, 12)}"))
    if require_shuffled and _np.array_equal(ids, _np.arange(n)):
        raise c.problem("with shuffle=True the samples came in their original order.",
                        hint="shuffle with the rng argument: rng = np.random.default_rng(rng); "
                             "idx = rng.permutation(N)")
    return ids


def _head(a: np.ndarray, k: int = 8) -> str:
    """The first ``k`` entries of a 1-D integer array, as a list."""
    items = ", ".join(str(int(v)) for v in a[:k])
    return f"[{items}{', ...' if len(a) > k else ''}]"


def _paired_data(n: int, image_shape=(2,), one_hot_labels: bool = False):
    """x[i] starts with the value i and y[i] is i (as a class id or a one-hot row): pairs can be traced."""
    x = _np.zeros((n, *image_shape))
    flat = x.reshape(n, -1)
    flat[:, 0] = _np.arange(n)
    if flat.shape[1] > 1:
        flat[:, 1:] = 0.5
    y = _np.eye(n) if one_hot_labels else _np.arange(n)
    return x, y


def check_iterate_minibatches(iterate_minibatches: Callable, hidden: bool = False) -> None:
    """Check ``iterate_minibatches(x, y, batch_size, *, shuffle=True, rng=None)`` (assignment a1_data)."""
    c = _Check("iterate_minibatches", iterate_minibatches, hidden, ("x", "y", "batch_size"))
    if not hidden:
        with c.test("shuffle=False: batches in order, the last one short"):
            x, y = _paired_data(10)
            batches = c.call(x, y, 4, shuffle=False, consume=_take_batches(10))
            _expect_batches(c, batches, x, y, 4, in_order=True)
        with c.test("shuffle=True: every sample once, images and labels stay paired"):
            x, y = _paired_data(50)
            batches = c.call(x, y, 8, shuffle=True, rng=0, consume=_take_batches(50))
            _expect_batches(c, batches, x, y, 8, in_order=False, require_shuffled=True)
    else:
        take = _take_batches(200)
        with c.test("N a multiple of batch_size: no empty batch"):
            x, y = _paired_data(12)
            _expect_batches(c, c.call(x, y, 4, shuffle=False, consume=take), x, y, 4, in_order=True)
        with c.test("batch_size larger than N"):
            x, y = _paired_data(5)
            _expect_batches(c, c.call(x, y, 8, shuffle=True, rng=3, consume=take), x, y, 8, in_order=False)
        with c.test("28x28 images and one-hot labels"):
            x, y = _paired_data(30, image_shape=(28, 28), one_hot_labels=True)
            _expect_batches(c, c.call(x, y, 7, shuffle=True, rng=4, consume=take), x, y, 7, in_order=False)
        with c.test("x and y are not modified"):
            x, y = _paired_data(40)
            batches = c.call(x, y, 16, shuffle=True, rng=5, consume=take, unmodified=("x", "y"))
            _expect_batches(c, batches, x, y, 16, in_order=False, require_shuffled=True)
        seed_hint = ("shuffle with the rng argument only (rng = np.random.default_rng(rng), then "
                     "rng.permutation(N)); np.random.shuffle/permutation use NumPy's global state, which no "
                     "seed passed to your function controls")
        with c.test("the same seed gives the same order, another seed another order"):
            x, y = _paired_data(100)
            orders = [
                _expect_batches(c, c.call(x, y, 32, shuffle=True, rng=seed, consume=take), x, y, 32, in_order=False)
                for seed in (8, 7, 7)
            ]
            if not _np.array_equal(orders[1], orders[2]):
                raise c.problem("two calls with rng=7 gave different orders.",
                                _label("expected", "the same seed gives the same order"), hint=seed_hint)
            if _np.array_equal(orders[0], orders[1]):
                raise c.problem("rng=7 and rng=8 gave the same order.",
                                _label("expected", "different seeds give different orders"), hint=seed_hint)
        with c.test("a Generator passed as rng gives a new order each pass"):
            x, y = _paired_data(100)
            gen = _rng(9)
            first = _expect_batches(c, c.call(x, y, 32, shuffle=True, rng=gen, consume=take), x, y, 32, in_order=False)
            second = _expect_batches(c, c.call(x, y, 32, shuffle=True, rng=gen, consume=take), x, y, 32, in_order=False)
            if _np.array_equal(first, second):
                raise c.problem(
                    "two passes with the same Generator gave the same order.",
                    _label("expected", "a new order each pass (the Generator's stream continues)"),
                    hint="use the Generator you are given (np.random.default_rng(gen) returns gen itself); "
                         "creating a new one from a fixed seed repeats the same order every epoch",
                )
        with c.test("x and y of different lengths raise ValueError"):
            x, _ = _paired_data(6)
            c.expect_raises(ValueError, x, _np.arange(5), 2, consume=take,
                            reason="every image needs its label", hint="check len(x) == len(y) and raise ValueError")
    c.done()


# ---------------------------------------------------------------------------
# Assignment 2: ReLU and softmax
# ---------------------------------------------------------------------------

_STABLE_HINT = ("exp overflows above about 709 (88 in float32): subtract each row's maximum first "
                "(z - np.max(z, axis=axis, keepdims=True)), which changes nothing mathematically")


def check_relu(relu: Callable, hidden: bool = False) -> None:
    """Check ``relu(x)`` (assignment a2_relu_softmax) against :func:`mnistlab.functional.relu`."""
    c = _Check("relu", relu, hidden, ("x",))

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
            x = _rng(41).standard_normal((3, 5)) * 3
            c.expect_array(c.call(x), _ref.relu(x), bugs=bugs(x))
    else:
        gen = _rng(42)
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
    c.done()


def check_sigmoid(sigmoid: Callable, hidden: bool = False) -> None:
    """Check ``sigmoid(x)`` (assignment a2_relu_softmax) against :func:`mnistlab.functional.sigmoid`."""
    c = _Check("sigmoid", sigmoid, hidden, ("x",))
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
            x = _rng(51).standard_normal((4, 3)) * 4
            c.expect_array(c.call(x), _ref.sigmoid(x), bugs=bugs(x))
    else:
        gen = _rng(52)
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


def _check_softmax_like(c: _Check, ref, hidden: bool, log: bool) -> None:
    fname = "log_softmax" if log else "softmax"

    def expect(got, z, axis=-1, **kw):
        if kw.get("hint") is None:
            kw["hint"] = _normalization_hint(z, axis, log)(got)
        return c.expect_array(got, ref(z, axis=axis), **kw)

    unstable_hint = (
        _STABLE_HINT + ("; and never take np.log(softmax(z)): a probability that underflows to 0 gives "
                        "-inf, while z - max - log(sum(exp(z - max))) stays finite" if log else "")
    )
    if not hidden:
        with c.test("hand-worked rows"):
            z = _np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
            expect(c.call(z), z, bugs=_softmax_bugs(z, -1, log))
        with c.test("random scores (5, 10)"):
            z = _rng(61 if log else 60).standard_normal((5, 10)) * 3
            expect(c.call(z), z, bugs=_softmax_bugs(z, -1, log))
    else:
        gen = _rng(63 if log else 62)
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


def check_softmax(softmax: Callable, hidden: bool = False) -> None:
    """Check ``softmax(z, axis=-1)`` (assignment a2_relu_softmax) against :func:`mnistlab.functional.softmax`."""
    c = _Check("softmax", softmax, hidden, ("z",))
    _check_softmax_like(c, _ref.softmax, hidden, log=False)
    c.done()


def check_log_softmax(log_softmax: Callable, hidden: bool = False) -> None:
    """Check ``log_softmax(z, axis=-1)`` (assignment a2_relu_softmax) against the reference."""
    c = _Check("log_softmax", log_softmax, hidden, ("z",))
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
    c = _Check("cross_entropy", cross_entropy, hidden, ("logits", "labels"), error_hints=[
        ("used as indices", "labels of shape (N, C) are one-hot rows: the loss is then -np.sum(labels * logp) / N"),
    ])
    if not hidden:
        with c.test("uniform scores give ln(C)"):
            logits = _np.zeros((4, 10))
            labels = _np.array([0, 3, 9, 2])
            got = c.call(logits, labels)
            c.expect_number(got, math.log(10), what="the loss", bugs=_cross_entropy_bugs(logits, labels))
        with c.test("random scores, integer labels"):
            gen = _rng(71)
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
    else:
        gen = _rng(72)
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
    c.done()


# ---------------------------------------------------------------------------
# Assignment 3: numerical gradients
# ---------------------------------------------------------------------------


def _expect_gradient(c: _Check, got, x, analytic, *, closure: bool = False):
    """A numerical gradient must have x's shape and agree with the analytic one (relative error)."""
    if got is None:
        raise c.problem("the result is None.", hint="did you forget to return the gradient array?")
    if not isinstance(got, _np.ndarray) or got.shape != x.shape:
        raise c.problem(
            f"the gradient should be an array of x's shape {x.shape}, got {_describe(got)}.",
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
        _label("expected", _describe(analytic)),
        _label("got", _describe(got)),
        _label("where", _where_different(got, analytic, 1e-6, 1e-9)),
        hint=hint,
    )


def _expect_restored(c: _Check, x: np.ndarray, x0: np.ndarray) -> None:
    if x.shape != x0.shape or not _np.allclose(x, x0, rtol=0, atol=GRADING_RESTORE_ATOL):
        raise c.problem(
            "x was not restored: after the call it differs from before.",
            _label("before", _describe(x0)),
            _label("after", _describe(x)),
            _label("where", _where_different(x, x0, 0, GRADING_RESTORE_ATOL)),
            hint="after evaluating f(x + h) and f(x - h), put the original value back (x[ix] = old): "
                 "f usually reads x (a model's weights), so a changed x corrupts everything after",
        )


def check_numerical_gradient(numerical_gradient: Callable, hidden: bool = False) -> None:
    """Check ``numerical_gradient(f, x, h=1e-5)`` (assignment a3_numerical_gradients)."""
    c = _Check("numerical_gradient", numerical_gradient, hidden, ("f", "x"))
    if not hidden:
        with c.test("f(x) = sum(x**3) at a 1-D x"):
            x = _np.array([-1.5, -0.5, 0.7, 1.2, 2.0])
            x0 = x.copy()
            got = c.call(lambda v: float(_np.sum(v**3)), x, copy_args=False,
                         labels={"f": "lambda x: np.sum(x ** 3), whose gradient is 3 x^2", "x": _describe(x0)})
            _expect_gradient(c, got, x0, 3 * x0**2)
        with c.test("x is restored afterwards"):
            x = _np.array([0.3, -1.7, 2.9, 0.01])
            x0 = x.copy()
            c.call(lambda v: float(_np.sum(_np.sin(v))), x, copy_args=False,
                   labels={"f": "lambda x: np.sum(np.sin(x))", "x": _describe(x0)})
            _expect_restored(c, x, x0)
        with c.test("f reads x from outside, like a model's loss"):
            w = _rng(81).standard_normal((3, 2))
            coef = _np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.25]])
            w0 = w.copy()
            got = c.call(lambda _: float(_np.sum(coef * w**2)), w, copy_args=False,
                         labels={"f": "lambda _: np.sum(coef * w ** 2), which ignores its argument and reads w, "
                                      "the array passed as x; its gradient is 2 coef w", "x": f"w = {_describe(w0)}"})
            _expect_gradient(c, got, w0, 2 * coef * w0, closure=True)
            _expect_restored(c, w, w0)
    else:
        gen = _rng(82)
        with c.test("2-D and 3-D x"):
            for shape in ((3, 4), (2, 3, 2)):
                x = gen.uniform(-2, 2, size=shape)
                a = gen.standard_normal(shape)
                x0 = x.copy()
                got = c.call(lambda v: float(_np.sum(a * _np.sin(v))), x, copy_args=False,
                             labels={"f": "lambda x: np.sum(a * np.sin(x)), whose gradient is a cos(x)",
                                     "x": _describe(x0)})
                _expect_gradient(c, got, x0, a * _np.cos(x0))
                _expect_restored(c, x, x0)
        with c.test("the step h is the one given"):
            x = _np.array([-1.0, 0.5, 2.0])
            got = c.call(lambda v: float(_np.sum(v**3)), x, copy_args=False, h=0.1,
                         labels={"f": "lambda x: np.sum(x ** 3)"})
            # Central differences of a cubic are exact up to h^2: 3 x^2 + h^2.
            want = 3 * x**2 + 0.01
            if not isinstance(got, _np.ndarray) or got.shape != x.shape or not _close(got, want, 1e-8, 1e-10):
                raise c.problem(
                    "with h=0.1 the central difference of x^3 is 3 x^2 + h^2 exactly.",
                    _label("expected", _describe(want)),
                    _label("got", _describe(got)),
                    hint="use the h argument (not a fixed 1e-5) in x + h, x - h and 2h",
                )
        with c.test("f returning a NumPy scalar and reading x itself"):
            w = gen.standard_normal(6)
            w0 = w.copy()
            got = c.call(lambda _: _np.sum(_np.exp(w)), w, copy_args=False,
                         labels={"f": "lambda _: np.sum(np.exp(w)), which returns np.float64 and reads w, the "
                                      "array passed as x", "x": f"w = {_describe(w0)}"})
            _expect_gradient(c, got, w0, _np.exp(w0), closure=True)
            _expect_restored(c, w, w0)
        with c.test("a larger x, f = 0.5 * ||A x||^2"):
            a = gen.standard_normal((5, 8))
            x = gen.standard_normal(8)
            x0 = x.copy()
            got = c.call(lambda v: 0.5 * float(_np.sum((a @ v) ** 2)), x, copy_args=False,
                         labels={"f": "lambda x: 0.5 * np.sum((A @ x) ** 2) with A of shape (5, 8)",
                                 "x": _describe(x0)})
            _expect_gradient(c, got, x0, a.T @ (a @ x0))
            _expect_restored(c, x, x0)
    c.done()


def check_rel_error(rel_error: Callable, hidden: bool = False) -> None:
    """Check ``rel_error(a, b)`` (assignment a3_numerical_gradients) against the reference."""
    c = _Check("rel_error", rel_error, hidden, ("a", "b"))

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
            ("random 2-D arrays", _rng(91).standard_normal((3, 4)), _rng(92).standard_normal((3, 4))),
        ):
            with c.test(title):
                got = c.call(a, b)
                c.expect_number(got, _ref.rel_error(a, b), what="the relative error", bugs=bugs(a, b),
                                hint="rel_error = max over entries of |a - b| / max(1e-8, |a| + |b|)")
    else:
        gen = _rng(93)
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
    c.done()


# ---------------------------------------------------------------------------
# Assignment 4: backpropagation
# ---------------------------------------------------------------------------


def _affine_data(gen, n, d_shape, h):
    x = gen.standard_normal((n, *d_shape))
    d = int(_np.prod(d_shape))
    w = gen.standard_normal((d, h)) / math.sqrt(d)
    b = gen.standard_normal(h)
    return x, w, b


def check_affine_forward(affine_forward: Callable, hidden: bool = False) -> None:
    """Check ``affine_forward(x, w, b) -> (out, cache)`` (assignment a4_backprop)."""
    c = _Check("affine_forward", affine_forward, hidden, ("x", "w", "b"))

    def run(x, w, b, **kw):
        got = c.expect_tuple(c.call(x, w, b, **kw), 2, "(out, cache)")
        out, cache = got
        want, _ = _ref.affine_forward(x, w, b)
        c.expect_array(out, want, what="out", bugs=[
            ("the bias is missing: out = x @ w + b", lambda: x.reshape(len(x), -1) @ w),
            ("out = x @ w.T: w has shape (D, H), so x (N, D) @ w (D, H) needs no transpose",
             lambda: x.reshape(len(x), -1) @ w.T + b),
        ])
        ok = isinstance(cache, (tuple, list)) and len(cache) == 3 and all(
            _same(_np.asarray(u), v) for u, v in zip(cache, (x, w, b)))
        if not ok:
            raise c.problem(
                f"cache should be the tuple (x, w, b), got {_describe(cache)}.",
                hint="affine_backward needs exactly the inputs: return out, (x, w, b)",
            )

    if not hidden:
        with c.test("hand-worked example"):
            x = _np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]])
            w = _np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
            b = _np.array([0.5, -0.5])
            run(x, w, b)
        with c.test("random x (4, 5), w (5, 3)"):
            run(*_affine_data(_rng(101), 4, (5,), 3))
    else:
        gen = _rng(102)
        with c.test("images (N, 4, 5) are flattened to rows of 20"):
            run(*_affine_data(gen, 3, (4, 5), 6))
        with c.test("a batch of one"):
            run(*_affine_data(gen, 1, (7,), 2))
        with c.test("the inputs are not modified"):
            x, w, b = _affine_data(gen, 5, (6,), 4)
            c.call(x, w, b, unmodified=("x", "w", "b"))
            run(x, w, b)
        with c.test("float32 stays float32"):
            x, w, b = (a.astype(_np.float32) for a in _affine_data(gen, 3, (5,), 4))
            out = c.expect_tuple(c.call(x, w, b), 2, "(out, cache)")[0]
            c.expect_array(out, _ref.affine_forward(x, w, b)[0], what="out", dtype=True)
    c.done()


def check_affine_backward(affine_backward: Callable, hidden: bool = False) -> None:
    """Check ``affine_backward(dout, cache) -> (dx, dw, db)`` with ``cache = (x, w, b)`` (assignment a4_backprop)."""
    c = _Check("affine_backward", affine_backward, hidden, ("dout", "cache"))

    def run(x, w, b, dout, **kw):
        got = c.expect_tuple(c.call(dout, (x, w, b), **kw, labels={"cache": f"(x, w, b) with {_describe(x)}, "
                                                                            f"{_describe(w)}, {_describe(b)}"}),
                             3, "(dx, dw, db)")
        dx, dw, db = got
        want_dx, want_dw, want_db = _ref.affine_backward(dout, (x, w, b))
        x2 = x.reshape(len(x), -1)
        c.expect_array(dw, want_dw, what="dw", bugs=[
            ("dw is transposed: it must have w's shape (D, H), which x.T @ dout gives", lambda: dout.T @ x2),
            ("dw must not be averaged over the batch here: the loss already did that; dw = x.T @ dout",
             lambda: x2.T @ dout / len(x)),
        ], hint="dw = x.T @ dout (with x flattened to (N, D))")
        c.expect_array(db, want_db, what="db", bugs=[
            ("db sums over the wrong axis: sum over the batch, axis=0, to get shape (H,)", lambda: dout.sum(axis=1)),
            ("db must be the sum over the batch, not the mean: db = dout.sum(axis=0)", lambda: dout.mean(axis=0)),
        ])
        c.expect_array(dx, want_dx, what="dx", bugs=[
            ("dx must have x's shape: reshape dout @ w.T back to x.shape", lambda: dout @ w.T),
        ], hint="dx = dout @ w.T, reshaped to x.shape")

    if not hidden:
        with c.test("hand-worked example"):
            x = _np.array([[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]])
            w = _np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
            b = _np.zeros(3)
            dout = _np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            run(x, w, b, dout)
        with c.test("random x (4, 5), w (5, 3)"):
            gen = _rng(111)
            x, w, b = _affine_data(gen, 4, (5,), 3)
            run(x, w, b, gen.standard_normal((4, 3)))
    else:
        gen = _rng(112)
        with c.test("images (N, 4, 5): dx has x's shape"):
            x, w, b = _affine_data(gen, 3, (4, 5), 6)
            run(x, w, b, gen.standard_normal((3, 6)))
        with c.test("a batch of one"):
            x, w, b = _affine_data(gen, 1, (6,), 2)
            run(x, w, b, gen.standard_normal((1, 2)))
        with c.test("the inputs are not modified"):
            x, w, b = _affine_data(gen, 5, (6,), 4)
            dout = gen.standard_normal((5, 4))
            c.call(dout, (x, w, b), unmodified=("dout", "cache"))
            run(x, w, b, dout)
        with c.test("a larger random layer"):
            x, w, b = _affine_data(gen, 32, (50,), 20)
            run(x, w, b, gen.standard_normal((32, 20)))
    c.done()


def check_relu_forward(relu_forward: Callable, hidden: bool = False) -> None:
    """Check ``relu_forward(x) -> (out, cache)`` with ``cache = x`` (assignment a4_backprop)."""
    c = _Check("relu_forward", relu_forward, hidden, ("x",))

    def run(x, **kw):
        out, cache = c.expect_tuple(c.call(x, **kw), 2, "(out, cache)")
        c.expect_array(out, _ref.relu(x), what="out", dtype=x.dtype == _np.float32, bugs=[
            ("out equals np.abs(x): ReLU sets negative values to 0", lambda: _np.abs(x)),
            ("out is the mask x > 0: return the values max(x, 0)", lambda: (x > 0).astype(x.dtype)),
        ])
        if not (isinstance(cache, _np.ndarray) and _same(cache, x) or
                isinstance(cache, _np.ndarray) and cache.shape == x.shape and _np.array_equal(cache > 0, x > 0)):
            raise c.problem(f"cache should be the input x, got {_describe(cache)}.",
                            hint="relu_backward is given the cache and needs to know where x > 0: return out, x")

    if not hidden:
        with c.test("hand-worked example"):
            run(_np.array([[-1.0, 0.0, 2.0], [3.0, -4.0, 0.5]]))
        with c.test("random (4, 6) input"):
            run(_rng(121).standard_normal((4, 6)))
    else:
        gen = _rng(122)
        with c.test("the input is not modified"):
            run(gen.standard_normal((5, 7)), unmodified=("x",))
        with c.test("float32 stays float32, any shape"):
            run(gen.standard_normal((2, 3, 4)).astype(_np.float32))
    c.done()


def check_relu_backward(relu_backward: Callable, hidden: bool = False) -> None:
    """Check ``relu_backward(dout, cache) -> dx`` with ``cache = x`` (assignment a4_backprop)."""
    c = _Check("relu_backward", relu_backward, hidden, ("dout", "cache"))

    def run(x, dout, **kw):
        got = c.call(dout, x, labels={"cache": f"x = {_describe(x)}"}, **kw)
        c.expect_array(got, _ref.relu_backward(dout, x), what="dx", bugs=[
            ("dx = dout * x: the local gradient of ReLU is 1 where x > 0 and 0 elsewhere, not x",
             lambda: dout * x),
            ("dx is the mask alone: multiply it with dout (the chain rule)", lambda: (x > 0).astype(float)),
            ("the mask comes from dout: it must come from the forward input x (the cache)",
             lambda: dout * (dout > 0)),
            ("at x == 0 the gradient is 0 by convention: use the mask x > 0, not x >= 0",
             lambda: dout * (x >= 0)),
        ])

    if not hidden:
        with c.test("hand-worked example"):
            x = _np.array([[-1.0, 2.0, 3.0], [4.0, -5.0, 0.5]])
            dout = _np.array([[10.0, 20.0, -30.0], [1.0, 2.0, 3.0]])
            run(x, dout)
        with c.test("random (4, 6)"):
            gen = _rng(131)
            run(gen.standard_normal((4, 6)), gen.standard_normal((4, 6)))
    else:
        gen = _rng(132)
        with c.test("x exactly 0 gets gradient 0"):
            run(_np.array([[0.0, 1.0, -1.0, 0.0]]), _np.array([[5.0, 6.0, 7.0, 8.0]]))
        with c.test("the inputs are not modified"):
            run(gen.standard_normal((5, 7)), gen.standard_normal((5, 7)), unmodified=("dout", "cache"))
        with c.test("any shape"):
            run(gen.standard_normal((2, 3, 4)), gen.standard_normal((2, 3, 4)))
    c.done()


def check_softmax_cross_entropy(softmax_cross_entropy: Callable, hidden: bool = False) -> None:
    """Check ``softmax_cross_entropy(logits, labels) -> (loss, dlogits)`` (assignment a4_backprop)."""
    c = _Check("softmax_cross_entropy", softmax_cross_entropy, hidden, ("logits", "labels"))

    def run(logits, labels, **kw):
        loss, dlogits = c.expect_tuple(c.call(logits, labels, **kw), 2, "(loss, dlogits)")
        want_loss, want_d = _ref.softmax_cross_entropy(logits, labels)
        n = len(logits)
        c.expect_number(loss, want_loss, what="the loss", bugs=[
            ("the loss is summed over the batch: take the mean (divide by N)", lambda: want_loss * n),
        ], hint="loss = -mean over the batch of log softmax(logits)[n, labels[n]]")
        p = _np.exp(_ref.log_softmax(logits, axis=1))
        onehot = _ref.one_hot(labels, logits.shape[1])
        c.expect_array(dlogits, want_d, what="dlogits", dtype=logits.dtype == _np.float32, bugs=[
            ("dlogits is N times too large: the loss is the mean over the batch, so its gradient is "
             "(softmax - one_hot) / N", lambda: want_d * n),
            ("the sign of dlogits is flipped: the gradient is softmax(logits) - one_hot(labels) (then / N)",
             lambda: -want_d),
            ("dlogits is just softmax / N: subtract 1 at each row's true class, p[np.arange(N), labels] -= 1",
             lambda: p / n),
            ("p[:, labels] -= 1 subtracts from whole columns: subtract one entry per row, "
             "p[np.arange(N), labels] -= 1", lambda: _col_bug(p, labels) / n),
        ])
        return onehot

    if not hidden:
        with c.test("uniform scores"):
            run(_np.zeros((2, 4)), _np.array([1, 3]))
        with c.test("random scores (5, 4)"):
            gen = _rng(141)
            run(gen.standard_normal((5, 4)) * 2, _np.array([0, 3, 1, 1, 2]))
    else:
        gen = _rng(142)
        stable = _STABLE_HINT + " (loss and gradient both come from log_softmax / softmax of the shifted scores)"
        with c.test("large scores without overflow"):
            logits = _np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4 + 1, 0.0]])
            labels = _np.array([2, 0])
            loss, d = c.expect_tuple(c.call(logits, labels), 2, "(loss, dlogits)")
            want_loss, want_d = _ref.softmax_cross_entropy(logits, labels)
            c.expect_number(loss, want_loss, what="the loss", hint=stable)
            c.expect_array(d, want_d, what="dlogits", hint=stable)
            c.expect_no_warnings(stable)
        with c.test("a batch of one"):
            run(gen.standard_normal((1, 10)), _np.array([4]))
        with c.test("a random batch (64, 10)"):
            run(gen.standard_normal((64, 10)) * 3, gen.integers(0, 10, size=64))
        with c.test("float32 scores give float32 dlogits"):
            run((gen.standard_normal((8, 10)) * 3).astype(_np.float32), gen.integers(0, 10, size=8))
        with c.test("the inputs are not modified"):
            run(gen.standard_normal((6, 5)) * 3, gen.integers(0, 5, size=6), unmodified=("logits", "labels"))
    c.done()


def _col_bug(p, labels):
    q = p.copy()
    q[:, labels] -= 1
    return q


def _net_params(gen, d, h, c_, *, dead_units: bool = False):
    params = {
        "W1": gen.standard_normal((d, h)) / math.sqrt(d),
        "b1": gen.standard_normal(h) * 0.5,
        "W2": gen.standard_normal((h, c_)) / math.sqrt(h),
        "b2": gen.standard_normal(c_) * 0.1,
    }
    if dead_units:
        params["b1"][: h // 2] = -10.0  # these hidden units are 0 for every input
    return params


def check_two_layer_net_loss(TwoLayerNet, hidden: bool = False) -> None:
    """Check ``TwoLayerNet(...).loss(x, y=None)`` (assignment a4_backprop) against the reference.

    ``TwoLayerNet`` is the student's class; it is built as
    ``TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, reg=reg)`` and its
    ``params`` are then replaced by fixed values, so only ``loss`` is checked.
    """
    c = _Check("TwoLayerNet.loss", TwoLayerNet, hidden, ("x", "y"), kind="class")
    if not isinstance(TwoLayerNet, type):
        raise GradingFailure(f"TwoLayerNet.loss: expected the class TwoLayerNet, got {_describe(TwoLayerNet)}.")

    def make(params, reg):
        d, h = params["W1"].shape
        c_ = params["W2"].shape[1]
        try:
            with _quiet_numpy([]):
                net = TwoLayerNet(input_dim=d, hidden_dim=h, num_classes=c_, reg=reg)
        except Exception as exc:
            raise _Problem(f"TwoLayerNet(input_dim={d}, hidden_dim={h}, num_classes={c_}, reg={reg}) raised "
                           f"{type(exc).__name__}: {_short(exc)}",
                           _label("hint", "keep the __init__ the notebook gives you")) from None
        net.params = {k: v.copy() for k, v in params.items()}
        ref = _ref.TwoLayerNet(d, h, c_, reg=reg)
        ref.params = {k: v.copy() for k, v in params.items()}
        return net, ref

    def params_text(params, reg):
        return (f"W1 {params['W1'].shape}, b1 {params['b1'].shape}, W2 {params['W2'].shape}, "
                f"b2 {params['b2'].shape}, reg={reg}")

    def scores(params, reg, x, **kw):
        net, ref = make(params, reg)
        got = c.call(x, fn=net.loss, fn_name="net.loss", labels={}, **kw)
        c._input_lines.insert(0, _label("net", params_text(params, reg)))
        want = ref.loss(x)
        c.expect_array(got, want, what="the score matrix (y=None)", bugs=[
            ("these are probabilities: with y=None return the raw scores h @ W2 + b2 (no softmax)",
             lambda: _ref.softmax(want)),
            ("the ReLU between the layers is missing: scores = relu(x @ W1 + b1) @ W2 + b2",
             lambda: (x.reshape(len(x), -1) @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]),
        ])
        return net

    def loss_and_grads(params, reg, x, y, **kw):
        net, ref = make(params, reg)
        got = c.call(x, y, fn=net.loss, fn_name="net.loss", **kw)
        c._input_lines.insert(0, _label("net", params_text(params, reg)))
        loss, grads = c.expect_tuple(got, 2, "(loss, grads)")
        want_loss, want_grads = ref.loss(x, y)
        data_loss = want_loss - 0.5 * reg * sum(float(_np.sum(params[k] ** 2)) for k in ("W1", "W2"))
        c.expect_number(loss, want_loss, what="the loss", bugs=[
            ("the regularization term is missing from the loss: add 0.5 * reg * (sum(W1**2) + sum(W2**2))",
             lambda: data_loss),
            ("the regularization term is twice too large: it is 0.5 * reg * sum(W**2), whose gradient is reg * W",
             lambda: data_loss + 2 * (want_loss - data_loss)),
            ("the biases are regularized too: only W1 and W2 are",
             lambda: want_loss + 0.5 * reg * sum(float(_np.sum(params[k] ** 2)) for k in ("b1", "b2"))),
        ])
        if not isinstance(grads, dict) or set(grads) != set(want_grads):
            raise c.problem(f"grads should be a dict with keys W1, b1, W2, b2, got {_describe(grads)}.",
                            hint="grads has one entry per entry of self.params, under the same name")
        for k in ("W2", "b2", "W1", "b1"):
            bugs = []
            if k.startswith("W") and reg:
                bugs.append((f"the regularization gradient reg * {k} is missing from grads['{k}']",
                             lambda k=k: want_grads[k] - reg * params[k]))
            if k.startswith("b") and reg:
                bugs.append((f"grads['{k}'] includes reg * {k}: biases are not regularized",
                             lambda k=k: want_grads[k] + reg * params[k]))
            if k in ("W1", "b1"):
                bugs.append((f"grads['{k}'] ignores the ReLU: backpropagate through relu_backward (with the "
                             "cache of relu_forward) between the two affine layers",
                             lambda k=k: _no_relu_backward_grads(params, reg, x, y)[k]))
            c.expect_array(grads[k], want_grads[k], what=f"grads['{k}']", bugs=bugs,
                           hint="backpropagate in reverse order: softmax_cross_entropy, affine_backward (layer 2), "
                                "relu_backward, affine_backward (layer 1), then add reg * W to the weights' gradients")
        return net

    if not hidden:
        gen = _rng(151)
        params = _net_params(gen, 5, 4, 3)
        x = gen.standard_normal((6, 5))
        y = _np.array([0, 2, 1, 1, 0, 2])
        with c.test("scores when y is None"):
            scores(params, 0.0, x)
        with c.test("loss and gradients, reg = 0"):
            loss_and_grads(params, 0.0, x, y)
        with c.test("loss and gradients, reg = 0.1"):
            loss_and_grads(params, 0.1, x, y)
    else:
        gen = _rng(152)
        with c.test("a larger random net with dead hidden units, reg = 0.5"):
            params = _net_params(gen, 30, 16, 10, dead_units=True)
            loss_and_grads(params, 0.5, gen.standard_normal((20, 30)), gen.integers(0, 10, size=20))
        with c.test("a batch of one"):
            params = _net_params(gen, 8, 5, 4)
            loss_and_grads(params, 0.05, gen.standard_normal((1, 8)), _np.array([3]))
        with c.test("params, x and y are not modified"):
            params = _net_params(gen, 6, 5, 3)
            x = gen.standard_normal((4, 6))
            y = gen.integers(0, 3, size=4)
            net = loss_and_grads(params, 0.2, x, y, unmodified=("x", "y"))
            if not _same(net.params, params):
                raise c.problem("net.loss changed the parameters in net.params.",
                                hint="loss only computes; updating the weights is the optimizer's job")
        with c.test("scores of a larger batch"):
            params = _net_params(gen, 30, 16, 10)
            scores(params, 0.0, gen.standard_normal((25, 30)))
    c.done()


def _no_relu_backward_grads(params, reg, x, y):
    """The gradients of a TwoLayerNet whose backward pass skips relu_backward."""
    x2 = x.reshape(len(x), -1)
    a1 = x2 @ params["W1"] + params["b1"]
    h = _np.maximum(a1, 0)
    scores = h @ params["W2"] + params["b2"]
    _, dscores = _ref.softmax_cross_entropy(scores, y)
    dh = dscores @ params["W2"].T
    return {
        "W2": h.T @ dscores + reg * params["W2"],
        "b2": dscores.sum(axis=0),
        "W1": x2.T @ dh + reg * params["W1"],
        "b1": dh.sum(axis=0),
    }


# ---------------------------------------------------------------------------
# Assignment 5: SGD and momentum
# ---------------------------------------------------------------------------


_CONFIG_HINTS = (
    ("'NoneType' object", "config may be None: begin with `if config is None: config = {}`"),
    ("KeyError", "a hyperparameter is missing from config: give each its default with "
                 "config.setdefault('learning_rate', 1e-2) (and 'momentum', 0.9)"),
)


def _expect_update(c: _Check, got, w, want_w, *, bugs=(), hint=None):
    next_w, config = c.expect_tuple(got, 2, "(next_w, config)")
    c.expect_array(next_w, want_w, what="next_w", bugs=bugs, hint=hint)
    if not isinstance(config, dict):
        raise c.problem(f"config should be a dict, got {_describe(config)}.",
                        hint="return the (updated) config dict: the training loop passes it to the next step")
    return next_w, config


def check_sgd(sgd: Callable, hidden: bool = False) -> None:
    """Check ``sgd(w, dw, config=None) -> (next_w, config)`` (assignment a5_sgd_momentum)."""
    c = _Check("sgd", sgd, hidden, ("w", "dw", "config"), error_hints=_CONFIG_HINTS)

    def bugs(w, dw, lr):
        return [
            ("the step goes uphill: gradient DEScent subtracts, next_w = w - learning_rate * dw",
             lambda: w + lr * dw),
            ("the learning rate is missing: next_w = w - learning_rate * dw", lambda: w - dw),
            ("the learning rate is not the one in config: read config['learning_rate'] (default 1e-2 when "
             "it is missing)", lambda: w - 1e-2 * dw),
        ]

    if not hidden:
        with c.test("one step with learning_rate 0.1"):
            w = _np.array([1.0, 2.0, 3.0])
            dw = _np.array([0.5, -1.0, 2.0])
            got = c.call(w, dw, {"learning_rate": 0.1})
            _expect_update(c, got, w, w - 0.1 * dw, bugs=bugs(w, dw, 0.1))
        with c.test("config=None uses learning_rate 1e-2"):
            w = _np.array([[1.0, -1.0], [0.0, 2.0]])
            dw = _np.array([[10.0, 0.0], [-5.0, 1.0]])
            got = c.call(w, dw, None)
            _expect_update(c, got, w, w - 1e-2 * dw, bugs=bugs(w, dw, 1e-2),
                           hint="when config is None, start from {} and setdefault('learning_rate', 1e-2)")
    else:
        gen = _rng(161)
        with c.test("w and dw are not modified"):
            w, dw = gen.standard_normal((3, 4)), gen.standard_normal((3, 4))
            got = c.call(w, dw, {"learning_rate": 0.05}, unmodified=("w", "dw"))
            _expect_update(c, got, w, w - 0.05 * dw)
        with c.test("float32 weights stay float32"):
            w, dw = gen.standard_normal(5).astype(_np.float32), gen.standard_normal(5).astype(_np.float32)
            want = _ref.sgd(w, dw, {"learning_rate": 0.5})[0]
            next_w, _ = _expect_update(c, c.call(w, dw, {"learning_rate": 0.5}), w, want)
            c.expect_array(next_w, want, what="next_w", dtype=True)
        with c.test("the returned config holds the learning rate"):
            w, dw = gen.standard_normal(3), gen.standard_normal(3)
            _, config = _expect_update(c, c.call(w, dw, None), w, w - 1e-2 * dw)
            if config.get("learning_rate") != 1e-2:
                raise c.problem(f"the returned config is {_describe(config)}; expected 'learning_rate': 0.01 in it.",
                                hint="config.setdefault('learning_rate', 1e-2) records the default in config")
    c.done()


def _momentum_bugs(w, dw, v, lr, mu):
    return [
        ("the momentum step goes uphill: v = momentum * v - learning_rate * dw, then next_w = w + v",
         lambda: w - (mu * v - lr * dw)),
        ("the gradient term has the wrong sign: v = momentum * v - learning_rate * dw",
         lambda: w + (mu * v + lr * dw)),
        ("the velocity from config was not used: read it with config.get('velocity') (zeros the first "
         "time) and store the new one in config['velocity']", lambda: w - lr * dw),
        ("the learning rate multiplies the old velocity too: v = momentum * v - learning_rate * dw, where "
         "v already carries its learning rate", lambda: w + lr * (mu * v - dw)),
    ]


def check_sgd_momentum(sgd_momentum: Callable, hidden: bool = False) -> None:
    """Check ``sgd_momentum(w, dw, config=None) -> (next_w, config)`` (assignment a5_sgd_momentum)."""
    c = _Check("sgd_momentum", sgd_momentum, hidden, ("w", "dw", "config"), error_hints=_CONFIG_HINTS)

    def step(w, dw, config, **kw):
        lr = (config or {}).get("learning_rate", 1e-2)
        mu = (config or {}).get("momentum", 0.9)
        v = (config or {}).get("velocity")
        v = _np.zeros_like(w) if v is None else v
        want_w, want_config = _ref.sgd_momentum(w, dw, copy.deepcopy(config))
        got = c.call(w, dw, config, **kw)
        next_w, new_config = _expect_update(
            c, got, w, want_w, bugs=_momentum_bugs(w, dw, v, lr, mu),
            hint="next_w = w + v, where v = momentum * config['velocity'] - learning_rate * dw (velocity zeros "
                 "the first time), and config['velocity'] = v for the next step",
        )
        velocity = new_config.get("velocity")
        if not isinstance(velocity, _np.ndarray) or not _close(velocity, want_config["velocity"]):
            raise c.problem(
                "config['velocity'] after the step is wrong.",
                _label("expected", _describe(want_config["velocity"])),
                _label("got", _describe(velocity)),
                hint="store the new velocity, v = momentum * v - learning_rate * dw, in config['velocity'] "
                     "(the next step continues from it)",
            )
        return next_w, new_config

    if not hidden:
        with c.test("the first step starts from zero velocity"):
            w = _np.array([1.0, 2.0, 3.0])
            dw = _np.array([0.5, -1.0, 2.0])
            step(w, dw, {"learning_rate": 0.1, "momentum": 0.9})
        with c.test("three steps with the same config"):
            gen = _rng(171)
            w = gen.standard_normal((2, 3))
            config = {"learning_rate": 0.1, "momentum": 0.9}
            for _ in range(3):
                w, config = step(w, gen.standard_normal((2, 3)), config)
    else:
        gen = _rng(172)
        with c.test("it continues from the velocity in config"):
            w, dw, v0 = gen.standard_normal(4), gen.standard_normal(4), gen.standard_normal(4)
            step(w, dw, {"learning_rate": 0.05, "momentum": 0.5, "velocity": v0})
        with c.test("config=None: learning_rate 1e-2, momentum 0.9"):
            w, dw = gen.standard_normal(3), gen.standard_normal(3)
            w1, config = step(w, dw, None)
            step(w1, gen.standard_normal(3), config)
        with c.test("each parameter keeps its own velocity"):
            ws = {"W": gen.standard_normal((3, 2)), "b": gen.standard_normal(2)}
            configs = {k: {"learning_rate": 0.1, "momentum": 0.8} for k in ws}
            for _ in range(3):
                for k in ws:
                    ws[k], configs[k] = step(ws[k], gen.standard_normal(ws[k].shape), configs[k])
        with c.test("w and dw are not modified"):
            w, dw = gen.standard_normal(5), gen.standard_normal(5)
            config = {"learning_rate": 0.1, "momentum": 0.9, "velocity": gen.standard_normal(5)}
            step(w, dw, config, unmodified=("w", "dw"))
        with c.test("float32 weights stay float32"):
            w, dw = gen.standard_normal(4).astype(_np.float32), gen.standard_normal(4).astype(_np.float32)
            config = {"learning_rate": 0.1, "momentum": 0.9}
            next_w, config = step(w, dw, config)
            c.expect_array(next_w, _ref.sgd_momentum(w, dw, {"learning_rate": 0.1, "momentum": 0.9})[0],
                           what="next_w", dtype=True,
                           hint="np.zeros(w.shape) is float64: start the velocity with np.zeros_like(w)")
    c.done()


class TrainingResult(types.SimpleNamespace):
    """What :func:`check_training_run` measured: ``history``, ``test_accuracy``, ``seconds``, ``model``."""


def check_training_run(
    sgd_momentum: Callable,
    *,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    data_dir=None,
) -> TrainingResult:
    """Train a 784-100-10 ``TwoLayerNet`` on MNIST with the student's ``sgd_momentum`` (assignment a5).

    The budget is fixed (:data:`TRAINING_RUN`: 3 epochs, batch 128, float32,
    seed 0); the student chooses ``learning_rate`` and ``momentum``. The run
    must reach ``TRAINING_RUN["accuracy_bar"]`` accuracy on the 10,000 test
    images. Prints one line per epoch and returns a :class:`TrainingResult`.
    """
    from mnistlab.train import train  # imports tqdm lazily; not needed by the other checks

    name = "training run"
    run = TRAINING_RUN
    bar = run["accuracy_bar"]
    if not callable(sgd_momentum):
        raise GradingFailure(f"{name}: expected your sgd_momentum function, got {_describe(sgd_momentum)}.")
    for label, value, ok in (
        ("learning_rate", learning_rate, lambda v: 0 < v <= 1),
        ("momentum", momentum, lambda v: 0 <= v < 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(float(value)):
            raise GradingFailure(
                f"{name}: {label} = {value!r} is out of range.\n"
                + _label("hint", "use 0 < learning_rate <= 1 and 0 <= momentum < 1 (0.1 and 0.9 work well)")
            )

    calls = {"n": 0}

    def rule(w, dw, config):
        calls["n"] += 1
        try:
            out = sgd_momentum(w, dw, config)
        except Exception as exc:
            frames = _student_frames(exc)
            text = _short(exc)
            raise GradingFailure(
                f"{name}: your sgd_momentum raised {type(exc).__name__} during training"
                + (f": {text}" if text else ".") + "\n"
                + (_label("where", "\n".join(frames)) + "\n" if frames else "")
                + _label("hint", "make the sgd_momentum tests above pass first")
            ) from None
        if not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[0], _np.ndarray) \
                or out[0].shape != w.shape or not isinstance(out[1], dict):
            raise GradingFailure(
                f"{name}: sgd_momentum(w, dw, config) returned {_describe(out)}; expected (next_w, config) "
                f"with next_w of w's shape {w.shape}.\n" + _label("hint", "make the sgd_momentum tests pass first")
            )
        return out

    (x_train, y_train), (x_test, y_test) = _data.load_mnist(data_dir=data_dir)
    model = _ref.TwoLayerNet(784, run["hidden_dim"], 10, dtype=_np.float32, rng=run["seed"])
    print(f"{name}: TwoLayerNet 784-{run['hidden_dim']}-10 (float32), {run['epochs']} epochs of "
          f"{len(x_train)} images, batch {run['batch_size']}, learning_rate={learning_rate}, momentum={momentum}")
    start = time.perf_counter()
    caught: list[str] = []
    try:
        with _quiet_numpy(caught):
            history = train(
                model,
                ((x_train, y_train), (x_test, y_test)),
                update_rule=rule,
                optim_config={"learning_rate": float(learning_rate), "momentum": float(momentum)},
                batch_size=run["batch_size"],
                epochs=run["epochs"],
                rng=run["seed"],
                progress=False,
                log=lambda line: print("  " + line.replace("val acc", "test acc")),
            )
    except FloatingPointError as exc:
        raise GradingFailure(
            f"{name}: training diverged: {_short(exc)}\n"
            + _label("hint", "if your sgd_momentum passes its tests, lower the learning rate; otherwise check the "
                             "sign of the update: next_w = w + v with v = momentum * v - learning_rate * dw")
        ) from None
    seconds = time.perf_counter() - start
    accuracy = history.val_acc[-1]
    result = TrainingResult(history=history, test_accuracy=accuracy, seconds=seconds, model=model)
    if accuracy < bar:
        raise GradingFailure(
            f"{name}: test accuracy {accuracy:.2%} after {run['epochs']} epochs is below the bar of {bar:.0%}.\n"
            + _label("per epoch", ", ".join(f"{a:.2%}" for a in history.val_acc)) + "\n"
            + _label("hint", "a correct sgd_momentum with learning_rate 0.1 and momentum 0.9 reaches about 97%. "
                             "If the accuracy barely moves, the velocity is probably not carried from step to step "
                             "(store it in config['velocity']) or the update goes uphill")
        )
    print(f"{name}: test accuracy {accuracy:.2%} (bar {bar:.0%}) in {seconds:.1f} s: passed")
    return result
