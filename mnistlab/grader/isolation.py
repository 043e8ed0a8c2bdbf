"""The isolated re-check: the graded functions of a notebook, checked where its code cannot interfere.

Design, ``Grading: threat model``. In nbgrader a submission runs in the same
kernel as the autograder's tests, so it can monkeypatch ``mnistlab.checks``,
NumPy or builtins, or call the reference (``mnistlab.functional.relu``).
:func:`recheck_notebook` runs the notebook's code in a separate, resource-limited
process (``mnistlab/grader/isolated_child.py``) in which ``mnistlab`` is only a set of
stand-ins, and runs the *real* checks of :mod:`mnistlab.checks` here, in this
(trusted) process, on proxies of the student's functions. Every call of a
student's function is a remote call; the check's comparisons run here, with this
process's NumPy and builtins.

The child
    ``[sys.executable, "-I", isolated_child.py, <fd>, <fd>]`` (in the OS sandbox, see
    below) in a fresh empty temporary directory, with a minimal environment, stdin/stdout/stderr on
    /dev/null, its own session, ``RLIMIT_AS`` = ``memory_mb``, ``RLIMIT_FSIZE``
    64 MB and no core files. ``mnistlab/grader/sandbox.py`` is loaded by file path in
    the child (which does not start without it); its ``install_guard`` hides
    ``hidden_dirs`` and the real ``mnistlab`` package, and refuses writes outside
    the child's temporary directory. The child is killed (SIGKILL, its process group and descendants)
    when the re-check ends, whatever happens.

Cells
    The notebook's code cells run in order, except the autograder's test cells
    (``nbgrader.grade`` true and ``solution`` false); each within ``cell_timeout``
    seconds. Errors in cells are ignored (as nbgrader does); a cell that hangs or
    ends the process is skipped: a new child re-runs the cells before it.

The protocol
    Plain data travels by value (numbers, strings, bytes, paths, tuples, lists,
    dicts with str keys, numeric/bool NumPy arrays and scalars, dtypes, NumPy
    Generators with their state); anything else by handle, used through a proxy
    (a class arrives as a class). Arrays keep their identity and in-place
    changes flow back (``orig[...] = new``), so checks of "x is restored" or
    "the input is not modified" behave as in-process. Nothing from the child is
    ever unpickled or evaluated. See :mod:`mnistlab.grader.isolation_wire` (the wire format, proxies)
    and :mod:`mnistlab.grader.isolation_endpoint` (the codec, array tracking), used by both sides.

Flags
    "uses the reference mnistlab.<name>" when a graded call used a stand-in;
    the guard's refusals (e.g. "mnistlab grading: reading /x/gradebook.db is not
    allowed: ...") during a graded call are flags of that function. Refusals at
    the top level of the notebook (outside graded calls) and cells skipped for a
    hang or a crash are added to *every* function's flags, prefixed
    :data:`TOP_LEVEL_PREFIX` ("top level: "). Flags come from the untrusted process
    and are advisory; the verdict (``passed``) depends only on the checks run here.

Cost
    One child per notebook (a new one only after a timeout or a crash): about
    0.15 s for a2's five functions. Each call of a student's function is a round
    trip of a few hundred microseconds; arrays travel through shared memory
    (sealed memfds), and only the arrays the child changed come back. The a5
    training run (~5,600 calls of ``sgd_momentum``, a (784, 100) float32 array
    among them) takes about 4 s instead of about 1 s in-process. During a re-check
    this process's OpenBLAS runs on one thread (:func:`_one_blas_thread`).

The operating-system sandbox
    Where it is available (:func:`mnistlab.grader.os_sandbox.unavailable_reason`),
    the child runs inside ``bwrap`` (:func:`mnistlab.grader.os_sandbox.bwrap_command`):
    no network, no other process, the system and Python read-only, of the package
    only its four script files (:data:`CHILD_FILES`; the reference source does not
    exist there), this side's temporary folder read-only (the checks' input files),
    and a tmpfs of 100 MB / 10,000 files as its only writable place; the resource
    limits are set inside by ``prlimit``. The guard stays as a second layer.

What a hostile child can still do
    The verdict cannot be forged (only values cross, and the checks run here). The
    child can use CPU until the timeouts and memory up to ``memory_mb``, forge or
    suppress its own flags, and, with the skills the guard's docstring describes,
    switch the guard off: then, in the OS sandbox, it still sees only what is
    listed above. Without the OS sandbox (rows flagged "graded without OS
    sandbox") it can use the network, read any file the user can read outside the
    hidden folders and, with the guard off, signal or ptrace the grader or read
    the hidden folders.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import linecache
import mmap
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from mnistlab.grader import isolation_wire as _wire
from mnistlab.grader import os_sandbox
from mnistlab import checks
from mnistlab.checks import hidden_draws
from mnistlab.data import IDXFormatError
from mnistlab.grader.course_secret import recording_draws
from mnistlab.grader.isolation_endpoint import Endpoint
from mnistlab.grader.processes import kill_tree
from mnistlab.grader.sandbox import set_memory_limit

__all__ = ["IsolatedVerdict", "recheck_notebook", "TOP_LEVEL_PREFIX"]

#: The isolated process's script (run by file path; it loads its siblings isolation_wire and
#: isolation_endpoint from the same folder).
CHILD_SCRIPT = Path(__file__).resolve().parent / "isolated_child.py"
#: The whole mnistlab package (its reference source included) is hidden from the child.
PACKAGE_DIR = CHILD_SCRIPT.parents[1]
SANDBOX_FILE = CHILD_SCRIPT.parent / "sandbox.py"
#: All the child reads of the package (in the OS sandbox, the rest does not exist there).
CHILD_FILES = [str(CHILD_SCRIPT.parent / f"{name}.py") for name in
               ("isolated_child", "isolation_wire", "isolation_endpoint", "sandbox")]
FSIZE_LIMIT = 64 << 20
#: Shared memory per direction for the arrays of one message (larger messages go through the pipe).
SHM_BYTES = 32 << 20
#: Prefix of the flags raised at the notebook's top level (added to every function's flags).
TOP_LEVEL_PREFIX = "top level: "
_STARTUP_TIMEOUT = 60.0
_CONTROL_TIMEOUT = 10.0


@dataclass
class IsolatedVerdict:
    """The isolated re-check's verdict on one graded function."""

    function: str
    passed: bool
    message: str = ""
    flags: list = field(default_factory=list)
    seconds: float = 0.0




