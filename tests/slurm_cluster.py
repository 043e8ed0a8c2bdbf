"""A one-node Slurm cluster on localhost for the tests: Debian's munge, slurmctld and slurmd, started and stopped.

Everything the cluster writes lives in one temporary folder of its own: the
munge key and socket, ``slurm.conf``, the controller's StateSaveLocation,
slurmd's spool, the pid and log files. The ports are free ones picked at
start, so the cluster clashes neither with a system Slurm nor with another
test's cluster. The daemons run as root (slurmd must be able to start jobs as
their user), with process tracking by parent pid and no task plugin, which
needs no cgroups (``man slurm.conf``: ProctrackType, TaskPlugin).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: Debian's packages the cluster needs (slurm-client, with sbatch, comes with them).
PACKAGES = ("slurmctld", "slurmd", "munge")
#: The programs the cluster and the test run.
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "scontrol")
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])


def program(name: str) -> str:
    """The full path of a Slurm or munge program (the daemons live in /usr/sbin, not always on PATH)."""
    return shutil.which(name, path=_SEARCH_PATH) or name


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if shutil.which(p, path=_SEARCH_PATH) is None]


def install_reason() -> str | None:
    """Install Debian's Slurm and munge if missing; return why the cluster cannot run here, or None."""
    if os.geteuid() != 0:
        return ("the one-node Slurm cluster runs its daemons as root (slurmd starts the jobs), "
                f"and this test runs as uid {os.geteuid()}")
    if not missing_programs():
        return None
    apt = shutil.which("apt-get", path=_SEARCH_PATH)
    if apt is None:
        return (f"{', '.join(missing_programs())} not installed and no apt-get to install Debian's "
                f"{' '.join(PACKAGES)} (not a Debian machine?)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            return f"`{' '.join(command)}` failed (exit status {done.returncode}):\n{tail}"
    if missing_programs():
        return f"{', '.join(missing_programs())} still missing after installing {' '.join(PACKAGES)}"
    return None


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on localhost now (all held open at once while picking, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def node_line(name: str) -> str:
    """The node's CPUs, sockets, cores and memory as slurmd detects them (``slurmd -C``), named ``name``."""
    out = subprocess.run([program("slurmd"), "-C"], capture_output=True, text=True, check=True, timeout=60).stdout
    line = next(l for l in out.splitlines() if l.startswith("NodeName="))
    hardware = line.split(None, 1)[1]  # CPUs=2 Boards=1 ... RealMemory=24105
    return f"NodeName={name} NodeHostname=localhost NodeAddr=127.0.0.1 {hardware} State=UNKNOWN"


class LocalCluster:
    """munged, slurmctld and slurmd in ``root`` (a fresh temporary folder by default)."""

    NODE = "mnistlab-node"
    PARTITION = "grading"

    def __init__(self, root: Path | None = None):
        # munged insists that every folder above its socket be searchable by all: not pytest's 0700 tmp_path.
        self.root = Path(root or tempfile.mkdtemp(prefix="mnistlab-slurm-"))
        self.root.chmod(0o755)
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "socket"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.started: list[tuple[str, Path]] = []  # (daemon, its pid file), in start order
        self.start_seconds = 0.0

    # -- configuration ---------------------------------------------------------------------------

    def write_config(self) -> None:
        r = self.root
        for folder in ("munge", "state", "spool"):
            (r / folder).mkdir(mode=0o700, exist_ok=True)
        (r / "munge").chmod(0o755)  # the socket's folder: reachable by clients
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        controller_port, node_port = free_ports(2)
        self.conf.write_text("\n".join([
            "ClusterName=mnistlab-test",
            "SlurmctldHost=localhost",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"SlurmctldPort={controller_port}",
            f"SlurmdPort={node_port}",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'slurmd.log'}",
            # No cgroups here: processes are tracked by parent pid, tasks are not confined.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "MpiDefault=none",
            "ReturnToService=2",
            "KillWait=5",  # seconds between scancel's SIGTERM and SIGKILL
            "MailProg=/bin/true",
            node_line(self.NODE),
            f"PartitionName={self.PARTITION} Nodes={self.NODE} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))

    # -- daemons ---------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Start munged, slurmctld and slurmd; return when the node is idle (else raise with the logs)."""
        begin = time.monotonic()
        self.write_config()
        m = self.root / "munge"
        self._daemon("munged", m / "pid", ["munged", f"--socket={self.munge_socket}", f"--key-file={m / 'munge.key'}",
                                           f"--pid-file={m / 'pid'}", f"--log-file={m / 'log'}",
                                           f"--seed-file={m / 'seed'}"])
        self._daemon("slurmctld", self.root / "slurmctld.pid", ["slurmctld", "-f", str(self.conf)])
        self._daemon("slurmd", self.root / "slurmd.pid", ["slurmd", "-f", str(self.conf), "-N", self.NODE])
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False).stdout.strip()
            if state == "idle":
                self.start_seconds = time.monotonic() - begin
                return
            time.sleep(0.3)
        raise RuntimeError(f"the Slurm node is {state or 'not reported'} after {timeout:.0f} s\n" + self.logs())

    def _daemon(self, name: str, pid_file: Path, command: list[str]) -> None:
        # Each daemon forks into the background once it is ready and writes its pid file.
        done = subprocess.run([program(command[0]), *command[1:]], env=self.env, capture_output=True, text=True,
                              timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{name} did not start (exit status {done.returncode}): {done.stderr.strip()}\n"
                               + self.logs())
        for _ in range(100):
            if pid_file.is_file() and pid_file.read_text().strip():
                self.started.append((name, pid_file))
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} started but wrote no pid file {pid_file}\n" + self.logs())

    def stop(self) -> list[str]:
        """Cancel every job, stop the daemons this cluster started (newest first); return those that needed SIGKILL.

        Safe to call when the start failed half-way, and more than once.
        """
        killed = []
        if "slurmctld" in self.alive():
            self.run(["scancel", "--quiet", f"--partition={self.PARTITION}"], check=False)
            self._wait(lambda: not self.run(["squeue", "-h"], check=False).stdout.strip(), 30)
        for name, pid_file in reversed(self.started):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().split()[0])
                if not _alive(pid):
                    continue
                os.kill(pid, signal.SIGTERM)
                if not self._wait(lambda: not _alive(pid), 20):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(name)
                    self._wait(lambda: not _alive(pid), 10)
        return killed

    def alive(self) -> list[str]:
        """The daemons of this cluster still running."""
        out = []
        for name, pid_file in self.started:
            with contextlib.suppress(OSError, ValueError):
                if _alive(int(pid_file.read_text().split()[0])):
                    out.append(name)
        return out

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # -- jobs ------------------------------------------------------------------------------------

    def run(self, command: list[str], *, check: bool = True, env: dict | None = None, cwd=None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster (``SLURM_CONF`` set)."""
        done = subprocess.run([program(command[0]), *command[1:]], env={**self.env, **(env or {})}, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"`{' '.join(command)}` failed (exit status {done.returncode}):\n"
                               f"{done.stdout}{done.stderr}")
        return done

    def sbatch(self, args: list[str], *, env: dict, cwd: Path) -> str:
        """Submit; return the job id."""
        out = self.run(["sbatch", "--parsable", *args], env=env, cwd=cwd).stdout.strip()
        return out.split(";")[0]

    def queued(self, job: str) -> list[str]:
        """The job's tasks still pending or running (``squeue -h -j``): ``<job>_<task>`` ids."""
        done = self.run(["squeue", "-h", "-r", "-j", job, "-o", "%i"], check=False)
        return done.stdout.split()

    def wait_gone(self, job: str, timeout: float) -> float:
        """Poll squeue until ``job`` (or ``<job>_<task>``) has left the queue; return the seconds waited."""
        begin = time.monotonic()
        if not self._wait(lambda: not self.queued(job), timeout):
            raise TimeoutError(f"Slurm job {job} still queued after {timeout:.0f} s: {self.queued(job)}\n"
                               + self.logs())
        return time.monotonic() - begin

    def logs(self, lines: int = 15) -> str:
        out = []
        for path in (self.root / "munge" / "log", self.root / "slurmctld.log", self.root / "slurmd.log"):
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(out)

    @staticmethod
    def _wait(ready, timeout: float, step: float = 0.25) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return True
            time.sleep(step)
        return ready()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as stopped.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True
