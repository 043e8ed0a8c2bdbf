"""Tests of mnistlab/grader/sandbox.py: the guard against student code touching files and processes.

Everything runs in real processes: a ``python -I`` child that loads the guard by
path (as the re-check subprocess does) and a real ipykernel started with the
IPython folder :func:`mnistlab.grader.sandbox.kernel_startup_dir` writes.
"""

from __future__ import annotations

import dis
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SANDBOX = Path(__file__).resolve().parents[1] / "mnistlab" / "grader" / "sandbox.py"

# The guard resolves descriptors through /proc and the tests fork: Linux only.
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading guard is tested on Linux")


def load_sandbox():
    """The module loaded by path, like the kernel start-up file and the re-check subprocess do."""
    spec = importlib.util.spec_from_file_location("_mnistlab_sandbox_test", SANDBOX)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sandbox_imports_only_the_standard_library():
    text = SANDBOX.read_text()
    assert "import mnistlab" not in text and "from mnistlab" not in text
    def codes(code):
        yield code
        for const in code.co_consts:
            if hasattr(const, "co_code"):
                yield from codes(const)

    modules = {ins.argval.split(".")[0] for code in codes(compile(text, str(SANDBOX), "exec"))
               for ins in dis.get_instructions(code) if ins.opname == "IMPORT_NAME"}
    assert "resource" in modules  # the nested imports are seen too
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules


