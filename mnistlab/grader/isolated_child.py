"""The isolated process of the re-check: runs a student's notebook cells and serves the grader's requests.

Run as a script by :mod:`mnistlab.grader.isolation`
(``python -I isolated_child.py <read fd> <write fd> [<shm in fd> <shm out fd>]``);
nothing imports it. In this process ``mnistlab`` and ``mnistlab.*`` import as
stand-in modules whose attributes are tripwires (:func:`install_stand_ins`),
and the guard (``mnistlab/grader/sandbox.py``, loaded by file path, see
:func:`_load_sandbox`) hides the whole ``mnistlab`` folder once the first
message has configured it. So this file imports nothing but the standard
library and NumPy, and never ``mnistlab``: its siblings, the wire format
(:mod:`mnistlab.grader.isolation_wire`) and the endpoint
(:mod:`mnistlab.grader.isolation_endpoint`), are loaded by file path at start-up,
before the guard exists (:func:`_load_sibling`).

Here: the stand-ins and tripwires, the child's endpoint (``exec``, ``lookup``,
``begin``, ``end`` of cells and graded calls, under the caller's NumPy error
state), the guard's start, and the main loop.
"""

from __future__ import annotations

import builtins
import linecache
import os
import re
import sys
import types
import warnings

import numpy as np

#: The private package name the siblings are loaded under (not ``mnistlab.*``: that is the stand-ins').
_PRIVATE_PACKAGE = "_mnistlab_isolation"


