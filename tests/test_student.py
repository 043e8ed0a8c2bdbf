"""A student's path: install the package with the ``student`` extra, fetch the data, check a notebook.

- the wheel and the sdist are real distributions (metadata, entry point, nothing but the package);
- the wheel installs with ``[student]`` into a fresh venv (from the registries), and there
  ``mnistlab --help``, ``mnistlab data info`` and ``mnistlab check`` work: exit 0 on a correct notebook,
  1 and a table on the released stub;
- ``mnistlab check`` works where the grader's Linux-only protections do not exist (no ``resource``, no
  audit-hook guard, no bubblewrap, none of the grader's sandbox, pool or re-check modules);
- a missing piece of the extra is named with the command that installs it; a broken file gets a clear
  error, not a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import nbformat
import pytest

from assignment_bugs.harness import make_course, student_notebook

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "a2_relu_softmax"

#: What the check process must never need: the grader's Linux-only protections and its instructor parts.
LINUX_ONLY = ("resource", "fcntl", "mnistlab.grader.sandbox", "mnistlab.grader.isolation",
              "mnistlab.grader.isolation_wire", "mnistlab.grader.isolation_endpoint",
              "mnistlab.grader.isolated_child", "mnistlab.grader.pool", "mnistlab.grader.worker",
              "mnistlab.grader.processes", "mnistlab.grader.preflight")

#: Runs ``mnistlab`` as on a machine without those: importing one fails, as it would there, and so does
#: installing an audit hook (the grader's guard); the command's own exit status is passed on.
WITHOUT = """
import sys, importlib.abc
BLOCKED = set(sys.argv[1].split(","))
class Unavailable(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (made unavailable by the test)", name=name)
        return None
for name in BLOCKED:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, Unavailable())
def no_audit_hooks(hook):
    raise RuntimeError("no audit hooks here (the test stands for a platform without the grader's guard)")
sys.addaudithook = no_audit_hooks
from mnistlab.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    """The released a2 notebook as a student hands it in: a correct one, and the unanswered stub."""
    folder = tmp_path_factory.mktemp("student")
    course = make_course(folder)
    paths = {}
    for kind, stub in (("correct", False), ("stub", True)):
        path = folder / kind / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir()
        nbformat.write(student_notebook(course, ASSIGNMENT, stub=stub), path)
        paths[kind] = path
    return paths


def _path_without_bwrap() -> str:
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not (Path(p) / "bwrap").exists())