def test_hook_reads_no_global_builtin_or_closure_at_call_time():
    """Rebinding module globals or builtins, or a closure cell, cannot change what the hook does."""
    sandbox = load_sandbox()

    def nested(code):
        for const in code.co_consts:
            if hasattr(const, "co_code"):
                yield const
                yield from nested(const)

    used_by_hook = {"mnistlab_guard", "deny", "verb", "as_str", "fd_path", "resolve", "path_of", "in_writable",
                    "in_hidden", "check", "sqlite_check", "os_open_check"}
    codes = [c for c in nested(sandbox._make_hook.__code__) if c.co_name in used_by_hook]
    assert {c.co_name for c in codes} == used_by_hook
    for code in codes:
        loads = [ins.argval for ins in dis.get_instructions(code)
                 if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLOSURE", "LOAD_CLASSDEREF")]
        assert not loads and not code.co_freevars, f"{code.co_name} looks up {loads} at call time"
        assert code.co_kwonlyargcount == 0, f"{code.co_name}: keyword defaults live in a mutable dict"


# --- a `python -I` child with the guard installed ---------------------------------------------

CHILD = r'''
import importlib.util, json, os, shutil, signal, sys, time
config = json.loads(sys.argv[1])
spec = importlib.util.spec_from_file_location("_guard", config["sandbox"])
sandbox = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sandbox)
W, HIDDEN, DATA, TMP = config["writable"], config["hidden"], config["data"], config["tmp"]
os.chdir(W)
import ctypes  # imported before the guard, as in a kernel (ipykernel imports it)
import sqlite3, subprocess, importlib.machinery

def opens(n=3000):
    start = time.perf_counter()
    for _ in range(n):
        open(DATA + "/pub.txt", "rb").close()
    return (time.perf_counter() - start) / n * 1e6

results = {"open_us_before": opens()}
sandbox.set_memory_limit(1024)
seen = []
sandbox.install_guard(writable=[W, TMP], hidden=[HIDDEN], on_violation=seen.append)
results["open_us_after"] = opens()
violations = sandbox.violations  # kept: the rebinding check below replaces the module's names

def attempt(label, action):
    try:
        value = action()
    except BaseException as exc:
        results[label] = type(exc).__name__ + ": " + str(exc)
    else:
        results[label] = "ok"

def write(path):
    with open(path, "w") as f:
        f.write("x")

def read(path):
    with open(path) as f:
        return f.read()

def load_extension_from_writable():
    import mmap  # any extension module of the standard library
    so = shutil.copyfile(mmap.__file__, os.path.join(W, "_evil" + importlib.machinery.EXTENSION_SUFFIXES[0]))
    spec = importlib.util.spec_from_file_location("_evil", so)
    return importlib.util.module_from_spec(spec)

attempt("read_hidden", lambda: read(HIDDEN + "/source/a1/a1.ipynb"))
attempt("read_hidden_relative", lambda: read("../../../gradebook.db"))
attempt("read_other_student", lambda: read("../../bob/a1/a1.ipynb"))
attempt("write_other_student", lambda: write(HIDDEN + "/autograded/bob/a1/a1.ipynb"))
attempt("read_hidden_bytes", lambda: read((HIDDEN + "/gradebook.db").encode()))
attempt("read_hidden_pathlib", lambda: __import__("pathlib").Path(HIDDEN, "gradebook.db").read_text())
attempt("read_through_symlink", lambda: read("escape"))
attempt("read_other_process_proc", lambda: read(f"/proc/{os.getppid()}/environ"))
attempt("write_inside", lambda: write("answer.txt"))
attempt("read_inside", lambda: read("answer.txt"))
attempt("write_tmpdir", lambda: write(TMP + "/t.txt"))
attempt("write_outside", lambda: write(DATA + "/new.txt"))
attempt("append_gradebook", lambda: open(HIDDEN + "/gradebook.db", "ab"))
attempt("read_data", lambda: read(DATA + "/pub.txt"))
attempt("listdir_hidden", lambda: os.listdir(HIDDEN))
attempt("scandir_hidden", lambda: list(os.scandir(HIDDEN + "/source")))
attempt("glob_hidden", lambda: __import__("glob").glob(HIDDEN + "/source/*/*.ipynb"))
attempt("listdir_inside", lambda: sorted(os.listdir(".")))
attempt("rename_hidden", lambda: os.rename(HIDDEN + "/gradebook.db", "stolen.db"))
attempt("remove_hidden", lambda: os.remove(HIDDEN + "/gradebook.db"))
attempt("rmtree_hidden", lambda: shutil.rmtree(HIDDEN + "/source"))
attempt("mkdir_outside", lambda: os.mkdir(DATA + "/d"))
attempt("chmod_outside", lambda: os.chmod(DATA + "/pub.txt", 0o777))
attempt("fchmod_outside", lambda: os.fchmod(os.open(DATA + "/pub.txt", os.O_RDONLY), 0o777))
attempt("symlink_create", lambda: os.symlink(HIDDEN + "/gradebook.db", "link.db"))
attempt("hardlink_create", lambda: os.link(DATA + "/pub.txt", "hard.txt"))
attempt("open_dir_outside", lambda: os.open("/", os.O_RDONLY))
attempt("open_dotdot_relative", lambda: os.open("../x", os.O_RDONLY, dir_fd=os.open(".", os.O_RDONLY)))
attempt("chdir_hidden", lambda: os.chdir(HIDDEN))
attempt("sqlite_gradebook", lambda: sqlite3.connect(HIDDEN + "/gradebook.db"))
attempt("sqlite_uri", lambda: sqlite3.connect("file:" + HIDDEN.replace("/", "%2F") + "/gradebook.db?mode=ro", uri=True))
attempt("sqlite_inside", lambda: sqlite3.connect("mine.db").execute("create table t (x)") and None)
attempt("tempfile_in_tmpdir", lambda: __import__("tempfile").TemporaryDirectory(dir=TMP).cleanup())
attempt("subprocess", lambda: subprocess.run(["true"]))
attempt("os_system", lambda: os.system("true"))
attempt("os_exec", lambda: os.execv("/bin/true", ["true"]))
attempt("posix_spawn", lambda: os.posix_spawn("/bin/true", ["true"], {}))
attempt("fork", lambda: os.fork())
attempt("fork_exec", lambda: __import__("_posixsubprocess").fork_exec())
attempt("subprocess_fork_exec_alias", lambda: subprocess._fork_exec())
attempt("mkfifo_hidden", lambda: os.mkfifo(HIDDEN + "/fifo"))
attempt("renice_parent", lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(), 19))
attempt("kill_parent", lambda: os.kill(os.getppid(), signal.SIGKILL))
attempt("killpg", lambda: os.killpg(os.getpgid(0), 0))
attempt("pidfd_kill_parent", lambda: signal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGKILL))
attempt("recreate_signal_module", lambda: importlib.util.module_from_spec(importlib.util.find_spec("_signal")))
attempt("kill_self_0", lambda: os.kill(os.getpid(), 0))
attempt("ctypes_libc", lambda: ctypes.CDLL("libc.so.6"))
attempt("ctypes_pythonapi_symbol", lambda: ctypes.pythonapi.Py_GetVersion)
attempt("ctypes_from_address", lambda: ctypes.c_char.from_address(id(b"x")))

def reimport_ctypes():
    for name in ("ctypes", "_ctypes"):
        sys.modules.pop(name, None)
    import ctypes

attempt("import_ctypes_again", reimport_ctypes)
attempt("extension_from_writable", load_extension_from_writable)
attempt("gc_get_objects", lambda: __import__("gc").get_objects())
attempt("setrlimit", lambda: __import__("resource").setrlimit(__import__("resource").RLIMIT_AS, (-1, -1)))
attempt("memory_hog", lambda: len(bytearray(2 * 1024 ** 3)))

# A submission rebinds everything it can reach; the guard must not care.
import builtins
saved = builtins.isinstance, os.path.realpath, os.readlink
for name in list(vars(sandbox)):
    if not name.startswith("__"):
        setattr(sandbox, name, None)
builtins.isinstance = lambda *args: True
os.path.realpath = lambda path, **kw: os.path.join(W, "fine")
os.readlink = lambda *args, **kw: W
attempt("read_hidden_after_rebinding", lambda: read(HIDDEN + "/gradebook.db"))
attempt("write_outside_after_rebinding", lambda: write(DATA + "/new2.txt"))
builtins.isinstance, os.path.realpath, os.readlink = saved
results["violations"] = violations()
results["callback"] = list(seen)

# A refusal's traceback holds the frames of the guard's helpers: try to change
# everything reachable from their locals.
try:
    read(HIDDEN + "/gradebook.db")
except PermissionError as exc:
    tb = exc.__traceback__
changed, refused = [], []
while tb is not None:
    guard_frame = tb.tb_frame.f_code.co_filename == config["sandbox"]
    for value in list(tb.tb_frame.f_locals.values()) if guard_frame else ():
        is_function = type(value) is type(read)
        for cell in (value.__closure__ or ()) if is_function else ():
            cell.cell_contents = None
            changed.append("cell")
        if is_function and value.__defaults__:
            try:
                value.__defaults__ = tuple(None for _ in value.__defaults__)
                changed.append("defaults of " + value.__name__)
            except PermissionError:
                refused.append(value.__name__)
        for target in (value, getattr(value, "__self__", None), getattr(value, "__kwdefaults__", None)):
            if isinstance(target, (dict, set, list)) and target:
                target.clear()
                changed.append(type(target).__name__)
    tb = tb.tb_next
results["frame_attack_changed"] = changed
results["frame_attack_refused"] = refused
attempt("read_hidden_after_frame_attack", lambda: read(HIDDEN + "/gradebook.db"))
attempt("write_outside_after_frame_attack", lambda: write(DATA + "/new3.txt"))
print("RESULTS " + json.dumps(results), flush=True)
'''

# The child is forked from a waiting parent: if `os.kill(os.getppid(), SIGKILL)`
# got through, that parent (not pytest) would die and never print "parent alive".
DRIVER = r'''
import os, sys
pid = os.fork()
if pid == 0:
    sys.argv = ["child", sys.argv[1]]
    exec(compile(CHILD, "child", "exec"), {"__name__": "__main__"})
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("parent alive, child status", status, flush=True)
'''


def fake_course(root):
    """A course folder with solutions, a gradebook and alice's submission folder; returns (course, submission)."""
    course = root / "course"
    (course / "source" / "a1").mkdir(parents=True)
    (course / "source" / "a1" / "a1.ipynb").write_text("solutions")
    (course / "gradebook.db").write_bytes(b"grades")
    submission = course / "autograded" / "alice" / "a1"
    submission.mkdir(parents=True)
    return course, submission


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """Run the checks in a guarded `python -I` child once; return its results and the parent's fate."""
    root = tmp_path_factory.mktemp("guard")
    course, submission = fake_course(root)
    (course / "autograded" / "bob" / "a1").mkdir(parents=True)
    (course / "autograded" / "bob" / "a1" / "a1.ipynb").write_text("bob's answers")
    # A symlink shipped with the submission, pointing at the solutions.
    (submission / "escape").symlink_to(course / "source" / "a1" / "a1.ipynb")
    data, tmp = root / "data", root / "tmp"
    data.mkdir()
    tmp.mkdir()
    (data / "pub.txt").write_text("public")
    config = {"sandbox": str(SANDBOX), "writable": str(submission), "hidden": str(course),
              "data": str(data), "tmp": str(tmp)}
    driver = "CHILD = " + repr(CHILD) + "\n" + DRIVER
    proc = subprocess.run([sys.executable, "-I", "-c", driver, json.dumps(config)],
                          capture_output=True, text=True, timeout=60)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")), None)
    assert line, f"child printed no results\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    results = json.loads(line[len("RESULTS "):])
    results["_stdout"], results["_course"], results["_data"] = proc.stdout, course, data
    return results


def blocked(result, exc="PermissionError"):
    return result.startswith(exc + ": mnistlab grading: ")


@pytest.mark.parametrize("label", [
    "read_hidden", "read_hidden_relative", "read_other_student", "write_other_student", "read_hidden_bytes", "read_hidden_pathlib", "read_through_symlink",
    "read_other_process_proc", "write_outside", "append_gradebook", "listdir_hidden", "scandir_hidden",
    "glob_hidden", "rename_hidden", "remove_hidden", "rmtree_hidden", "mkdir_outside", "chmod_outside",
    "fchmod_outside", "symlink_create", "hardlink_create", "open_dir_outside", "open_dotdot_relative", "mkfifo_hidden",
    "chdir_hidden", "sqlite_gradebook", "sqlite_uri",
])
def test_files_outside_the_rules_are_refused(guarded, label):
    assert blocked(guarded[label]), guarded[label]


@pytest.mark.parametrize("label", [
    "subprocess", "os_system", "os_exec", "posix_spawn", "fork", "fork_exec", "subprocess_fork_exec_alias",
    "renice_parent", "kill_parent", "killpg",
    "pidfd_kill_parent", "recreate_signal_module", "ctypes_libc", "ctypes_pythonapi_symbol",
    "ctypes_from_address", "gc_get_objects", "setrlimit",
])
def test_processes_signals_and_c_code_are_refused(guarded, label):
    assert blocked(guarded[label]), guarded[label]


def test_imports_of_c_code_are_refused_as_import_errors(guarded):
    # ImportError keeps `try: import ctypes except ImportError:` fallbacks (NumPy's) working.
    assert blocked(guarded["import_ctypes_again"], "ImportError"), guarded["import_ctypes_again"]
    assert blocked(guarded["extension_from_writable"], "ImportError"), guarded["extension_from_writable"]


def test_normal_work_is_allowed(guarded):
    for label in ("write_inside", "write_tmpdir", "read_data", "listdir_inside", "sqlite_inside",
                  "tempfile_in_tmpdir", "kill_self_0"):
        assert guarded[label] == "ok", (label, guarded[label])
    assert guarded["read_inside"] == "ok"


def test_messages_say_what_and_why(guarded):
    course = guarded["_course"]
    assert guarded["append_gradebook"] == (
        f"PermissionError: mnistlab grading: writing {course}/gradebook.db is not allowed: "
        "a submission may only write inside its own folder")
    assert "reading" in guarded["read_hidden"] and "must not see" in guarded["read_hidden"]
    assert "os.kill" in guarded["kill_parent"]


def test_parent_survives_kill_attempts(guarded):
    assert "parent alive, child status 0" in guarded["_stdout"], guarded["_stdout"]


def test_memory_hog_hits_memory_error(guarded):
    assert guarded["memory_hog"].startswith("MemoryError"), guarded["memory_hog"]


def test_rebinding_module_globals_and_builtins_does_not_disable_the_guard(guarded):
    assert blocked(guarded["read_hidden_after_rebinding"]), guarded["read_hidden_after_rebinding"]
    assert blocked(guarded["write_outside_after_rebinding"]), guarded["write_outside_after_rebinding"]


def test_frames_in_a_refusals_traceback_do_not_open_the_guard(guarded):
    print("\nframe attack changed:", guarded["frame_attack_changed"], "refused:", guarded["frame_attack_refused"])
    assert not any(c.startswith(("cell", "defaults", "dict", "set")) for c in guarded["frame_attack_changed"])
    assert "check" in guarded["frame_attack_refused"]
    assert blocked(guarded["read_hidden_after_frame_attack"]), guarded["read_hidden_after_frame_attack"]
    assert blocked(guarded["write_outside_after_frame_attack"]), guarded["write_outside_after_frame_attack"]


def test_violations_and_callback_record_every_refusal(guarded):
    refused = [v for k, v in guarded.items() if isinstance(v, str) and "after_frame_attack" not in k
               and v.startswith(("PermissionError: mnistlab", "ImportError: mnistlab"))]
    messages = [r.split(": ", 1)[1] for r in refused]
    assert set(messages) <= set(guarded["violations"])
    assert guarded["callback"] == guarded["violations"]


def test_per_open_cost(guarded):
    before, after = guarded["open_us_before"], guarded["open_us_after"]
    print(f"\nopen()+close(): {before:.1f} us without the guard, {after:.1f} us with it (+{after - before:.1f} us)")
    assert after - before < 200


# --- a real Jupyter kernel ---------------------------------------------------------------------

def run_cell(kc, code, timeout=60):
    """Execute `code`; return (stdout, stderr, error name or None)."""
    out, err, ename = [], [], []

    def hook(msg):
        content = msg["content"]
        if msg["msg_type"] == "stream":
            (out if content["name"] == "stdout" else err).append(content["text"])
        elif msg["msg_type"] == "error":
            ename.append(content["ename"] + ": " + content["evalue"])

    kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    return "".join(out), "".join(err), (ename[0] if ename else None)


def start_kernel(env, cwd):
    from jupyter_client.manager import start_new_kernel

    start = time.perf_counter()
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(cwd), startup_timeout=60)
    return km, kc, time.perf_counter() - start