def _load_sibling(name: str) -> types.ModuleType:
    """Load ``mnistlab/grader/<name>.py`` by file path, as ``_mnistlab_isolation.<name>``.

    This process cannot ``import mnistlab.grader.<name>``: that name is a stand-in once
    :func:`install_stand_ins` ran, and importing the real package would load the reference
    into the student's process. So the sibling is loaded from next to this file, at start-up
    (before the guard hides the ``mnistlab`` folder), the way :func:`_load_sandbox` loads the
    guard. It is registered in ``sys.modules`` so that a sibling loaded after it finds it
    with a relative import (``from .isolation_wire import ...``).
    """
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), f"{name}.py")
    fullname = f"{_PRIVATE_PACKAGE}.{name}"
    spec = importlib.util.spec_from_file_location(fullname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[fullname] = module
    spec.loader.exec_module(module)
    return module


_wire = _load_sibling("isolation_wire")
_endpoint = _load_sibling("isolation_endpoint")
Endpoint = _endpoint.Endpoint
Lost, Malformed, describe_exception, _ERR_MODES = (_wire.Lost, _wire.Malformed, _wire.describe_exception,
                                                   _wire._ERR_MODES)

#: The grader's files in this process (this script and its siblings): a student's traceback never shows
#: their frames.
_GRADER_FILES = frozenset({__file__, _wire.__file__, _endpoint.__file__})
_GRADER_FILE_NAMES = ("isolated_child.py", "isolation_wire.py", "isolation_endpoint.py")


class ReferenceUnavailable(RuntimeError):
    """Raised when submitted code uses mnistlab (the reference) in the isolated re-check."""


class IDXFormatError(ValueError):
    """Stand-in for mnistlab.data.IDXFormatError."""


class GradingFailure(AssertionError):
    """Stand-in for mnistlab.checks.GradingFailure."""


#: The subpackages and modules of mnistlab (``from mnistlab import checks`` gives the stand-in of
#: ``mnistlab.checks``, not a tripwire).
_SUBMODULES = ("bench", "cli", "data", "fetch", "functional", "gradcheck", "grading", "checks", "grader", "layers",
               "metrics", "model", "optim", "plots", "tolerances", "train")


class _State:
    function: str | None = None
    endpoint: Endpoint | None = None

    @classmethod
    def flag(cls, text: str, *, top_level: bool = True) -> None:
        if cls.endpoint is None:
            return
        if cls.function is None and not top_level:
            return
        cls.endpoint.pending_flags.append([cls.function, text])


class Tripwire:
    """What every mnistlab name is in the isolated process: any use raises (and is flagged)."""

    __slots__ = ("_tripwire_name",)

    def __init__(self, name: str):
        object.__setattr__(self, "_tripwire_name", name)

    def _trip(self):
        name = object.__getattribute__(self, "_tripwire_name")
        _State.flag(f"uses the reference {name}", top_level=False)
        raise ReferenceUnavailable(f"{name} is not available in the isolated re-check: "
                                   "the graded functions must be implemented in the notebook")

    def __call__(self, *args, **kwargs):
        self._trip()

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name != "__mro_entries__":
            raise AttributeError(name)
        self._trip()

    def __setattr__(self, name, value):
        self._trip()

    def __iter__(self):
        self._trip()

    def __getitem__(self, key):
        self._trip()

    def __len__(self):
        self._trip()

    def __repr__(self):
        return f"<{object.__getattribute__(self, '_tripwire_name')} (not available in the isolated re-check)>"


def _noop_check(*args, **kwargs):
    return None


def _stand_in(fullname: str) -> types.ModuleType:
    module = types.ModuleType(fullname, "stand-in for the reference library (isolated re-check)")
    module.IDXFormatError = IDXFormatError
    module.GradingFailure = GradingFailure
    module.__path__ = []  # every stand-in is a package: ``import mnistlab.checks.a2_relu_softmax`` works

    def __getattr__(name, _fullname=fullname):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name.startswith("check_"):
            return _noop_check
        if (_fullname == "mnistlab" and name in _SUBMODULES) or (_fullname == "mnistlab.checks" and name[:1] == "a"
                                                                   and name[1:2].isdigit()):
            import importlib

            return importlib.import_module(f"{_fullname}.{name}")
        return Tripwire(f"{_fullname}.{name}")

    module.__getattr__ = __getattr__
    return module


class StandInFinder:
    """A meta path finder (first in sys.meta_path) that serves mnistlab and mnistlab.* as stand-ins."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname == "mnistlab" or fullname.startswith("mnistlab."):
            import importlib.machinery

            return importlib.machinery.ModuleSpec(fullname, cls, is_package=True)
        return None

    @classmethod
    def create_module(cls, spec):
        return _stand_in(spec.name)

    @classmethod
    def exec_module(cls, module):
        return None


def install_stand_ins() -> None:
    for name in [n for n in sys.modules if n == "mnistlab" or n.startswith("mnistlab.")]:
        del sys.modules[name]
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not type(f).__module__.startswith("__editable__")
                        and not getattr(f, "__module__", "").startswith("__editable__")]
    sys.meta_path.insert(0, StandInFinder)
    for name in [n for n in sys.modules if n.startswith("__editable__")]:
        del sys.modules[name]


_MAGIC_LINE = re.compile(r"^(\s*)[%!]")


def strip_magics(source: str) -> str:
    """IPython magics and shell escapes become ``pass`` (line numbers are kept)."""
    lines = source.split("\n")
    return "\n".join(m.group(1) + "pass" if (m := _MAGIC_LINE.match(line)) else line for line in lines)


_GUARD_FILES: set = set()


def _student_frame(filename: str) -> bool:
    """Frames worth showing: not the grader's (this file's, its siblings'), not the guard's."""
    return filename not in _GRADER_FILES and not filename.endswith(_GRADER_FILE_NAMES) and filename not in _GUARD_FILES


class ChildEndpoint(Endpoint):
    def __init__(self, rfd, wfd, **shm):
        super().__init__(rfd, wfd, "c", special_exceptions={"IDXFormatError": IDXFormatError}, **shm)
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}
        self._frame_filter = _student_frame

    def perform_call(self, fn, args, kwargs):
        """Run the student's code under the caller's NumPy error state, recording its warnings."""
        state = self._errstate[-1] if self._errstate else None
        err = {}
        if isinstance(state, dict):
            err = {k: (v if v in ("ignore", "warn", "raise") else "warn") for k, v in state.items()
                   if k in ("divide", "over", "under", "invalid") and v in _ERR_MODES}
        with np.errstate(**err), warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            try:
                return fn(*args, **kwargs)
            finally:
                if self._warnings:
                    out = self._warnings[-1]
                    for r in records[:20 - len(out)]:
                        try:
                            out.append([type(r.message).__name__ if isinstance(r.message, Warning)
                                        else r.category.__name__, str(r.message)[:1000]])
                        except Exception:
                            pass

    def perform_other(self, op, msg, bufs):
        if op == "exec":
            index, source = msg.get("i"), msg.get("src")
            if type(index) is not int or type(source) is not str:
                raise Malformed("exec")
            filename = f"<cell {index}>"
            source = strip_magics(source)
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            _State.function = None
            exec(compile(source, filename, "exec"), self.namespace)
            return None
        if op == "lookup":
            name = msg.get("name")
            if type(name) is not str:
                raise Malformed("lookup")
            if name not in self.namespace:
                raise NameError(f"name {name!r} is not defined")
            return self.namespace[name]
        if op == "begin":
            self.reset()
            fn = msg.get("fn")
            _State.function = fn if type(fn) is str else None
            return None
        if op == "end":
            self.reset()
            _State.function = None
            return None
        if op == "ping":
            return None
        raise Malformed(f"unknown operation {op!r}")


def _load_sandbox(path, writable, hidden):
    if not path or not os.path.isfile(path):  # fail closed: no re-check without the guard
        raise RuntimeError(f"the grading guard {path!r} is missing: reinstall mnistlab")
    import importlib.util

    _GUARD_FILES.add(path)
    spec = importlib.util.spec_from_file_location("_mnistlab_sandbox", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def on_violation(*args, **kwargs):
        parts = [str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()]
        _State.flag(" ".join(parts)[:300] or "sandbox violation")

    module.install_guard(writable=list(writable), hidden=list(hidden), on_violation=on_violation)


def main(argv) -> int:
    rfd, wfd = int(argv[1]), int(argv[2])
    shm_in = shm_out = None
    if len(argv) >= 5:
        import mmap

        shm_in = mmap.mmap(int(argv[3]), 0)
        shm_out = mmap.mmap(int(argv[4]), 0)
        os.close(int(argv[3]))
        os.close(int(argv[4]))
    ep = ChildEndpoint(rfd, wfd, shm_in=shm_in, shm_out=shm_out)
    _State.endpoint = ep
    install_stand_ins()
    # The first message configures the guard, before any submitted code runs.
    msg, bufs = ep.recv()
    if msg.get("op") != "init":
        return 2
    try:
        _load_sandbox(msg.get("sandbox"), msg.get("writable") or [], msg.get("hidden") or [])
        ep._send_with({"t": "ok", "v": None}, [])
    except BaseException as exc:  # the guard failed to install: report it, and stop
        ep._send_with({"t": "err", "e": describe_exception(exc)}, [])
        return 3
    while True:
        try:
            msg, bufs = ep.recv()
        except (Lost, Malformed):
            return 0
        try:
            ep._receive_common(msg, bufs)
            if msg.get("t") != "req":
                return 4
            if msg.get("op") == "bye":
                return 0
            ep.serve(msg, bufs)
        except (Lost, Malformed):
            return 5


if __name__ == "__main__":
    os._exit(main(sys.argv))
