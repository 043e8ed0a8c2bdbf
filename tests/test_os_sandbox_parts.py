"""The pure-Python parts of the OS sandbox: its command line, the limit messages, what goes back to the course.

Nothing here starts a process (``make check``); tests/test_os_sandbox.py runs real sandboxed kernels.
"""

from __future__ import annotations

import os
import sys

from mnistlab.grader import os_sandbox
from mnistlab.grader.settings import DISK_LIMIT_MB, FILE_LIMIT, OPEN_FILES_LIMIT, limit_explanation
from mnistlab.grader.worker import only_submitted_files


def _binds(argv: list[str]) -> dict[str, str]:
    """destination -> option, for the mount options of a bwrap command line."""
    out, i = {}, 0
    while i < len(argv):
        if argv[i] in ("--ro-bind", "--bind"):
            out[argv[i + 2]] = argv[i]
            i += 3
        elif argv[i] in ("--tmpfs", "--dir", "--proc", "--dev", "--remount-ro"):
            out.setdefault(argv[i + 1], argv[i])
            i += 2
        else:
            i += 1
    return out


def test_the_command_binds_python_read_only_and_masks_hidden_folders_inside_it(tmp_path):
    hidden_in_python = os.path.join(sys.prefix, "lib")  # exists, and lies inside a bound folder
    course, shared = tmp_path / "course", tmp_path / "shared"
    course.mkdir()
    shared.mkdir()
    argv = os_sandbox.bwrap_command(["python", "-c", "pass"], os_sandbox.Confinement(
        hidden=[hidden_in_python, str(course)], readable=[str(shared)], package=False))
    binds = _binds(argv)
    assert argv[:2] == ["bwrap", "--unshare-all"] and "--die-with-parent" in argv
    assert binds[os.path.realpath(sys.prefix)] == "--ro-bind"
    assert binds["/usr"] == "--ro-bind" and binds["/"] == "--remount-ro"
    assert binds[os.path.realpath(hidden_in_python)] == "--tmpfs"
    assert str(course) not in binds  # not inside anything bound: it simply does not exist there
    assert binds[str(shared)] == "--ro-bind" and str(tmp_path) not in binds
    # The limits are set inside, just before the command, with the quota in the setup's arguments.
    tail = argv[argv.index("prlimit"):]
    assert f"--fsize={DISK_LIMIT_MB << 20}" in tail and f"--nofile={OPEN_FILES_LIMIT}" in tail
    assert tail[-4:] == ["--", "python", "-c", "pass"]
    assert str(FILE_LIMIT + 64) in argv and str(DISK_LIMIT_MB) in argv


def test_the_switch_turns_the_sandbox_off(monkeypatch):
    monkeypatch.setenv(os_sandbox.SWITCH, "off")
    os_sandbox.unavailable_reason.cache_clear()
    try:
        assert os_sandbox.unavailable_reason() == f"turned off by {os_sandbox.SWITCH}=off"
    finally:
        monkeypatch.delenv(os_sandbox.SWITCH)
        os_sandbox.unavailable_reason.cache_clear()


def test_limit_messages_name_the_limit():
    assert f"at most {DISK_LIMIT_MB} MB and {FILE_LIMIT:,} files" in limit_explanation(
        "OSError: [Errno 28] No space left on device")
    assert f"at most {OPEN_FILES_LIMIT:,} files open" in limit_explanation(
        "OSError: [Errno 24] Too many open files: 'h511.txt'")
    assert limit_explanation("ValueError: shapes (3,) and (4,) not aligned") is None


def test_only_the_submitted_files_stay_in_autograded(tmp_path):
    submitted, autograded = tmp_path / "submitted", tmp_path / "autograded"
    for folder in (submitted, autograded):
        folder.mkdir()
        (folder / "a2.ipynb").write_text("{}")
        (folder / "data.csv").write_text("1,2")
    (autograded / "big.bin").write_bytes(b"\0" * 1000)
    (autograded / "cache").mkdir()
    (autograded / "cache" / "x").write_text("x")
    (autograded / "link").symlink_to(submitted / "data.csv")
    assert only_submitted_files(autograded, submitted) == ["big.bin", "cache", "link"]
    assert sorted(os.listdir(autograded)) == ["a2.ipynb", "data.csv"]