IMPORTS = "import numpy as np, matplotlib.pyplot as plt, mnistlab, mnistlab.data"


def test_real_kernel_is_guarded(tmp_path):
    import os

    from mnistlab.data import write_idx
    from mnistlab.grader.settings import KERNEL_ENV

    sandbox = load_sandbox()
    course, submission = fake_course(tmp_path)
    tmpdir, data, reports = tmp_path / "tmp", tmp_path / "data", tmp_path / "reports"
    for folder in (tmpdir, data, reports):
        folder.mkdir()
    idx = write_idx(np.arange(12, dtype=np.uint8).reshape(3, 4), data / "t10k-images-idx3-ubyte")
    report = reports / "alice.jsonl"
    with pytest.raises(ValueError):
        sandbox.kernel_startup_dir(submission / "ipy", writable=[submission], hidden=[course],
                                   memory_mb=4096, report_path=report)
    # The Jupyter runtime folder holds every kernel's connection file (with its
    # signing key): hidden, so a submission cannot drive another student's kernel.
    from jupyter_core.paths import jupyter_runtime_dir

    hidden = [course, jupyter_runtime_dir()]
    ipython_dir = sandbox.kernel_startup_dir(course / "ipython", writable=[submission, tmpdir], hidden=hidden,
                                             memory_mb=4096, report_path=report)
    startup_file = ipython_dir / "profile_default" / "startup" / "00-mnistlab-guard.py"
    base = {**os.environ, **KERNEL_ENV, "TMPDIR": str(tmpdir), "MPLBACKEND": "Agg"}
    (tmp_path / "plain").mkdir()

    # Without the guard, for the overhead.
    km, kc, plain_start = start_kernel({**base, "IPYTHONDIR": str(tmp_path / "plain")}, submission)
    try:
        start = time.perf_counter()
        _, _, error = run_cell(kc, IMPORTS)
        plain_imports = time.perf_counter() - start
        assert error is None
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    km, kc, guard_start = start_kernel({**base, "IPYTHONDIR": str(ipython_dir)}, submission)
    try:
        # The very first cell is already guarded: the start-up file ran before it.
        _, _, error = run_cell(kc, f"open({str(course / 'gradebook.db')!r}, 'ab')")
        assert error and error.startswith("PermissionError: mnistlab grading: writing"), error
        start = time.perf_counter()
        out, err, error = run_cell(kc, IMPORTS)
        guard_imports = time.perf_counter() - start
        assert error is None, error
        out, err, error = run_cell(kc, f"""
import os, tempfile
x = np.arange(6.0).reshape(2, 3) @ np.ones(3)
print("sum", x.sum())
fig = plt.figure(); plt.plot([1, 2]); fig.savefig("plot.png")
print("idx", mnistlab.data.read_idx({str(idx)!r}).shape)
with tempfile.TemporaryDirectory() as d:
    open(os.path.join(d, "x"), "w").write("1")
with tempfile.NamedTemporaryFile() as f:
    f.write(b"1")
print("vm", [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmSize")][0])
""")
        assert error is None, error
        assert err == "", err  # nbgrader counts stderr output as a failed test
        assert "sum 15.0" in out and "idx (3, 4)" in out, out
        assert (submission / "plot.png").exists()
        vm_mb = int(out.split("vm ")[1].split()[0]) // 1024

        _, _, error = run_cell(kc, f"open({str(course / 'gradebook.db')!r}, 'ab')")
        assert error and error.startswith("PermissionError: mnistlab grading: writing"), error
        _, _, error = run_cell(kc, f"open({str(course / 'source' / 'a1' / 'a1.ipynb')!r}).read()")
        assert error and error.startswith("PermissionError"), error
        _, _, error = run_cell(kc, "import glob; glob.glob(os.path.join(jupyter_runtime_dir(), 'kernel-*.json'))"
                                   .replace("jupyter_runtime_dir()", repr(jupyter_runtime_dir())))
        assert error and error.startswith("PermissionError"), error
        _, _, error = run_cell(kc, "os.kill(os.getppid(), 0)")
        assert error and error.startswith("PermissionError"), error
        _, _, error = run_cell(kc, "import subprocess; subprocess.run(['true'])")
        assert error and error.startswith("PermissionError"), error
        _, _, error = run_cell(kc, f"open({str(startup_file)!r}, 'a')")
        assert error and error.startswith("PermissionError"), error
        _, _, error = run_cell(kc, "np.ones(int(6e8))")  # 4.8 GB > memory_mb
        assert error and error.startswith(("MemoryError", "numpy.core._exceptions._ArrayMemoryError",
                                           "_ArrayMemoryError")), error
        # Dig the guard's functions (and the report writer) out of a refusal's
        # traceback and try to rewire them; the next refusal must still be reported.
        out, _, error = run_cell(kc, f"""
import types
try:
    open({str(course / 'gradebook.db')!r}, 'ab')
except PermissionError as exc:
    tb = exc.__traceback__
changed = []
while tb is not None:
    for value in list(tb.tb_frame.f_locals.values()):
        guard_files = ({str(ipython_dir / 'mnistlab_sandbox.py')!r}, {str(startup_file)!r})
        if type(value) is types.FunctionType and value.__code__.co_filename not in guard_files:
            continue  # (the report writer `record` lives in the start-up file)
        if type(value) is types.FunctionType:
            for cell in value.__closure__ or ():
                cell.cell_contents = None
                changed.append('cell of ' + value.__name__)
            try:
                value.__defaults__ = None
                changed.append('defaults of ' + value.__name__)
            except PermissionError:
                pass
    tb = tb.tb_next
print('changed', changed)
""")
        assert error is None and out.strip() == "changed []", (out, error)
        _, _, error = run_cell(kc, f"open({str(course / 'after-attack.db')!r}, 'ab')")
        assert error and error.startswith("PermissionError"), error
        # No loaded module still holds an unaudited original the guard replaced.
        out, _, error = run_cell(kc, "import sys; print(sorted(f'{m.__name__}.{k}' for m in list(sys.modules.values()) "
                                     "for k, v in list(getattr(m, '__dict__', {}).items()) "
                                     "if type(v) is type(len) and v.__name__ in "
                                     "('fork_exec', 'pidfd_send_signal', 'create_builtin', 'mkfifo', 'setpriority')))")
        assert error is None and out.strip() == "[]", (out, error)
        out, _, error = run_cell(kc, "print(sorted(k for k in globals() if 'mnistlab_guard' in k))")
        assert out.strip() == "[]"  # the start-up file leaves nothing in the notebook's namespace
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    lines = [json.loads(line) for line in report.read_text().splitlines()]
    armed, lines = lines[0], lines[1:]  # the start-up file says so once the guard is up (the grader checks it)
    assert set(armed) == {"time", "pid", "armed"} and armed["armed"] is True, armed
    assert any("gradebook.db" in line["violation"] and "writing" in line["violation"] for line in lines), lines
    assert any("after-attack.db" in line["violation"] for line in lines), lines
    assert all(set(line) == {"time", "pid", "violation"} for line in lines)
    print(f"\nkernel start: {plain_start:.2f} s without the guard, {guard_start:.2f} s with it; "
          f"first cell `{IMPORTS}`: {plain_imports:.2f} s / {guard_imports:.2f} s; "
          f"VmSize after imports {vm_mb} MB; report lines: {len(lines)}")
    for line in lines:
        print("  report:", line["violation"])


def test_kernel_whose_guard_cannot_be_installed_runs_no_cell(tmp_path):
    import os

    sandbox = load_sandbox()
    submission = tmp_path / "course" / "submission"
    submission.mkdir(parents=True)
    # The report's folder does not exist: the start-up file cannot open it.
    ipython_dir = sandbox.kernel_startup_dir(tmp_path / "ipython", writable=[submission], hidden=[tmp_path / "course"],
                                             memory_mb=0, report_path=tmp_path / "missing" / "report.jsonl")
    with pytest.raises(RuntimeError):
        km, kc, _ = start_kernel({**os.environ, "IPYTHONDIR": str(ipython_dir)}, submission)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
