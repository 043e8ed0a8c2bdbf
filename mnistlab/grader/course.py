"""The instructor's course folder and nbgrader's in-process API: finding the course, loading its
``nbgrader_config.py``, releasing an assignment, collecting LMS downloads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path


def find_course(course=None) -> Path:
    """The course folder: ``course``, else the current folder or its ``assignments/`` if it has the config."""
    candidates = [Path(course)] if course else [Path.cwd(), Path.cwd() / "assignments"]
    for folder in candidates:
        if (folder / "nbgrader_config.py").is_file():
            return folder.resolve()
    where = course or f"{Path.cwd()} or {Path.cwd() / 'assignments'}"
    raise FileNotFoundError(f"no nbgrader_config.py in {where}: pass the course folder with --course")


def load_course_config(course):
    """Load ``<course>/nbgrader_config.py`` as nbgrader would; return ``(config, env)``.

    ``env`` is what the config file set in ``os.environ`` (for the kernels); the
    environment of this process is left as it was.
    """
    from traitlets.config.loader import PyFileConfigLoader

    course = Path(course).resolve()
    saved = dict(os.environ)
    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
        env = {k: v for k, v in os.environ.items() if saved.get(k) != v}
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)
    config.CourseDirectory.root = str(course)
    return config, env


def course_api(config):
    """An in-process ``NbGraderAPI`` for the course of ``config`` (quieter and twice as fast as the CLI)."""
    import logging

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config.NbGraderAPI.log_level = logging.WARNING
    coursedir = CourseDirectory(config=config)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):  # the exchange it probes is not used
        api = NbGraderAPI(coursedir=coursedir, config=config)
    return api


def tools_env() -> dict:
    """``PATH`` with this Python's ``bin`` first: nbgrader runs the ``alembic`` executable when it creates a
    gradebook, and ``nbgrader zip_collect`` is run as a command."""
    return {"PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}


@contextlib.contextmanager
def environment(env: dict):
    """Set ``env`` in ``os.environ`` (inherited by the kernels started meanwhile), then restore it."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ensure_released(api, assignment: str) -> None:
    """Make sure ``assignment`` is in the gradebook (``generate_assignment`` if it is not)."""
    from nbgrader.api import MissingEntry

    with api.gradebook as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    result = api.generate_assignment(assignment)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{result.get('error', '')}")


def collect_zips(course: Path, assignment: str, zips, log=print) -> None:
    """Copy LMS downloads into ``downloaded/<assignment>/archive/`` and run ``nbgrader zip_collect``."""
    archive = course / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    for z in zips:
        shutil.copy(z, archive / Path(z).name)
    cmd = [sys.executable, "-m", "nbgrader", "zip_collect", assignment, "--force"]
    log(f"$ nbgrader zip_collect {assignment} --force")
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True)
    collected = [line for line in proc.stderr.splitlines() if "Copying to" in line]
    skipped = [line for line in proc.stderr.splitlines() if "Skipped" in line or "skipped" in line]
    log(f"  collected {len(collected)} notebook(s)" + (f"; {len(skipped)} warning(s):" if skipped else ""))
    for line in skipped:
        log("  " + line.split("]", 1)[-1].strip())
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader zip_collect failed:\n{proc.stderr[-3000:]}")


def submitted_students(course: Path, assignment: str) -> list[str]:
    """Students with a folder ``submitted/<student>/<assignment>/`` (whatever is in it: an empty or misnamed
    upload still gets a row)."""
    root = Path(course) / "submitted"
    return sorted(p.parent.name for p in root.glob(f"*/{assignment}") if p.is_dir()) if root.is_dir() else []
