"""The operating-system sandbox of graded code: bubblewrap around the kernel and the isolated re-check.

Design, ``Grading: threat model``: the kernel nbgrader runs a submission in and the
isolated re-check child (:mod:`mnistlab.grader.isolation`) run inside ``bwrap``
(bubblewrap, Debian package ``bubblewrap``). The in-process audit hook of
:mod:`mnistlab.grader.sandbox` stays as a second layer; this module is the boundary.

What a sandboxed process sees (:func:`bwrap_command`)
    * its own network, PID, IPC, UTS and cgroup namespaces (``--unshare-all``): a
      loopback interface that reaches nothing, no other process to signal;
    * read-only: the system folders (``/usr``, ``/etc``, ``/lib*``, ``/bin``,
      ``/sbin``), the Python installation and virtual environment, the ``mnistlab``
      package (the kernel only: the re-check child gets just its four script files),
      the MNIST folder, and the few grader files it needs (connection file, IPython
      start-up folder); everything else (the course with its gradebook and sources,
      the other students' private folders, the home folder) does not exist there.
      A hidden folder inside one of these is masked with an empty ``tmpfs``;
    * writable: one ``tmpfs`` at :data:`WRITABLE` of at most ``disk_mb`` MB and
      ``files`` files (``size=`` and ``nr_inodes=``): the working folder
      ``/sandbox/work`` (a copy of the submitted files), ``TMPDIR`` and ``HOME``, and the
      kernel's ZeroMQ sockets. The root, ``/tmp`` and ``/dev`` are read-only.
      Nothing the code writes reaches the instructor's disk; it vanishes with the
      process. The only host file it can write is the guard's report (the kernel's,
      bounded by ``RLIMIT_FSIZE``).

    ``bwrap``'s own options cannot set ``nr_inodes``: a short ``sh`` script
    (:data:`_SETUP`) runs first inside the sandbox with ``CAP_SYS_ADMIN`` (in the
    sandbox's user namespace), mounts the ``tmpfs``, copies the submission in, then
    drops every capability and the bounding set (``setpriv``) and sets the
    resource limits (``prlimit``: address space, processes, open files, CPU
    seconds, file size, no core files) before it executes the real command.
    ``RLIMIT_NPROC`` is set there, after the user namespace exists, because Linux
    also counts it against the namespace creator's limit for all of the user's
    processes. Linux does not enforce it for root: where a ``pids`` cgroup can be
    made (:class:`PidsCgroup`: cgroup v2 delegated, or v1 as in a root container),
    the sandbox's whole tree also runs in one with ``pids.max`` = ``processes``.

The kernel (:class:`SandboxedKernelManager`)
    nbclient's ``kernel_manager_class`` (nbgrader's ``Execute`` is an nbclient
    ``NotebookClient``). The kernel binds its ZeroMQ sockets with the IPC transport
    in ``/sandbox/k``; this process reaches them through ``/proc/<pid>/root``
    of the sandbox (``bwrap --info-fd`` gives the pid), so the kernel needs nothing
    writable outside its ``tmpfs``. ``bwrap`` ignores ``SIGINT`` (jupyter_client
    interrupts the kernel's process group); ipykernel restores Python's handler
    while a cell runs, so an interrupt stops the cell, not the sandbox.
    A kernel waits for messages forever, so it must not outlive its grading
    process: besides ``bwrap --die-with-parent`` (which a batch system's kill
    does not always reach: ``SIGTERM`` to every process, then ``SIGKILL`` to the
    ones still below the job), the sandbox has a *lifeline*, a pipe whose write
    end only the grading process holds; a process inside reads it and, when it
    ends, kills everything in the sandbox.

Where the OS refuses (:func:`unavailable_reason`)
    Probed once per process by starting the same sandbox around ``true``. Without
    it grading still runs, with the in-process guard and the same resource limits
    except processes; :func:`warn_once` prints :data:`WARNING` once and every grade
    row is flagged :data:`NO_SANDBOX_FLAG`. ``MNISTLAB_OS_SANDBOX=off`` forces this
    mode (for tests, or a machine where the probe hangs).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict

from mnistlab.grader.settings import (
    CPU_SECONDS_LIMIT, DISK_LIMIT_MB, FILE_LIMIT, MEMORY_LIMIT_MB, OPEN_FILES_LIMIT, PROCESS_LIMIT,
)

__all__ = ["Confinement", "SandboxedKernelManager", "PidsCgroup", "bwrap_command", "unavailable_reason", "warn_once",
           "NO_SANDBOX_FLAG", "WRITABLE", "WORKDIR"]

#: The writable ``tmpfs`` inside the sandbox, and what lives in it.
WRITABLE = "/sandbox"
WORKDIR = WRITABLE + "/work"
TMPDIR = WRITABLE + "/tmp"
HOME = WRITABLE + "/home"
#: The kernel's IPC sockets are ``<prefix>-<port>`` (short: ``sun_path`` holds 107 bytes).
SOCKET_PREFIX = WRITABLE + "/k/kernel"
#: Where the submitted files are bound read-only, to be copied into :data:`WORKDIR`.
_SUBMISSION = "/run/mnistlab/submission"
#: The same for the IPython folder with the guard's start-up file (IPython ignores a read-only one).
_IPYTHON = "/run/mnistlab/ipython"
IPYTHONDIR = WRITABLE + "/ipython"
#: Inodes of the tmpfs used by the grader itself (folders, sockets, Matplotlib's cache), on top of ``files``.
_RESERVED_INODES = 64
#: The environment variable that turns the sandbox off (``off``) for tests and odd machines.
SWITCH = "MNISTLAB_OS_SANDBOX"
#: The flag of every grade row graded without the OS sandbox.
NO_SANDBOX_FLAG = "graded without OS sandbox"
WARNING = (
    "\n" + "!" * 78 + "\n"
    "!! WARNING: grading WITHOUT the operating-system sandbox ({reason}).\n"
    "!! Submissions run with the in-process guard only: no network isolation, no disk quota,\n"
    "!! and a student who switches the guard off can read what the grading user can read.\n"
    "!! Every grade row is flagged \"" + NO_SANDBOX_FLAG + "\". Install bubblewrap (make system-deps)\n"
    "!! on a system that allows unprivileged user namespaces.\n" + "!" * 78 + "\n"
)
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")

# Runs as pid 2 of the sandbox with CAP_SYS_ADMIN in its user namespace: $1 MB and $2 inodes for the
# tmpfs at $3, the submission $4, the IPython folder $5, the lifeline's descriptor $6 (or -), then the
# command. Nothing of the submission is interpolated into it.
_SETUP = r"""set -e
mount -t tmpfs -o "size=${1}m,nr_inodes=$2,mode=0755" mnistlab-submission "$3"
mkdir -p "$3/work" "$3/tmp" "$3/home" "$3/k"
if [ -d "$4" ]; then cp -R "$4/." "$3/work/"; fi
if [ -d "$5" ]; then cp -R "$5" "$3/ipython"; fi
if [ -d "$5/matplotlib" ]; then cp -R "$5/matplotlib/." "$3/tmp/"; fi
if [ "$6" != - ]; then
  # The lifeline: the grading process holds the pipe's other end. However it ends (a batch system's
  # SIGTERM to every process can leave bwrap alive where its SIGKILL no longer looks, and --die-with-parent
  # then never fires), the read sees the end of the pipe and everything in the sandbox is killed; pid 1
  # (bwrap) then ends with its child, and the PID namespace with it.
  # It runs as a child of pid 1, not of the command (ipykernel signals its own children when it shuts
  # down), and reads through /proc (dash's redirections take one-digit descriptors only).
  (setpriv --inh-caps=-all --bounding-set=-all --no-new-privs -- \
    sh -c 'read -r _ < "/proc/self/fd/$0"; kill -KILL -1' "$6" &)
