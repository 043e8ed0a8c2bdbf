"""Where the hidden checks' random cases get their inputs: a per-student seed when graded, fresh randomness at home.

Design, ``Grading: threat model`` ("precomputing answers to the hidden tests"); instructor guide
``book/07_instructor_guide.md``.

Every hidden check (``check_<function>(fn, hidden=True)``) runs its fixed cases (extreme values,
odd shapes, dtypes: the same inputs every time) and then :data:`RANDOM_CASES` random cases whose
inputs are drawn from :func:`case_rngs`. Those generators come from

* the **grading seed**, when one is set: 64 hexadecimal digits that the grader derives per student
  and assignment from the course secret (:mod:`mnistlab.grader.course_secret`), and hands to the
  grading kernel in the environment variable :data:`SEED_ENV` (read, and removed from the
  environment, when this module is imported: the notebooks' read-only setup cell imports the checks
  before any student code runs) or sets in the grading process itself with :func:`grading_seed`.
  Function ``f``'s cases are then seeded with the integer value of
  ``SHA-256("mnistlab hidden cases v1" NUL <grading seed> NUL f)``, so each student, assignment and
  function has its own draw, and grading the same submission again draws the same inputs;
* **fresh operating-system entropy**, without a grading seed (a student running the hidden checks
  at home): every run draws new inputs, for practice, and no run tells which inputs the grader
  will use.

The grading seed is not the secret: knowing it gives one student's inputs for one assignment,
which that student's code sees anyway when it is called.

This module also has two hooks for the grader and the test suite, never used by the notebooks:
:func:`record_draws` (report each hidden call's inputs as a digest: the test-only draw log) and
:func:`random_cases_only` (skip the fixed hidden cases, to test that the random ones alone catch
the catalogued bugs).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
from typing import Callable, Iterator

import numpy as np

#: The environment variable that carries the grading seed into a grading kernel.
SEED_ENV = "MNISTLAB_HIDDEN_SEED"
#: Random cases each hidden check adds to its fixed ones.
RANDOM_CASES = 3
#: Bumped if the derivation below ever changes (a regrade with another version draws other inputs).
DERIVATION = "mnistlab hidden cases v1"
_SEED_FORMAT = re.compile(r"[0-9a-f]{64}")


class _State:
    seed: str | None = None
    recorder: Callable | None = None
    random_only: bool = False
    only_case: int | None = None


def valid_seed(seed: str) -> str:
    """``seed`` if it is a grading seed (64 lower-case hexadecimal digits), else ValueError saying so."""
    if not isinstance(seed, str) or not _SEED_FORMAT.fullmatch(seed):
        raise ValueError(f"a grading seed is 64 lower-case hexadecimal digits, got {seed!r:.80}: it is derived by "
                         "mnistlab.grader.course_secret.grading_seed; do not set it by hand")
    return seed


def _seed_from_environment() -> str | None:
    value = os.environ.pop(SEED_ENV, None)  # a subprocess of the notebook does not inherit it
    return None if value is None else valid_seed(value.strip())


_State.seed = _seed_from_environment()


def current_seed() -> str | None:
    """The grading seed in force, or None (the random cases then draw fresh entropy)."""
    return _State.seed


@contextlib.contextmanager
def grading_seed(seed: str | None) -> Iterator[None]:
    """Draw the random cases from ``seed`` (a grading seed, or None for fresh entropy) inside the block."""
    saved = _State.seed
    _State.seed = None if seed is None else valid_seed(seed)
    try:
        yield
    finally:
        _State.seed = saved


def case_seed(seed: str, function: str) -> int:
    """The integer that seeds ``function``'s random cases under the grading seed ``seed``."""
    digest = hashlib.sha256(f"{DERIVATION}\0{valid_seed(seed)}\0{function}".encode()).digest()
    return int.from_bytes(digest, "big")


def case_rngs(function: str, count: int = RANDOM_CASES) -> list[np.random.Generator]:
    """One independent Generator per random case of ``function`` (see the module docstring for the seed)."""
    seed = _State.seed
    root = np.random.SeedSequence(None if seed is None else case_seed(seed, function))
    return [np.random.default_rng(child) for child in root.spawn(count)]


# ---------------------------------------------------------------------------
# Hooks for the grader and the tests
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def record_draws(callback: Callable[[str, str, bool, str], None]) -> Iterator[None]:
    """Inside the block, each call a hidden check makes is reported as ``callback(function, test, random, digest)``.

    ``digest`` is the SHA-256 of the call's arguments (:func:`inputs_digest`); ``random`` tells a
    random case from a fixed one. The grader writes these to its test-only draw log.
    """
    saved = _State.recorder
    _State.recorder = callback
    try:
        yield
    finally:
        _State.recorder = saved


def recorder() -> Callable | None:
    return _State.recorder


@contextlib.contextmanager
def random_cases_only(case: int | None = None) -> Iterator[None]:
    """Inside the block, hidden checks skip their fixed cases, and with ``case`` (1, 2, ...) every other random one.

    For the tests of the random cases on their own: each must catch every catalogued bug.
    """
    saved = _State.random_only, _State.only_case
    _State.random_only, _State.only_case = True, case
    try:
        yield
    finally:
        _State.random_only, _State.only_case = saved


def fixed_cases_enabled() -> bool:
    return not _State.random_only


def case_enabled(number: int) -> bool:
    """Whether random case ``number`` (from 1) runs (all do, except under :func:`random_cases_only` with a case)."""
    return _State.only_case is None or _State.only_case == number


def inputs_digest(args, kwargs) -> str:
    """SHA-256 over the dtypes, shapes and bytes of the arrays (and the reprs of other values) of a call."""
    h = hashlib.sha256()

    def feed(value):
        if isinstance(value, np.ndarray):
            h.update(f"array {value.dtype.str} {value.shape}\0".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        elif isinstance(value, (tuple, list)):
            h.update(f"{type(value).__name__} {len(value)}\0".encode())
            for item in value:
                feed(item)
        elif isinstance(value, dict):
            h.update(f"dict {len(value)}\0".encode())
            for key in sorted(value, key=str):
                h.update(f"{key}\0".encode())
                feed(value[key])
        elif isinstance(value, np.random.Generator):
            h.update(f"rng {value.bit_generator.state}\0".encode())
        elif isinstance(value, (bytes, bytearray)):
            h.update(b"bytes\0" + bytes(value))
        elif isinstance(value, io.BytesIO):
            h.update(b"BytesIO\0" + value.getvalue())
        elif isinstance(value, (str, os.PathLike)) and os.path.isfile(value):
            # A file the check wrote into a temporary folder: its name changes every time, its content does not.
            with open(value, "rb") as f:
                h.update(f"file {type(value).__name__}\0".encode() + f.read())
        elif callable(value):  # a function the check passes (numerical_gradient's f): its name is enough
            h.update(f"callable {getattr(value, '__qualname__', type(value).__name__)}\0".encode())
        else:
            h.update(f"{type(value).__name__} {value!r}\0".encode())

    feed(list(args))
    feed(dict(kwargs))
    return h.hexdigest()