class _ChildLost(BaseException):
    """The child timed out, ended, or sent a malformed message (ends the current function)."""


# ---------------------------------------------------------------------------
# Tracebacks: the student's frames, rebuilt without running the student's code
# ---------------------------------------------------------------------------

_FRAME_TEMPLATE = next(
    c for c in compile("def _f(nxt, exc):\n    raise (exc if nxt is None else nxt())\n", "<t>", "exec").co_consts
    if isinstance(c, types.CodeType)
)
_CELL_FILE = re.compile(r"^<cell (\d{1,5})>$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


class _Frames:
    """Fake frames named after the child's (filename, line, function) so tracebacks point at the notebook."""

    def __init__(self):
        self.token = os.urandom(4).hex()
        self.files: set[str] = set()

    def filename(self, child_name: str) -> str:
        """A name for a child's frame: a cell ("<...>": "your notebook" in messages) or a short relative path."""
        m = _CELL_FILE.match(child_name)
        if m:
            return f"<notebook cell {m.group(1)} {self.token}>"
        parts = [p for p in child_name.replace("\\", "/").split("/") if p][-2:]
        if not child_name.startswith("<") and parts and \
                all(_SAFE_PATH.match(p) and p not in (".", "..") for p in parts):
            return "/".join(parts)  # relative: linecache serves the line the child sent, never a file
        return f"<isolated {self.token}>"

    def traceback(self, exc: BaseException, frames):
        """A traceback whose frames are named after the child's (no code of the child runs)."""
        chain = None
        if isinstance(frames, list):
            for item in reversed(frames[-8:]):
                if not (isinstance(item, list) and len(item) == 4 and isinstance(item[0], str)
                        and type(item[1]) is int and isinstance(item[2], str) and isinstance(item[3], str)):
                    continue
                fname = self.filename(item[0])
                lineno = max(1, min(item[1], 100_000))
                name = item[2] if re.match(r"^[A-Za-z_<>][A-Za-z0-9_<>.]{0,99}$", item[2]) else "<code>"
                self._register_line(fname, lineno, item[3])
                code = _FRAME_TEMPLATE.replace(co_name=name, co_qualname=name, co_filename=fname,
                                               co_firstlineno=max(1, lineno - 1))
                fn = types.FunctionType(code, {})
                chain = functools.partial(fn, chain, exc)
        if chain is None:
            return None
        try:
            chain()
        except BaseException as raised:
            tb = raised.__traceback__.tb_next  # leave out this frame
        else:  # pragma: no cover - the chain always raises
            return None
        exc.__traceback__ = None
        return tb

    def _register_line(self, fname: str, lineno: int, text: str) -> None:
        entry = linecache.cache.get(fname)
        lines = list(entry[2]) if entry and fname in self.files else []
        if len(lines) < lineno:
            lines.extend(["\n"] * (lineno - len(lines)))
        lines[lineno - 1] = text.replace("\n", " ")[:300] + "\n"
        linecache.cache[fname] = (sum(map(len, lines)), None, lines, fname)
        self.files.add(fname)

    def clear(self) -> None:
        for fname in self.files:
            linecache.cache.pop(fname, None)
        self.files.clear()


# ---------------------------------------------------------------------------
# The child process
# ---------------------------------------------------------------------------


def _limits(memory_mb: int):
    def apply():
        set_memory_limit(memory_mb)  # as the kernel's: within a lower hard limit the instructor set
        resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large file fails with EFBIG instead

    return apply



class _Child:
    """One isolated process and the parent's endpoint of its connection."""

    def __init__(self, memory_mb: int, hidden_dirs, on_flags, frames: _Frames):
        self.tmp = tempfile.mkdtemp(prefix="mnistlab-isolated-")
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        for fd in (to_child_w, from_child_r):
            _grow_pipe(fd)
        shm_fds = _shared_memory(SHM_BYTES)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.tmp,
            "TMPDIR": self.tmp,
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        self.stderr_path = Path(self.tmp) / "stderr.txt"  # capped by RLIMIT_FSIZE; read when the child dies
        hidden = [str(Path(d).resolve()) for d in hidden_dirs] + [str(PACKAGE_DIR)]
        command = [sys.executable, "-I", str(CHILD_SCRIPT), str(to_child_r), str(from_child_w),
                   *[str(fd) for fd in shm_fds]]
        writable, limits, self.cgroup = [self.tmp], _limits(memory_mb), None
        if os_sandbox.unavailable_reason() is None:
            # Its own network, nothing of the course, not even the package's reference source: only the
            # four scripts it runs, and this folder read-only (the checks' input files are written here).
            confinement = os_sandbox.Confinement(hidden=hidden, readable=[self.tmp, *CHILD_FILES], package=False,
                                                 memory_mb=memory_mb)
            command = os_sandbox.bwrap_command(command, confinement)
            # For the guard, the read-only folder stays "writable" (which makes it readable inside a hidden
            # one); the OS refuses every write to it. prlimit sets the limits inside.
            self.cgroup = os_sandbox.PidsCgroup(confinement.processes)
            writable, limits = [os_sandbox.WRITABLE, self.tmp], os_sandbox.launch_hook(self.cgroup)
        try:
            with open(self.stderr_path, "wb") as stderr:
                self.proc = subprocess.Popen(
                    command,
                    cwd=self.tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                    pass_fds=(to_child_r, from_child_w, *shm_fds), start_new_session=True,
                    preexec_fn=limits, close_fds=True,
                )
            shm = {}
            if shm_fds:
                shm = {"shm_out": mmap.mmap(shm_fds[0], 0), "shm_in": mmap.mmap(shm_fds[1], 0)}
        finally:
            for fd in (to_child_r, from_child_w, *shm_fds):
                os.close(fd)
        os.set_blocking(to_child_w, False)  # with deadlines: this side never blocks without a timeout
        os.set_blocking(from_child_r, False)
        self.ep = Endpoint(from_child_r, to_child_w, "p", special_exceptions={"IDXFormatError": IDXFormatError},
                           **shm)
        self.ep.on_flags = on_flags
        self.ep.traceback_hook = frames.traceback
        self.alive = True
        try:
            self.control("init", _STARTUP_TIMEOUT, sandbox=str(SANDBOX_FILE),
                         writable=writable, hidden=hidden)
        except BaseException as exc:
            text = self.exit_text() if isinstance(exc, _wire.Lost) else f"{type(exc).__name__}: {exc}"
            last = self.last_error_line()
            text += f" ({last})" if last else ""
            self.kill()
            raise _ChildLost(f"the isolated process could not start: {text}"[:500]) from None

    def control(self, op: str, timeout: float, **fields):
        """A request without values (init, exec, begin, end); returns the reply's value."""
        self.ep.deadline = time.monotonic() + timeout
        return self.ep.request(op, **fields)

    def last_error_line(self) -> str:
        """The last line the child wrote to stderr (e.g. why it could not start), if any."""
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(max(0, self.stderr_path.stat().st_size - 2000))
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def exit_text(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the process stopped answering"
        if code < 0:
            try:
                sig = signal.Signals(-code).name
            except ValueError:
                sig = str(-code)
            return f"the process was killed by signal {sig}"
        return f"the process ended (exit code {code})"

    def kill(self) -> None:
        if not self.alive:
            return
        self.alive = False
        try:
            kill_tree(self.proc)
        finally:
            for fd in (self.ep.rfd, self.ep.wfd):
                with contextlib.suppress(OSError):
                    os.close(fd)
            for region in (self.ep.shm_in, self.ep.shm_out):
                if region is not None:
                    with contextlib.suppress(Exception):
                        region.close()
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.cgroup is not None:
                self.cgroup.remove()


def _shared_memory(size: int) -> tuple:
    """Two sealed memfds of ``size`` bytes (parent to child, child to parent), or () where unavailable.

    Sealed against shrinking and growing: a child that could truncate the file would make the parent's
    next access to the mapping a SIGBUS.
    """
    if size <= 0 or not hasattr(os, "memfd_create"):
        return ()
    import fcntl

    fds: list[int] = []
    try:
        for name in ("to-child", "from-child"):
            fd = os.memfd_create(f"mnistlab-isolated-{name}", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            fds.append(fd)
            os.ftruncate(fd, size)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
        return tuple(fds)
    except (OSError, AttributeError):
        for fd in fds:
            os.close(fd)
        return ()


def _grow_pipe(fd: int) -> None:
    """A 1 MB pipe buffer (Linux) makes large arrays cross in fewer system calls."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ImportError):
        pass


# ---------------------------------------------------------------------------
# The notebook
# ---------------------------------------------------------------------------


def _code_cells(notebook_path) -> list[tuple[int, str]]:
    """(position in the notebook, from 1; source) of the code cells to run: all but the autograder's test cells."""
    with open(notebook_path, encoding="utf-8") as f:
        nb = json.load(f)
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("the notebook has no list of cells")
    out = []
    for position, cell in enumerate(nb["cells"], 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbg = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        if nbg.get("grade") is True and not nbg.get("solution"):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str):
            continue
        out.append((position, source))
    return out


_BLAS_SYMBOLS = (
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


@contextlib.contextmanager
def _one_blas_thread():
    """Run this process's OpenBLAS on one thread for the duration.

    The re-check alternates between this process and the child thousands of times
    (the a5 training run: ~5,600 round trips). OpenBLAS's idle worker threads spin
    for a while after each matrix product, and on a small machine they take the core
    the child needs: the training run re-check was 5x slower with two threads.
    """
    setter = previous = None
    try:
        import ctypes

        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for get_name, set_name in _BLAS_SYMBOLS:
                getter, setter = getattr(lib, get_name, None), getattr(lib, set_name, None)
                if getter is not None and setter is not None:
                    getter.restype = ctypes.c_int
                    previous = getter()
                    setter.argtypes = [ctypes.c_int]
                    setter(1)
                    break
            if previous is not None:
                break
    except (OSError, ImportError, AttributeError, ValueError):
        previous = None
    try:
        yield
    finally:
        if previous is not None and previous > 1:
            setter(previous)


@contextlib.contextmanager
def _restore_tempdir(saved):
    try:
        yield
    finally:
        tempfile.tempdir = saved


def _check_of(function: str):
    if function == "TwoLayerNet.loss":
        return "TwoLayerNet", checks.check_two_layer_net_loss
    return function, getattr(checks, f"check_{function}")


class _Recheck:
    def __init__(self, cells, *, hidden_dirs, memory_mb, cell_timeout):
        self.cells = cells
        self.hidden_dirs = tuple(hidden_dirs)
        self.memory_mb = memory_mb
        self.cell_timeout = cell_timeout
        self.child: _Child | None = None
        self.skipped: dict[int, str] = {}
        self.cell_errors: dict[int, str] = {}
        self.flags: dict = {}  # function name or None (top level) -> [text]
        self.frames = _Frames()
        self.starts = 0

    def _on_flags(self, flags) -> None:
        for scope, text in flags:
            bucket = self.flags.setdefault(scope, [])
            if text not in bucket and len(bucket) < 100:
                bucket.append(text)

    def close(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child = None
        self.frames.clear()

    def child_ready(self) -> _Child:
        """A live child in which the cells have run (a new one if needed)."""
        while self.child is None or not self.child.alive:
            self.starts += 1
            if self.starts > len(self.cells) + 8:
                raise _ChildLost("the isolated process could not be started")
            child = _Child(self.memory_mb, self.hidden_dirs, self._on_flags, self.frames)
            self.child = child
            for position, source in self.cells:
                if position in self.skipped:
                    continue
                try:
                    child.control("exec", self.cell_timeout, i=position, src=source)
                except (_wire.Lost, _wire.Malformed) as lost:
                    self.skipped[position] = self._lost_text(child, lost, f"cell {position}", self.cell_timeout)
                    child.kill()
                    break
                except Exception as exc:  # an error in the cell: ignored, as nbgrader does
                    self.cell_errors.setdefault(position, f"{type(exc).__name__}: {exc}"[:300])
        return self.child

    def _lost_text(self, child: _Child, lost, what: str, timeout: float) -> str:
        reason = lost.args[0] if lost.args else ""
        if isinstance(lost, _wire.Malformed):
            child.kill()
            return f"the isolated process sent a malformed reply while running {what}"
        if reason == "timeout":
            child.kill()
            return f"{what} did not finish within {timeout:g} s"
        text = child.exit_text()
        child.kill()
        return f"{text} while running {what}: sys.exit/os._exit/crash"

    def check(self, function: str, timeout: float) -> IsolatedVerdict:
        start = time.perf_counter()
        verdict = IsolatedVerdict(function, False)
        child = None
        try:
            child = self.child_ready()
            child.control("begin", _CONTROL_TIMEOUT, fn=function)
            child.ep.reset()
            child.ep.deadline = time.monotonic() + timeout
            verdict.passed, verdict.message = self._run_check(child, function)
        except (_wire.Lost, _wire.Malformed, _ChildLost) as lost:
            verdict.passed = False
            if isinstance(lost, _ChildLost) or child is None:
                verdict.message = str(lost)
            else:
                verdict.message = self._lost_text(child, lost, function, timeout)
        finally:
            verdict.seconds = time.perf_counter() - start
        if child is not None and child.alive:
            try:
                child.control("end", _CONTROL_TIMEOUT)
                child.ep.reset()
            except (_wire.Lost, _wire.Malformed, Exception):  # a child that misbehaves now is replaced
                child.kill()
        verdict.flags = list(self.flags.get(function, []))
        return verdict

    def _run_check(self, child: _Child, function: str) -> tuple[bool, str]:
        ep = child.ep
        out = io.StringIO()

        def lookup(name):
            try:
                return ep.request("lookup", name=name), None
            except NameError:
                notes = [text for _, text in sorted(self.skipped.items())]
                notes += [f"cell {p} raised {text}" for p, text in sorted(self.cell_errors.items())]
                note = f" ({'; '.join(notes[:3])})" if notes else ""
                return None, f"{function}: {name} is not defined: its cell did not run or raised an error{note}"

        # The checks' own temporary files (read_idx's test files) go where the child can read them,
        # whatever this process's TMPDIR is (it may be inside a hidden folder).
        saved_tempdir = tempfile.tempdir
        tempfile.tempdir = child.tmp
        with contextlib.redirect_stdout(out), _restore_tempdir(saved_tempdir):
            try:
                if function == "training_run":
                    values = {}
                    for name in ("sgd_momentum", "LEARNING_RATE", "MOMENTUM"):
                        values[name], missing = lookup(name)
                        if missing:
                            return False, missing
                    checks.check_training_run(values["sgd_momentum"], learning_rate=values["LEARNING_RATE"],
                                               momentum=values["MOMENTUM"])
                else:
                    name, check = _check_of(function)
                    fn, missing = lookup(name)
                    if missing:
                        return False, missing
                    check(fn, hidden=False)
                    check(fn, hidden=True)
            except checks.GradingFailure as failure:
                return False, str(failure)
            except Exception as exc:  # the check itself broke on what it was given
                return False, f"{function}: the check stopped with {type(exc).__name__}: {exc}"[:2000]
        return True, ""


def recheck_notebook(
    notebook_path,
    assignment: str,
    *,
    hidden_dirs=(),
    function_timeout: float = 30.0,
    training_timeout: float = 300.0,
    memory_mb: int = 3072,
    cell_timeout: float = 30.0,
    hidden_seed: str | None = None,
    student: str | None = None,
) -> dict[str, IsolatedVerdict]:
    """Re-check the graded functions of one submitted notebook in an isolated process.

    Returns ``{function: IsolatedVerdict}`` for every function of
    ``GRADED[assignment]``, in order. ``passed`` is true when the visible and the
    hidden checks pass. The check of a function (visible and hidden together)
    has ``function_timeout`` seconds (``training_timeout`` for the a5 training
    run); a function that times out, ends the process or exhausts its memory
    fails, and a new process (which re-runs the cells) checks the next one.

    The hidden checks' random cases draw their inputs here, in the grading process, from
    ``hidden_seed`` (the student's grading seed; None: fresh entropy); the child only ever sees the
    inputs it is called with. ``student`` labels the lines of the test-only draw log
    (:data:`mnistlab.grader.course_secret.DRAW_LOG_ENV`).
    """
    functions = checks.GRADED[assignment]
    try:
        cells = _code_cells(notebook_path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        text = f"the notebook could not be read: {type(exc).__name__}: {exc}"[:500]
        return {f: IsolatedVerdict(f, False, text) for f in functions}
    run = _Recheck(cells, hidden_dirs=hidden_dirs, memory_mb=memory_mb, cell_timeout=cell_timeout)
    verdicts: dict[str, IsolatedVerdict] = {}
    with contextlib.ExitStack() as stack:
        stack.enter_context(_one_blas_thread())
        stack.enter_context(hidden_draws.grading_seed(hidden_seed))
        stack.enter_context(recording_draws(assignment, student))
        stack.callback(run.close)
        for function in functions:
            timeout = training_timeout if function == "training_run" else function_timeout
            verdicts[function] = run.check(function, timeout)
    top = [TOP_LEVEL_PREFIX + text for text in run.flags.get(None, [])]
    skipped = [f"{TOP_LEVEL_PREFIX}skipped {text}" for text in run.skipped.values()]
    for verdict in verdicts.values():
        verdict.flags = verdict.flags + top + skipped
    return verdicts
