"""The wire format of the isolated re-check: framing, limits, proxies, exceptions across the boundary.

Used by both sides of the connection between the trusted grader
(:mod:`mnistlab.grader.isolation`) and the isolated process
(``mnistlab/grader/isolated_child.py``): imported normally by
:mod:`mnistlab.grader.isolation` and :mod:`mnistlab.grader.isolation_endpoint`;
loaded by file path in the isolated process, which cannot import ``mnistlab``
(see :func:`mnistlab.grader.isolated_child._load_sibling`). So it imports
nothing but the standard library, and nothing of ``mnistlab``.

Wire format (both directions): a 16-byte header ``b"MNL1"``, the JSON length
(uint32, little-endian), the total length of the binary buffers (uint64); then
the JSON header (UTF-8); then the buffers, back to back (their lengths are the
header's ``"bl"`` list), or, when the header says ``"shm": true``, in the
sender's shared-memory region (a sealed memfd per direction; the receiver copies
them out first). Nothing is ever pickled or evaluated: values are decoded by
:meth:`~mnistlab.grader.isolation_endpoint.Endpoint.decode` with strict checks,
everything that is not plain data travels as a handle and is used through a
proxy (:class:`RemoteObject` and its kin, here); an exception travels as a
description (:func:`describe_exception`) and is rebuilt without evaluating
anything (:func:`rebuild_exception`).
"""

from __future__ import annotations

import builtins
import errno
import linecache
import os
import re
import select
import struct
import time

