"""The operating-system sandbox (bubblewrap) of graded code, tried with real submissions through `mnistlab grade`.

A class of ``a2_relu_softmax`` submissions is graded once by the real command
(real nbgrader, real sandboxed kernels, the real isolated re-check in its own
sandbox); each test reads that student's points back from the gradebook. Each
attack sits in a solution cell *after* the function's definition, so that the
function itself is correct: every function must keep its points, and the attack
must be stopped (with its message in the cell's output and the feedback).

Also: the same confinement with the in-process guard switched off (the kernel
started without its start-up file) still shows nothing of the course, and the
degraded mode (sandbox forced off) grades, warns once and flags every row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from assignment_bugs import harness as h
from process_helpers import left_after, processes_with
from mnistlab.checks import GRADED, grade_id
from mnistlab.grader import os_sandbox
from mnistlab.grader.settings import DISK_LIMIT_MB, FILE_LIMIT, OPEN_FILES_LIMIT, PROCESS_LIMIT

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

A = "a2_relu_softmax"
POINTS = {"relu": 1.0, "sigmoid": 2.0, "softmax": 2.0, "log_softmax": 2.0, "cross_entropy": 3.0}
GIB = 1 << 30



def require_sandbox():
    """These tests are about the sandbox: where the OS refuses it, they fail and say why (no silent skip)."""
    reason = os_sandbox.unavailable_reason()
    assert reason is None, f"no OS sandbox on this machine ({reason}): `make system-deps` installs bubblewrap"


class Listener:
    """A TCP server on 127.0.0.1 that records every connection and every byte it receives."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections, self.received = 0, b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(1)
                try:
                    self.received += conn.recv(65536)
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


class DiskPeak:
    """The largest growth of the used space of the file system holding ``folder``, polled in a thread."""

    def __init__(self, folder):
        self.folder, self.base = folder, shutil.disk_usage(folder).used
        self.peak, self.stop = 0, threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self):
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, shutil.disk_usage(self.folder).used - self.base)

    def close(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak


def solution_cell(nb, function: str):
    return next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == function)


