"""The course secret: what makes each student's hidden inputs impossible to compute in advance.

Design, ``Grading: threat model``; instructor guide ``book/07_instructor_guide.md``.

The secret is 32 random bytes (:func:`secrets.token_bytes`), written once as 64 hexadecimal digits
to :data:`SECRET_FILE` in the instructor's course folder (``assignments/.mnistlab-secret``; mode
0600; ignored by git), by ``mnistlab secret`` or by the first ``mnistlab grade`` (or nbgrader
``autograde``) that needs it. It is never copied anywhere: not into a released notebook (nbgrader
releases ``source/<assignment>/`` only), a feedback page, the grades CSV, a kernel or the isolated
re-check's process, all of which see at most one student's *grading seed*:

    grading seed = HMAC-SHA256(key = secret, message = "mnistlab grading seed v1" NUL assignment NUL student)

as 64 hexadecimal digits (:func:`grading_seed`). The hidden checks derive each function's
inputs from it (:mod:`mnistlab.checks.hidden_draws`). HMAC keeps the secret out of reach of
anyone who knows seeds (their own, or many students'), and the same secret, assignment and student
always give the same seed, so regrading gives the same scores.

Keep the file with the gradebook (back them up together). Deleting it makes the next grading
draw new inputs for everyone; submissions graded before keep their recorded grades unless regraded.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path

#: The secret's file name in the course folder.
SECRET_FILE = ".mnistlab-secret"
#: The HMAC message's prefix (bumped if the derivation ever changes).
DERIVATION = "mnistlab grading seed v1"
_SECRET_FORMAT = re.compile(r"[0-9a-f]{64}")


class SecretError(RuntimeError):
    """The course secret is missing, unreadable or malformed (the message says what to do)."""


def secret_path(course) -> Path:
    return Path(course) / SECRET_FILE


def read_secret(course) -> bytes:
    """The course's secret (32 bytes); SecretError if it is missing, unreadable or not 64 hexadecimal digits."""
    path = secret_path(course)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SecretError(f"the course secret {path} does not exist: create it with `mnistlab secret "
                          f"--course {Path(course)}` (or run `mnistlab grade`, which creates it)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"the course secret {path} cannot be read ({type(exc).__name__}: {exc}): it must be a "
                          "file the grading user can read (chmod 600), holding 64 hexadecimal digits") from None
    if not _SECRET_FORMAT.fullmatch(text):
        raise SecretError(f"the course secret {path} is not 64 lower-case hexadecimal digits: restore it from your "
                          "backup of the course, or delete it and run `mnistlab secret` to make a new one (the "
                          "hidden tests then draw new inputs for every student)")
    return bytes.fromhex(text)


def create_secret(course) -> Path:
    """Write a new secret to ``<course>/.mnistlab-secret`` (mode 0600); FileExistsError if there is one already.

    Written to a temporary file first and linked into place, so two graders starting at once
    end up with one secret, and no one ever reads a half-written file.
    """
    path = secret_path(course)
    fd, tmp = tempfile.mkstemp(prefix=".mnistlab-secret-", dir=Path(course))  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_bytes(32).hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if the secret exists: never replaces one
    finally:
        os.unlink(tmp)
    return path


def ensure_secret(course) -> tuple[bytes, bool]:
    """``(secret, created)``: the course's secret, made now if there was none."""
    created = False
    if not secret_path(course).exists():
        try:
            create_secret(course)
            created = True
        except FileExistsError:  # another grader made it a moment ago
            pass
    return read_secret(course), created


def loose_permissions(course) -> str | None:
    """A warning if users other than the owner may read the secret, else None."""
    try:
        mode = secret_path(course).stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (f"the course secret {secret_path(course)} can be read by other users (mode {stat.filemode(mode)}): "
                f"anyone who reads it can compute every student's hidden inputs; run chmod 600 on it")
    return None


def grading_seed(secret: bytes, assignment: str, student: str) -> str:
    """The seed of one student's hidden inputs for one assignment: 64 hexadecimal digits (see the module docstring)."""
    if len(secret) != 32:
        raise SecretError(f"a course secret is 32 bytes, got {len(secret)}")
    message = f"{DERIVATION}\0{assignment}\0{student}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------
# The draw log (tests only)
# ---------------------------------------------------------------------------

#: Naming a file, turns on the draw log: for each hidden call of the isolated re-check, one JSON line
#: ``{"student", "assignment", "function", "test", "random", "digest"}`` (the SHA-256 of the inputs,
#: never the inputs, the seed or the secret). Written by the grading process, never by student code,
#: and never part of a feedback page. For the test suite; an instructor has no use for it.
DRAW_LOG_ENV = "MNISTLAB_HIDDEN_DRAW_LOG"


def recording_draws(assignment: str, student: str):
    """A context in which the hidden checks' calls are appended to the draw log, if :data:`DRAW_LOG_ENV` names one."""
    import contextlib
    import json

    from mnistlab.checks import hidden_draws

    path = os.environ.get(DRAW_LOG_ENV)
    if not path:
        return contextlib.nullcontext()

    def record(function, test, random, digest):
        line = json.dumps({"student": student, "assignment": assignment, "function": function, "test": test,
                           "random": random, "digest": digest}) + "\n"
        with open(path, "a", encoding="utf-8") as f:  # one short append per line: parallel workers do not mix
            f.write(line)

    return hidden_draws.record_draws(record)