MAGIC = b"MNL1"
_HEAD = struct.Struct("<4sIQ")
MAX_JSON = 16 << 20
MAX_BUFFERS = 100_000
MAX_MESSAGE = 256 << 20
MAX_DEPTH = 64
MAX_INT_DIGITS = 4000
_CHUNK = 1 << 20
_DTYPE_RE = re.compile(r"^[<>|=]?[biufc][0-9]{1,2}$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_ERR_MODES = ("ignore", "warn", "raise", "print", "log", "call")
_BUILTIN_TYPES = {t.__name__: t for t in (int, float, bool, complex, str, bytes, list, tuple, dict, object)}


class Lost(BaseException):
    """The other side is gone, too slow, or sent something malformed.

    A BaseException so that the checks' ``except Exception`` does not catch it.
    """


class Malformed(Lost):
    """A message that does not follow the protocol."""


class RemoteOperationRefused(PermissionError):
    """The other side refused an operation on one of its objects."""


# ---------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------


def _wait(fd: int, write: bool, deadline: float | None) -> None:
    if deadline is None:
        return
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Lost("timeout")
        try:
            r, w, _ = select.select([] if write else [fd], [fd] if write else [], [], left)
        except InterruptedError:
            continue
        if r or w:
            return


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise Lost("timeout")


def write_all(fd: int, parts, deadline: float | None) -> None:
    """Write everything; with a deadline the descriptor is non-blocking (the parent's side)."""
    for part in parts:
        mv = memoryview(part).cast("B")
        pos, n = 0, len(mv)
        while pos < n:
            _check_deadline(deadline)
            try:
                pos += os.write(fd, mv[pos:pos + _CHUNK])
            except BlockingIOError:
                _wait(fd, True, deadline)
                continue
            except (BrokenPipeError, ConnectionResetError, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno not in (errno.EPIPE, errno.EBADF, errno.ECONNRESET):
                    raise
                raise Lost("eof") from None


def read_into(fd: int, buf, deadline: float | None) -> None:
    mv = memoryview(buf).cast("B")
    pos, n = 0, len(mv)
    while pos < n:
        _check_deadline(deadline)
        try:
            got = os.readv(fd, [mv[pos:]])
        except BlockingIOError:
            _wait(fd, False, deadline)
            continue
        except OSError:
            raise Lost("eof") from None
        if got == 0:
            raise Lost("eof")
        pos += got


# ---------------------------------------------------------------------------
# Proxies of the other side's objects
# ---------------------------------------------------------------------------


#: The only special (``__x__``) attributes a proxy looks up on the other side. Others, such as
#: ``__array_interface__`` (whose answer NumPy would trust as a raw memory address) or
#: ``__deepcopy__``, are simply missing.
_REMOTE_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__module__", "__wrapped__"})


def _remote_name_allowed(name) -> bool:
    return not (name.startswith("__") and name.endswith("__")) or name in _REMOTE_DUNDERS


class RemoteObject:
    """A proxy of an object that lives on the other side: every use is a remote operation."""

    __slots__ = ("_ep", "_hid", "_tname", "__weakref__")

    def __getattr__(self, name):
        if not _remote_name_allowed(name):
            raise AttributeError(name)
        return self._ep.request("getattr", h=self._hid, name=name)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce_ex__(self, protocol):
        raise TypeError("a proxy of an object in the isolated process cannot be pickled")

    def __setattr__(self, name, value):
        self._ep.request("setattr", h=self._hid, name=name, v=value)

    def __iter__(self):
        return self._ep.request("iter", h=self._hid)

    def __repr__(self):
        return f"<isolated {self._tname} object>"


class RemoteCallable(RemoteObject):
    __slots__ = ()

    def __call__(self, *args, **kwargs):
        return self._ep.request("call", h=self._hid, a=args, k=kwargs)


class RemoteIterator(RemoteCallable):
    __slots__ = ()

    def __iter__(self):
        return self

    def __next__(self):
        return self._ep.request("next", h=self._hid)


class RemoteClass(type):
    """Metaclass of class proxies: a proxy of a remote class *is* a Python class."""

    def __call__(cls, *args, **kwargs):
        return cls._ep.request("call", h=cls._hid, a=args, k=kwargs)

    def __getattr__(cls, name):
        if name in ("_ep", "_hid") or not _remote_name_allowed(name):
            raise AttributeError(name)
        return cls._ep.request("getattr", h=cls._hid, name=name)

    def __repr__(cls):
        return f"<isolated class {cls.__name__}>"


def _new_proxy(ep, hid: int, kind: str, tname: str):
    if kind == "class":
        cls = RemoteClass(tname, (), {"__module__": "isolated"})
        type.__setattr__(cls, "_ep", ep)
        type.__setattr__(cls, "_hid", hid)
        return cls
    proxy_type = {"iter": RemoteIterator, "call": RemoteCallable}.get(kind, RemoteObject)
    proxy = object.__new__(proxy_type)
    object.__setattr__(proxy, "_ep", ep)
    object.__setattr__(proxy, "_hid", hid)
    object.__setattr__(proxy, "_tname", tname)
    return proxy


def _proxy_info(value):
    """(endpoint, handle id) if ``value`` is a proxy, else None."""
    t = type(value)
    if t is RemoteClass:
        return type.__getattribute__(value, "_ep"), type.__getattribute__(value, "_hid")
    if t in (RemoteObject, RemoteCallable, RemoteIterator):
        return object.__getattribute__(value, "_ep"), object.__getattribute__(value, "_hid")
    return None


# ---------------------------------------------------------------------------
# Exceptions across the boundary
# ---------------------------------------------------------------------------


def describe_exception(exc: BaseException, frame_filter=None, limit: int = 8) -> dict:
    mro = [c.__name__ for c in type(exc).__mro__]
    out = {"name": type(exc).__name__, "mro": mro[:20]}
    try:
        msg = str(exc)
    except BaseException:
        msg = "(unprintable message)"
    out["msg"] = msg[:4000]
    args = getattr(exc, "args", ())
    if isinstance(args, tuple) and len(args) <= 4 and all(
            type(a) in (str, int, float, bool) and (type(a) is not str or len(a) <= 4000) for a in args):
        out["args"] = list(args)
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if frame_filter is None or frame_filter(code.co_filename):
            lineno = tb.tb_lineno or 0
            frames.append([code.co_filename[-300:], lineno, code.co_name[:100],
                           linecache.getline(code.co_filename, lineno).strip()[:300]])
        tb = tb.tb_next
    out["frames"] = frames[-limit:]
    return out


_dynamic_exceptions: dict = {}


def _dynamic_exception(name: str, base: type) -> type:
    key = (name, base)
    if key not in _dynamic_exceptions:
        _dynamic_exceptions[key] = type(name, (base,), {"__module__": "isolated"})
    return _dynamic_exceptions[key]


def rebuild_exception(info, special: dict) -> BaseException:
    """An exception for ``info`` (from :func:`describe_exception`), built without evaluating anything.

    ``special`` maps class names (e.g. ``IDXFormatError``) to the local class to use.
    """
    if not isinstance(info, dict):
        raise Malformed("exception")
    name, mro, msg = info.get("name"), info.get("mro"), info.get("msg")
    if not (isinstance(name, str) and _NAME_RE.match(name) and isinstance(msg, str)
            and isinstance(mro, list) and len(mro) <= 64 and all(isinstance(m, str) for m in mro)):
        raise Malformed("exception")
    msg = msg[:4000]
    args = info.get("args")
    if not (isinstance(args, list) and len(args) <= 4 and all(
            type(a) in (str, float, bool) or (type(a) is int and abs(a) < 10 ** 100) for a in args)):
        args = [msg] if msg else []
    args = [a[:4000] if type(a) is str else a for a in args]
    cls = None
    for special_name, special_cls in special.items():
        if special_name in mro:
            cls = special_cls
            break
    if cls is None:
        builtin = getattr(builtins, name, None)
        if isinstance(builtin, type) and issubclass(builtin, Exception) and \
                [c.__name__ for c in builtin.__mro__] == mro[-len(builtin.__mro__):]:
            cls = builtin
        else:
            base = Exception
            for m in mro[1:]:
                candidate = getattr(builtins, m, None)
                if isinstance(candidate, type) and issubclass(candidate, Exception):
                    base = candidate
                    break
            if name == base.__name__:
                cls = base
            else:
                cls = _dynamic_exception(name, base)
    try:
        exc = cls(*args)
    except Exception:
        try:
            exc = cls(msg)
        except Exception:
            exc = _dynamic_exception(name, Exception)(msg)
    return exc