def attacks(port: int) -> dict[str, tuple[str, str]]:
    """student -> (the solution cell the attack follows, the attack's code)."""
    return {
        "disk_hog": ("relu", "open('notes.txt', 'w').write('written while graded')\n"
                             "with open('big.bin', 'wb') as f:\n"
                             "    for _ in range(3 * 1024):  # 3 GiB\n"
                             "        f.write(bytes(1 << 20))\n"),
        "many_files": ("sigmoid", "for i in range(20_000):\n    open(f'f{i}.txt', 'w').close()\n"),
        "open_files": ("softmax", "handles = [open(f'h{i}.txt', 'w') for i in range(20_000)]\n"),
        "fork": ("log_softmax", "import os\nwhile True:\n    if os.fork() == 0:\n        os._exit(0)\n"),
        "cat_passwd": ("cross_entropy", "import subprocess\n"
                                        "print(subprocess.run(['cat', '/etc/passwd'], capture_output=True).stdout)\n"),
        "network": ("relu", "import socket\n"
                            "try:\n"
                            f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                            "    s.sendall(b'answers of the hidden tests')\n"
                            "except OSError as exc:\n"
                            "    print('no network:', exc)\n"),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded once by `mnistlab grade` with two workers, while the disk and a listener are watched."""
    require_sandbox()
    course = h.make_course(tmp_path_factory.mktemp("os-sandbox"))
    listener = Listener()
    h.submit(course, A, "solution", h.student_notebook(course, A))
    for student, (function, code) in attacks(listener.port).items():
        nb = h.student_notebook(course, A)
        cell = solution_cell(nb, function)
        cell.source = cell.source + "\n\n" + code
        h.submit(course, A, student, nb)
    disk = DiskPeak(course.root)
    try:
        run = h.grade_with_command(course, A, cell_timeout=20)
    finally:
        peak = disk.close()
        listener.close()
    print(f"\nsandboxed class graded in {run['seconds']:.1f} s (exit {run['status']}); "
          f"peak extra disk {peak / 2**20:.0f} MiB")
    rows, results = run["rows"], run["results"]
    return course, rows, results, peak, listener


def points(course, student) -> dict:
    scores = h.gradebook_scores(course, A)[student]
    return {f: scores[grade_id(f)][0] for f in GRADED[A]}


def cell_errors(course, student, function) -> str:
    """The error output (traceback lines) of a solution cell in the autograded notebook."""
    nb = h.autograded_notebook(course, A, student)
    cell = solution_cell(nb, function)
    return "\n".join("\n".join(o.get("traceback", [])) for o in cell.outputs if o.get("output_type") == "error")


def feedback_page(course, student) -> str:
    return (course.root / "feedback" / student / A / f"{A}.html").read_text()


@pytest.mark.parametrize("student", ["solution", "disk_hog", "many_files", "open_files", "network"])
def test_stopped_attacks_cost_no_points_and_raise_no_flag(graded, student):
    course, rows, results, _, _ = graded
    assert points(course, student) == POINTS, results[student]
    assert results[student]["flags"] == [], results[student]["flags"]
    assert rows[student]["flags"] == ""


def test_a_3_gib_write_stops_at_the_limit_with_a_message(graded):
    course, _, _, peak, _ = graded
    errors = cell_errors(course, "disk_hog", "relu")
    assert "No space left on device" in errors, errors
    assert f"may write at most {DISK_LIMIT_MB} MB and {FILE_LIMIT:,} files" in errors
    assert f"may write at most {DISK_LIMIT_MB} MB" in feedback_page(course, "disk_hog")
    assert peak < GIB, f"the class took {peak / GIB:.2f} GiB of disk while it was graded"


@pytest.mark.parametrize("student", ["solution", "disk_hog", "many_files", "open_files"])
def test_only_what_was_submitted_goes_back(graded, student):
    course, _, _, _, _ = graded
    assert sorted(os.listdir(course.root / "autograded" / student / A)) == [f"{A}.ipynb"]
    assert sorted(os.listdir(course.root / "feedback" / student / A)) == [f"{A}.html"]


def test_20000_files_stop_at_the_file_limit(graded):
    course, _, _, _, _ = graded
    errors = cell_errors(course, "many_files", "sigmoid")
    assert "No space left on device" in errors and f"{FILE_LIMIT:,} files" in errors, errors
    assert f"{FILE_LIMIT:,} files" in feedback_page(course, "many_files")


def test_20000_open_files_stop_at_the_open_files_limit(graded):
    course, _, _, _, _ = graded
    errors = cell_errors(course, "open_files", "softmax")
    assert "Too many open files" in errors and f"at most {OPEN_FILES_LIMIT:,} files open" in errors, errors


@pytest.mark.parametrize("student,function,event", [("fork", "log_softmax", "os.fork"),
                                                     ("cat_passwd", "cross_entropy", "subprocess.Popen")])
def test_processes_are_stopped_and_flagged(graded, student, function, event):
    course, rows, results, _, _ = graded
    assert points(course, student) == POINTS, results[student]
    assert f"starting a process ({event}) is not allowed" in cell_errors(course, student, function)
    assert any(event in flag for flag in results[student]["flags"]), results[student]["flags"]
    assert "root:" not in feedback_page(course, student)  # /etc/passwd never printed


def test_the_listener_receives_nothing_from_kernel_or_recheck(graded):
    course, _, _, _, listener = graded
    assert listener.connections == 0 and listener.received == b""
    nb = h.autograded_notebook(course, A, "network")
    cell = solution_cell(nb, "relu")
    printed = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    assert "no network: [Errno 111] Connection refused" in printed, printed


# ---------------------------------------------------------------------------
# The in-process guard switched off: the OS sandbox alone
# ---------------------------------------------------------------------------

PROBE = """
import json, os, socket
seen = dict()
for name, path in TARGETS.items():
    try:
        with open(path, 'rb') as f:
            seen[name] = 'read %d bytes' % len(f.read())
    except OSError as exc:
        seen[name] = type(exc).__name__
for name, path in FOLDERS.items():
    try:
        seen[name] = 'listed %s' % sorted(os.listdir(path))
    except OSError as exc:
        seen[name] = type(exc).__name__
forks = 0
try:
    for _ in range(FORKS):
        if os.fork() == 0:
            import time
            time.sleep(3)
            os._exit(0)
        forks += 1
except OSError as exc:
    seen['fork'] = '%s after %d' % (type(exc).__name__, forks)
try:
    socket.create_connection(('127.0.0.1', PORT), timeout=2).sendall(b'leak')
    seen['network'] = 'sent'
except OSError as exc:
    seen['network'] = type(exc).__name__
print(json.dumps(seen))
"""


async def _run_in_kernel(km, code: str, cwd: str) -> dict:
    """Run ``code`` in a new kernel of ``km``; the JSON its last printed line holds."""
    out = []
    await km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        reply = await kc.execute_interactive(code, timeout=60, output_hook=lambda msg: out.append(msg))
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    text = "".join(m["content"].get("text", "") for m in out if m["msg_type"] == "stream")
    return json.loads(text.strip().splitlines()[-1])


def _run(coroutine):
    """``asyncio.run`` in a thread of its own: the suite's browser fixture (Playwright) keeps a loop running here."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_without_the_guard_the_os_sandbox_still_hides_the_course(tmp_path):
    """The kernel of a graded submission, confined exactly as the worker confines it, minus the guard.

    A plain kernel (the control) reads the gradebook, the sources and another student's
    submission and reaches the listener; the sandboxed one, whose guard is not installed
    (what a student who switched it off through ctypes would have), reaches none of them,
    and its fork bomb stops below the process limit.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets.config import Config

    from mnistlab.grader import worker

    require_sandbox()
    course = h.make_course(tmp_path / "course")
    for student in ("me", "other"):
        h.submit(course, A, student, h.student_notebook(course, A))
    private = tmp_path / "private" / "me"
    workdir = private / "autograded" / "me" / A
    workdir.mkdir(parents=True)
    other_private = tmp_path / "private" / "other" / "gradebook.db"
    other_private.parent.mkdir()
    other_private.write_bytes(b"another student's private gradebook")
    config = Config()
    env = worker.confine_kernels(private, course.root, "me", A, config, hidden_seed="0" * 64)
    listener = Listener()
    targets = {"gradebook": str(course.root / "gradebook.db"),
               "other student": str(course.root / "submitted" / "other" / A / f"{A}.ipynb"),
               "source": str(course.root / "source" / A / f"{A}.ipynb"),
               "other private folder": str(other_private),
               "home": str(next(p for p in sorted(Path.home().iterdir()) if p.is_file()))}
    folders = {"submitted": str(course.root / "submitted"), "private folders": str(tmp_path / "private")}
    code = f"TARGETS = {targets!r}\nFOLDERS = {folders!r}\nPORT = {listener.port}\n" + PROBE
    fork_bomb = "FORKS = 300\n"  # in the sandbox only: the plain kernel would really start them
    # No start-up file, no guard: for the plain kernel (no IPYTHONDIR) and the sandboxed one (no copy of it).
    kernel_env = {k: v for k, v in env.items() if k != "IPYTHONDIR"}
    config.SandboxedKernelManager.confinement = {
        k: v for k, v in config.SandboxedKernelManager.confinement.items() if k != "ipython_dir"}
    try:
        saved = dict(os.environ)
        os.environ.update(kernel_env)
        try:
            plain = _run(_run_in_kernel(AsyncKernelManager(), "FORKS = 0\n" + code, str(workdir)))
            sandboxed = _run(_run_in_kernel(
                os_sandbox.SandboxedKernelManager(config=config), fork_bomb + code, str(workdir)))
        finally:
            os.environ.clear()
            os.environ.update(saved)
    finally:
        listener.close()
    for name in ("gradebook", "other student", "source", "other private folder", "home"):
        assert plain[name].startswith("read"), plain
        assert sandboxed[name] == "FileNotFoundError", sandboxed
    assert plain["submitted"] == "listed ['me', 'other']" and plain["network"] == "sent", plain
    assert sandboxed["submitted"] == "FileNotFoundError", sandboxed
    assert plain["private folders"] == "listed ['me', 'other']", plain
    assert sandboxed["private folders"] == "listed ['me']", sandboxed  # only the way to its own start-up files
    assert sandboxed["network"] == "ConnectionRefusedError", sandboxed
    # RLIMIT_NPROC, or (as root, whom Linux exempts from it) a pids cgroup: the kernel's threads count too.
    assert sandboxed.get("fork", "").startswith("BlockingIOError after "), sandboxed
    assert int(sandboxed["fork"].split()[-1]) < PROCESS_LIMIT, sandboxed
    print(f"\nguard off, in the sandbox: {sandboxed}")
    assert listener.connections == 1 and listener.received == b"leak"  # the control's, and only it


# ---------------------------------------------------------------------------
# A sandboxed kernel ends with the process that graded it
# ---------------------------------------------------------------------------


#: A grading process's part, alone: start one sandboxed kernel, say so, then wait to be killed.
_KERNEL_OWNER = """
import asyncio, sys
from mnistlab.grader.os_sandbox import SandboxedKernelManager
async def main():
    km = SandboxedKernelManager(runtime={"dir": sys.argv[1]})
    await km.start_kernel(cwd=sys.argv[1])
    kc = km.client(); kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    print("ready", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


def test_a_sandboxed_kernel_ends_when_its_grading_process_is_killed(tmp_path):
    require_sandbox()
    marker = f"MNISTLAB_TEST_OWNER={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    owner = subprocess.Popen([sys.executable, "-c", _KERNEL_OWNER, str(tmp_path)], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        lines = []  # the kernel writes to the same stdout: its banner comes first
        while (line := owner.stdout.readline()) and line.strip() != "ready":
            lines.append(line)
        assert line.strip() == "ready", "".join(lines)
        running = processes_with(marker)
        assert any("ipykernel" in cmd for cmd in running.values()), running
        assert any(cmd.startswith("bwrap ") for cmd in running.values()), running
        owner.kill()  # SIGKILL: nothing of the grading process runs any more
        owner.wait(timeout=10)
        left = left_after(marker, 15)
        assert not left, f"still running 15 s after the grading process was killed: {left}"
    finally:
        owner.kill()
        left_after(marker, 0)


def test_the_lifeline_alone_ends_the_sandbox(tmp_path):
    """The grading process stays alive (so bwrap's --die-with-parent never fires); only the lifeline is cut."""
    require_sandbox()

    async def scenario():
        km = os_sandbox.SandboxedKernelManager(runtime={"dir": str(tmp_path)})
        await km.start_kernel(cwd=str(tmp_path))
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            process = km.provisioner.process
            await asyncio.sleep(1.0)
            alive_before = process.poll() is None
            km._cut_lifeline()
            for _ in range(100):
                if process.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            return alive_before, process.poll()
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    alive_before, exit_status = _run(scenario())
    assert alive_before, "the sandboxed kernel had ended before its lifeline was cut"
    assert exit_status is not None, "the sandbox was still running 10 s after its lifeline was cut"


# ---------------------------------------------------------------------------
# Degraded mode: no OS sandbox
# ---------------------------------------------------------------------------


def test_without_the_os_sandbox_grading_works_warns_once_and_flags_every_row(tmp_path):
    course = h.make_course(tmp_path / "course")
    for student in ("alice", "bob"):
        nb = h.student_notebook(course, A)
        cell = solution_cell(nb, "relu")
        cell.source += "\n\nopen('written.txt', 'w').write('x' * 1000)\n"
        h.submit(course, A, student, nb)
    env = {**os.environ, os_sandbox.SWITCH: "off", "MNISTLAB_CELL_TIMEOUT": "20",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    command = "import sys; from mnistlab import cli; sys.exit(cli.main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", command, "grade", A, "--course", str(course.root), "--jobs", "2",
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert output.count("WARNING: grading WITHOUT the operating-system sandbox") == 1, output[-3000:]
    assert f"turned off by {os_sandbox.SWITCH}=off" in output
    assert proc.returncode == 1, output[-3000:]  # flagged rows
    with open(course.root / "grades" / f"{A}.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    for student in ("alice", "bob"):
        assert points(course, student) == POINTS
        assert rows[student]["flags"] == os_sandbox.NO_SANDBOX_FLAG, rows[student]
        assert sorted(os.listdir(course.root / "autograded" / student / A)) == [f"{A}.ipynb"]
        assert sorted(os.listdir(course.root / "feedback" / student / A)) == [f"{A}.html"]


def test_plain_nbgrader_autograde_runs_the_kernel_in_the_os_sandbox(tmp_path):
    """nbgrader's own path (what `nbgrader autograde` and the formgrader's button run, with the course's config)."""
    require_sandbox()
    course = h.make_course(tmp_path)
    listener = Listener()
    chosen = attacks(listener.port)
    try:
        for student in ("network", "disk_hog"):
            function, code = chosen[student]
            nb = h.student_notebook(course, A)
            cell = solution_cell(nb, function)
            cell.source = cell.source + "\n\n" + code
            h.submit(course, A, student, nb)
        os.environ["MNISTLAB_CELL_TIMEOUT"] = "20"
        try:
            h.autograde(course, A, ["network", "disk_hog"])
        finally:
            del os.environ["MNISTLAB_CELL_TIMEOUT"]
    finally:
        listener.close()
    assert listener.connections == 0 and listener.received == b""
    assert points(course, "network") == POINTS
    out = "".join(o.get("text", "") for o in solution_cell(h.autograded_notebook(course, A, "network"), "relu").outputs)
    assert "no network:" in out, out
    errors = cell_errors(course, "disk_hog", "relu")
    assert "No space left on device" in errors and f"may write at most {DISK_LIMIT_MB} MB" in errors, errors
    assert sorted(os.listdir(course.root / "autograded" / "disk_hog" / A)) == [f"{A}.ipynb"]


def test_a_submission_that_plots_is_not_flagged(tmp_path):
    """a5 plots its training history: Matplotlib's first import in a kernel must not try to start fc-list."""
    a5 = "a5_sgd_momentum"
    course = h.make_course(tmp_path)
    h.submit(course, a5, "reference", h.student_notebook(course, a5))
    run = h.grade_with_command(course, a5, cell_timeout=300)
    row = run["rows"]["reference"]
    assert (row["score"], row["flags"]) == ("10", ""), row