fi
cd "$3/work"
shift 6
exec setpriv --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
"""


@dataclass
class Confinement:
    """What one sandboxed process may see and use. Paths are absolute host paths, seen at the same place inside.

    Attributes
    ----------
    hidden : list of str
        Folders (or files) it must not see; masked where they fall inside a bound folder.
    readable : list of str
        Extra files or folders bound read-only (the connection file, the IPython start-up folder).
    writable_files : list of str
        Host files bound read-write (the guard's report: bounded by ``RLIMIT_FSIZE``).
    submission : str or None
        A folder whose top level is copied into :data:`WORKDIR` (counted against the quota).
    ipython_dir : str or None
        The kernel's IPython folder (:func:`mnistlab.grader.sandbox.kernel_startup_dir`): copied to
        :data:`IPYTHONDIR`, which becomes ``IPYTHONDIR``. IPython uses a folder only if it is writable;
        a copy inside the sandbox changes nothing for the next kernel, which gets a fresh one.
    package : bool
        Bind the ``mnistlab`` package (the kernel imports it; the re-check child must not).
    """

    hidden: list = field(default_factory=list)
    readable: list = field(default_factory=list)
    writable_files: list = field(default_factory=list)
    submission: str | None = None
    ipython_dir: str | None = None
    package: bool = True
    disk_mb: int = DISK_LIMIT_MB
    files: int = FILE_LIMIT
    processes: int = PROCESS_LIMIT
    open_files: int = OPEN_FILES_LIMIT
    cpu_seconds: int = CPU_SECONDS_LIMIT
    memory_mb: int = MEMORY_LIMIT_MB


# ---------------------------------------------------------------------------
# Availability
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def unavailable_reason() -> str | None:
    """Why graded code cannot run in the OS sandbox here (None: it can). Probed once per process."""
    if os.environ.get(SWITCH, "").strip().lower() in ("off", "0", "no", "false"):
        return f"turned off by {SWITCH}={os.environ[SWITCH]}"
    if sys.platform != "linux":
        return f"bubblewrap needs Linux, this is {sys.platform}"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        probe = subprocess.run(bwrap_command(["true"], Confinement(package=False)), capture_output=True,
                               text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not be started: {exc}"
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        return f"the OS refused the sandbox: {last[:200]}"
    return None


_warned: list = []


def warn_once(log=print) -> str | None:
    """Print :data:`WARNING` the first time grading runs without the sandbox; return the reason (None: sandboxed)."""
    reason = unavailable_reason()
    if reason is not None and not _warned:
        _warned.append(reason)
        log(WARNING.format(reason=reason))
    return reason


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def _python_dirs() -> list[str]:
    """The folders the Python interpreter and its installed packages live in."""
    import sysconfig

    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            os.path.dirname(os.path.realpath(sys.executable))}
    dirs |= {p for key in ("stdlib", "platstdlib", "purelib", "platlib") if (p := sysconfig.get_paths().get(key))}
    return sorted(d for d in {os.path.realpath(d) for d in dirs} if os.path.isdir(d))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def limit_prefix(c: Confinement, *, processes: bool = True) -> list[str]:
    """``prlimit`` options for the limits of ``c`` (before ``--`` and the command)."""
    opts = [f"--as={c.memory_mb << 20}", f"--nofile={c.open_files}", f"--cpu={c.cpu_seconds}",
            f"--fsize={c.disk_mb << 20}", "--core=0"]
    if processes:
        opts.append(f"--nproc={c.processes}")
    return ["prlimit", *opts, "--"]


def bwrap_command(command: list[str], c: Confinement, *, info_fd: int | None = None,
                  lifeline_fd: int | None = None, env: dict | None = None) -> list[str]:
    """The ``bwrap`` command line that runs ``command`` confined by ``c`` (see the module docstring).

    ``info_fd``: where ``bwrap`` writes its JSON (the sandbox's pid). ``lifeline_fd``: the read end of a
    pipe whose write end only the caller holds; the sandbox is killed when that end closes (a kernel,
    which otherwise waits for messages forever, must not outlive a grading process that was killed).
    Both must be passed to the ``bwrap`` process (``pass_fds``).
    """
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--uid", "0", "--gid", "0",
            "--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP", "--unsetenv", "JPY_PARENT_PID"]
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    bound = []
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
            bound.append(path)
    extra = _python_dirs()
    if c.package:
        extra.append(str(Path(__file__).resolve().parents[1]))
    from mnistlab.fetch import default_data_dir

    data = os.path.realpath(default_data_dir())
    env = dict(env or {})
    if os.path.isdir(data):
        extra.append(data)
        env.setdefault("MNISTLAB_DATA", data)  # HOME differs inside: say where the files are
    for path in sorted(set(extra)):
        if not any(_inside(path, b) for b in bound):
            args += ["--ro-bind", path, path]
            bound.append(path)
    for path in sorted({os.path.realpath(h) for h in c.hidden}):
        if any(_inside(path, b) for b in bound) and os.path.exists(path):
            args += ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]
    args += ["--proc", "/proc", "--dev", "/dev", "--dir", "/tmp", "--dir", WRITABLE]
    for path in c.readable:  # after the masks: a readable file may sit in a hidden folder
        args += ["--ro-bind", os.path.realpath(path), os.path.realpath(path)]
    for path in c.writable_files:
        args += ["--bind", os.path.realpath(path), os.path.realpath(path)]
    if c.submission:
        args += ["--ro-bind", os.path.realpath(c.submission), _SUBMISSION]
    if c.ipython_dir:
        args += ["--ro-bind", os.path.realpath(c.ipython_dir), _IPYTHON, "--setenv", "IPYTHONDIR", IPYTHONDIR]
    path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"])
    for key, value in {"HOME": HOME, "TMPDIR": TMPDIR, "MPLCONFIGDIR": TMPDIR, "PATH": path, **env}.items():
        args += ["--setenv", key, str(value)]
    args += ["--remount-ro", "/", "--remount-ro", "/dev"]
    setup = ["sh", "-c", _SETUP, "mnistlab-sandbox", str(int(c.disk_mb)), str(int(c.files) + _RESERVED_INODES),
             WRITABLE, _SUBMISSION, _IPYTHON, "-" if lifeline_fd is None else str(int(lifeline_fd))]
    return [*args, *setup, *limit_prefix(c), *command]


def read_info(fd: int, timeout: float = 30.0) -> dict:
    """The JSON ``bwrap --info-fd`` writes once the sandbox exists (``child-pid`` among it); closes ``fd``."""
    data, deadline = b"", time.monotonic() + timeout
    try:
        while True:
            try:
                return json.loads(data)
            except ValueError:
                pass
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(f"bwrap did not report its sandbox within {timeout:g} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError("bwrap ended before it created the sandbox" + (f": {data[:200]!r}" if data else ""))
            data += chunk
    finally:
        os.close(fd)


def _ignore_sigint() -> None:
    # jupyter_client interrupts a kernel by signalling its process group: bwrap must survive that.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class PidsCgroup:
    """A cgroup of its own with ``pids.max`` for one sandboxed process tree, where this process may make one.

    Linux does not apply ``RLIMIT_NPROC`` to root; a ``pids`` cgroup counts every
    process and thread of the tree whoever runs it. Used where the ``pids``
    controller is writable: cgroup v2 with the controller delegated to this
    process's cgroup, or cgroup v1's ``pids`` hierarchy (containers run as root);
    elsewhere ``path`` is None and ``RLIMIT_NPROC`` is the only limit.
    """

    _count = 0

    def __init__(self, limit: int):
        self.path = None
        PidsCgroup._count += 1
        name = f"mnistlab-{os.getpid()}-{PidsCgroup._count}"
        for root in self._candidates():
            self._sweep(root)
            try:
                os.mkdir(os.path.join(root, name))
                with open(os.path.join(root, name, "pids.max"), "w") as f:
                    f.write(str(int(limit)))
            except OSError:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(root, name))
                continue
            self.path = os.path.join(root, name)
            break

    @staticmethod
    def _sweep(root: str) -> None:
        """Remove the empty cgroups of grading processes that are gone (killed before they removed theirs)."""
        with contextlib.suppress(OSError):
            for entry in os.listdir(root):
                parts = entry.split("-")
                if len(parts) == 3 and parts[0] == "mnistlab" and parts[1].isdigit() \
                        and not os.path.exists(f"/proc/{parts[1]}"):
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(root, entry))

    @staticmethod
    def _candidates() -> list[str]:
        """This process's own cgroup folders that have the pids controller (v2 first, then v1)."""
        out = []
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return out
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                v2 = "/sys/fs/cgroup" + path.rstrip("/")
                with contextlib.suppress(OSError):
                    if "pids" in Path(v2, "cgroup.subtree_control").read_text().split():
                        out.insert(0, v2)
            elif "pids" in controllers.split(","):
                out.append("/sys/fs/cgroup/pids" + path.rstrip("/"))
        return [d for d in out if os.path.isdir(d) and os.access(d, os.W_OK)]

    def join(self) -> None:
        """Move the calling process into the cgroup (run in the child before ``exec``: its tree follows)."""
        if self.path is not None:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def remove(self) -> None:
        """Remove the cgroup once its processes have ended (a cgroup with processes left stays)."""
        for _ in range(20):  # killed processes leave the cgroup a moment after the kill
            if self.path is None:
                return
            try:
                os.rmdir(self.path)
                self.path = None
            except OSError:
                time.sleep(0.05)


def launch_hook(cgroup: PidsCgroup | None, *, ignore_sigint: bool = False):
    """The ``preexec_fn`` of a sandbox's ``bwrap``: join the pids cgroup, ignore SIGINT (kernels)."""

    def hook():
        if ignore_sigint:
            _ignore_sigint()
        if cgroup is not None:
            cgroup.join()

    return hook


def seed_matplotlib_cache(folder) -> None:
    """Put this (grading) process's Matplotlib font list into ``folder``, a kernel's ``MPLCONFIGDIR``.

    In an empty ``MPLCONFIGDIR`` Matplotlib's first import builds the list by running ``fc-list``: in a
    guarded kernel that is a refused process start, and every submission that plots (a5's training
    history) would be flagged for it. The list names system font files, the same inside the sandbox.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib
        import matplotlib.font_manager  # noqa: F401  (builds the list in this process's cache if missing)
    except Exception:  # noqa: BLE001 - no Matplotlib here: the kernel has none either
        return
    for font_list in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
        shutil.copy2(font_list, folder / font_list.name)


# ---------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run inside :func:`bwrap_command` (in-process guard only where unavailable).

    Configure ``confinement`` (the fields of :class:`Confinement`, JSON-ready) and
    ``runtime_dir`` (a host folder for the connection file and, without the
    sandbox, the sockets), e.g. ``c.SandboxedKernelManager.confinement = {...}``,
    and select it with ``c.Execute.kernel_manager_class``. The kernel's working
    folder (nbclient's ``cwd``) is copied into the sandbox's :data:`WORKDIR`.
    """

    confinement = Dict(help="Confinement(**confinement): what the kernel may see and use.").tag(config=True)
    runtime = Dict(help="{'dir': host folder for the connection file (and sockets without the sandbox)}").tag(
        config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        folder = Path(self.runtime.get("dir") or os.getcwd())
        folder.mkdir(parents=True, exist_ok=True)
        self.transport = "ipc"
        self.connection_file = str(folder / f"kernel-{os.getpid()}-{id(self):x}.json")
        self._host_ip = str(folder / "k")
        self.ip = self._inside_ip()
        self._cgroup = None
        self._lifeline = None  # the write end of the running sandbox's lifeline (bwrap_command)

    def _release_cgroup(self) -> None:
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

    def _cut_lifeline(self) -> None:
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        self._cut_lifeline()  # whatever is left of the sandbox ends
        self._release_cgroup()  # the kernel has ended: its cgroup is empty

    def _inside_ip(self) -> str:
        return SOCKET_PREFIX if unavailable_reason() is None else self._host_ip

    async def _async_pre_start_kernel(self, **kw):
        self.ip = self._inside_ip()  # the connection file names the sockets as the kernel sees them
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        c = Confinement(**self.confinement)
        if unavailable_reason() is not None:
            return await super()._async_launch_kernel([*limit_prefix(c, processes=False), *kernel_cmd], **kw)
        c.readable = [*c.readable, self.connection_file]
        c.submission = kw.get("cwd") or c.submission
        read_end, write_end = os.pipe()
        self._cut_lifeline()
        lifeline_end, self._lifeline = os.pipe()  # non-inheritable: no other child gets the write end
        self._release_cgroup()
        self._cgroup = PidsCgroup(c.processes)
        kw = {**kw, "pass_fds": (write_end, lifeline_end),
              "preexec_fn": launch_hook(self._cgroup, ignore_sigint=True)}
        try:
            await super()._async_launch_kernel(
                bwrap_command(kernel_cmd, c, info_fd=write_end, lifeline_fd=lifeline_end), **kw)
        finally:
            os.close(write_end)
            os.close(lifeline_end)
        child = read_info(read_end)["child-pid"]
        # This side connects through the sandbox's own root: nothing of it is writable from there.
        self.ip = f"/proc/{int(child)}/root{SOCKET_PREFIX}"
