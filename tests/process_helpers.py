"""The processes a test started, found by a variable in their environment (which bwrap and Slurm pass on)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def processes_with(marker: str) -> dict[int, str]:
    """Running processes (host pid -> start of the command line) with ``marker`` (``NAME=value``) in their environment."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (proc / "environ").read_bytes().split(b"\0"):
                    found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    return found


def left_after(marker: str, seconds: float) -> dict[int, str]:
    """The processes with ``marker`` still running after ``seconds`` (empty once none is); those are SIGKILLed,
    so that they cannot touch the rest of the suite."""
    deadline = time.monotonic() + seconds
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left