def _run_without(blocked, *argv, cwd=None, timeout=300):
    env = {**os.environ, "PATH": _path_without_bwrap()}
    return subprocess.run([sys.executable, "-c", WITHOUT, ",".join(blocked), *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_student_extra_brings_jupyterlab_and_the_checker_and_nothing_of_the_book():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    student = {r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower() for r in extras["student"]}
    assert {"jupyterlab", "nbgrader"} <= student
    assert not student & {"jupyter-book", "sphinx", "playwright", "pytest", "hypothesis", "jupytext", "import-linter"}


def test_check_works_without_the_graders_linux_only_protections(notebooks):
    result = _run_without(LINUX_ONLY, "check", str(notebooks["correct"]), cwd=notebooks["correct"].parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 of 5 graded cells pass their visible tests" in result.stdout
    assert "WARNING" not in result.stderr, result.stderr  # e.g. ipykernel's about unencrypted TCP
    result = _run_without(LINUX_ONLY, "check", str(notebooks["stub"]), cwd=notebooks["stub"].parent)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "relu is not implemented yet" in result.stdout and "Traceback" not in result.stderr


def test_check_json_lists_each_function(notebooks):
    result = _run_without((), "check", "--json", str(notebooks["stub"]))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert [f["function"] for f in report["functions"]] == ["relu", "sigmoid", "softmax", "log_softmax",
                                                          "cross_entropy"]
    assert report["passed"] is False and report["max_points"] == 10 and report["points_if_hidden_tests_pass"] == 0
    assert all(not f["passed"] and "not implemented yet" in f["message"] for f in report["functions"])


@pytest.mark.parametrize("module", ["nbformat", "nbgrader"])
def test_a_missing_piece_of_the_extra_says_what_to_install(notebooks, module):
    result = _run_without((module,), "check", str(notebooks["correct"]))
    assert result.returncode == 2
    assert f"{module} is not installed" in result.stderr and 'pip install "mnistlab[student]"' in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content, says", [
    (b"", "not valid notebook JSON"),
    (b'{"cells": [', "not valid notebook JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "not a text file"),
    (b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "extra": 1}', "not a valid Jupyter notebook"),
])
def test_a_broken_notebook_gets_a_clear_error(tmp_path, content, says):
    path = tmp_path / f"{ASSIGNMENT}.ipynb"
    path.write_bytes(content)
    result = _run_without((), "check", str(path))
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == content  # the student's file is left as it was


# ---------------------------------------------------------------------------
# The distribution, installed as a student would
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """``python -m build`` of a clean copy of the repository's tracked files: the wheel and the sdist."""
    out = tmp_path_factory.mktemp("dist")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    src = out / "src"
    for name in tracked.stdout.split("\0"):
        if name and (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], check=True,
                   capture_output=True, text=True, timeout=600)
    return next(out.glob("mnistlab-*.whl")), next(out.glob("mnistlab-*.tar.gz"))


@pytest.mark.slow
def test_the_wheel_and_sdist_hold_the_package_and_its_metadata(dist):
    wheel, sdist = dist
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = Parser().parsestr(z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    top = {n.split("/")[0] for n in names}
    assert top == {"mnistlab", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert "mnistlab/checks/a2_relu_softmax.py" in names and "mnistlab/grader/selfcheck.py" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert meta["Name"] == "mnistlab" and meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.10"
    assert any(u.startswith("Source, ") for u in meta.get_all("Project-URL"))
    classifiers = meta.get_all("Classifier")
    assert "Intended Audience :: Education" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    assert "student" in meta.get_all("Provides-Extra") and "course" in meta.get_all("Provides-Extra")
    assert "mnistlab = mnistlab.cli:main" in entry_points
    with tarfile.open(sdist) as t:
        members = [m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name]
    assert not [m for m in members if m.split("/")[0] in ("tests", "book", "assignments", "_build", ".ci")]
    assert "pyproject.toml" in members and "LICENSE" in members and "mnistlab/__init__.py" in members


@pytest.mark.slow
def test_a_student_installs_the_wheel_and_checks_a_notebook(dist, notebooks, tmp_path):
    wheel, _ = dist
    venv = tmp_path / "student-venv"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_ = venv / ("Scripts" if os.name == "nt" else "bin")
    install = subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "--quiet", f"{wheel}[student]"],
                             capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = str(bin_) + os.pathsep + env.get("PATH", "")

    def mnistlab(*argv, cwd=None):
        return subprocess.run([str(bin_ / "mnistlab"), *argv], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=600)

    where = subprocess.run([str(bin_ / "python"), "-c", "import mnistlab; print(mnistlab.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
    assert str(venv) in where.stdout, where.stdout + where.stderr  # the installed wheel, not the repository
    assert mnistlab("--help").returncode == 0
    info = mnistlab("data", "info")
    assert info.returncode == 0 and "t10k-images-idx3-ubyte" in info.stdout, info.stdout + info.stderr
    correct = mnistlab("check", notebooks["correct"].name, cwd=notebooks["correct"].parent)
    seconds = time.perf_counter() - start
    assert correct.returncode == 0, correct.stdout + correct.stderr
    assert "5 of 5 graded cells pass their visible tests" in correct.stdout
    stub = mnistlab("check", str(notebooks["stub"]))
    assert stub.returncode == 1
    lines = stub.stdout.splitlines()
    assert any(line.split()[:2] == ["function", "points"] for line in lines)
    assert sum("FAILED" in line and "raised NotImplementedError" in line for line in lines) == 5
    packages = subprocess.run([str(bin_ / "python"), "-m", "pip", "list", "--format=freeze"], env=env,
                              capture_output=True, text=True).stdout.split()
    size_mb = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6
    print(f"student install: {len(packages)} packages, {size_mb:.0f} MB; fresh venv to the first check in "
          f"{seconds:.0f} s")
    assert not {p.split("==")[0].lower() for p in packages} & {"jupyter-book", "sphinx", "playwright", "pytest"}
