"""How a check reports a problem: the failure a student sees, short descriptions of values, tolerances,
where two arrays differ, the student's own frames of a traceback, and hints for common errors.

Shared by every assignment's checks (:mod:`mnistlab.checks`). Messages never contain test code and
never print a large array in full.
"""

from __future__ import annotations

import contextlib
import os
import traceback
import types
import warnings
from pathlib import Path

import numpy as np

from mnistlab.tolerances import FLOAT32_ATOL, FLOAT32_RTOL, REF_ATOL, REF_RTOL
from mnistlab.checks.references import NUMPY as _np


#: The folders of mnistlab's own checks and grader: their frames are left out of a failure message
#: (the isolated re-check's proxies are in the grader, and a student's exception passes through them).
_OWN_FOLDERS = tuple(
    os.path.normcase(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), name)) + os.sep
    for name in ("checks", "grader")
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


class Problem(Exception):
    """Raised inside one test; :meth:`Check.test` turns it into a GradingFailure."""

    def __init__(self, *lines: str):
        super().__init__("\n".join(lines))
        self.lines = [line for line in lines if line]


def labeled(key: str, text: str) -> str:
    """One ``  key: text`` line of a message (continuation lines indented)."""
    pad = " " * 12
    body = str(text).replace("\n", "\n" + pad)
    key = key + ":"
    return f"  {key:<10}{body}" if len(key) < 10 else f"  {key} {body}"


def fmt_number(v) -> str:
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


def fmt_index(index: tuple) -> str:
    return str(index[0]) if len(index) == 1 else "(" + ", ".join(map(str, index)) + ")"


def describe(value, *, limit: int = 12) -> str:
    """A short description of ``value``: never more than ``limit`` array entries."""
    if isinstance(value, np.ndarray):
        return describe_array(value, limit)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        head = raw[:16].hex(" ")
        return f"{len(raw)} bytes: {head}{' ...' if len(raw) > 16 else ''}"
    if isinstance(value, tuple):
        inner = ", ".join(describe(v, limit=limit) for v in value[:4])
        return f"tuple of {len(value)}: ({inner}{', ...' if len(value) > 4 else ''})"
    if isinstance(value, list) and len(value) > 8:
        return f"list of {len(value)}: [{', '.join(describe(v) for v in value[:4])}, ...]"
    if isinstance(value, dict):
        items = ", ".join(f"{k!r}: {describe(v, limit=6)}" for k, v in list(value.items())[:6])
        return "{" + items + (", ..." if len(value) > 6 else "") + "}"
    if isinstance(value, (float, np.floating)):
        return fmt_number(value)
    if isinstance(value, types.GeneratorType):
        return "a generator"
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def describe_array(a: np.ndarray, limit: int) -> str:
    info = f"shape {a.shape}, {a.dtype}"
    if a.size <= limit and a.ndim <= 2 and a.dtype.kind in "biuf":
        with _np.errstate(all="ignore"):
            body = _np.array2string(a, precision=6, separator=", ", max_line_width=10**6, threshold=limit)
        return f"{' '.join(body.split())}  ({info})"
    if a.dtype.kind not in "biuf" or a.size == 0:
        return f"array of {info}"
    flat = a.reshape(-1)
    head = ", ".join(fmt_number(v) for v in flat[:4])
    finite = flat[_np.isfinite(flat)] if a.dtype.kind == "f" else flat
    stats = ""
    if finite.size:
        stats = f"; min {fmt_number(_np.min(finite))}, max {fmt_number(_np.max(finite))}"
    bad = flat.size - finite.size
    if bad:
        stats += f"; {bad} entries are nan or inf"
    return f"array of {info}: [{head}, ...]{stats}"


def tolerances(*arrays) -> tuple[float, float]:
    if any(getattr(a, "dtype", None) == _np.float32 for a in arrays):
        return FLOAT32_RTOL, FLOAT32_ATOL
    return REF_RTOL, REF_ATOL


def arrays_close(a, b, rtol=None, atol=None) -> bool:
    """Same shape and all entries close (nan matches nan)."""
    try:
        a = _np.asarray(a)
        b = _np.asarray(b)
        if a.shape != b.shape or a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
            return False
        if rtol is None:
            rtol, atol = tolerances(a, b)
        with _np.errstate(all="ignore"):
            a, b = a.astype(_np.float64), b.astype(_np.float64)
            return bool(_np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    except Exception:  # a malformed result is simply "not close"
        return False


def where_different(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str:
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
        f"{size}; the largest difference is at index {fmt_index(tuple(int(k) for k in i))}: "
        f"expected {fmt_number(e[i])}, got {fmt_number(g[i])}"
    )


@contextlib.contextmanager
def quiet_numpy(caught: list):
    """Record warnings (instead of printing them to stderr, which nbgrader counts as a failure)."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        with _np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            yield
    caught.extend(f"{r.category.__name__}: {r.message}" for r in records)


def student_frames(exc: BaseException, limit: int = 4) -> list[str]:
    """Where in the student's code the exception came from (frames of this module left out)."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.normcase(os.path.abspath(f.filename)).startswith(_OWN_FOLDERS) and "contextlib" not in f.filename
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


def shorten(text: str, n: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


#: (substring of an error message, hint) tried in order when a student's function raises.
ERROR_HINTS = (
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


STABLE_HINT = ("exp overflows above about 709 (88 in float32): subtract each row's maximum first "
                "(z - np.max(z, axis=axis, keepdims=True)), which changes nothing mathematically")
