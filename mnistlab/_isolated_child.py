"""The wire protocol of the isolated re-check, and the isolated process itself.

This file has two roles (see :mod:`mnistlab.isolation`):

* imported by the trusted parent (``from mnistlab import _isolated_child``), it
  provides :class:`Endpoint`: the framing, the value codec and the proxies of
  remote objects;
* run as a script (``python -I _isolated_child.py <read fd> <write fd>``), it is
  the isolated process that executes a student's notebook cells and serves the
  parent's requests on its objects.

It imports nothing but the standard library and NumPy, and never ``mnistlab``:
in the isolated process ``mnistlab`` and ``mnistlab.*`` import as stand-in
modules whose attributes are tripwires (see :func:`install_stand_ins`).

Wire format (both directions): a 16-byte header ``b"MNL1"``, the JSON length
(uint32, little-endian), the total length of the binary buffers (uint64); then
the JSON header (UTF-8); then the buffers, back to back (their lengths are the
header's ``"bl"`` list), or, when the header says ``"shm": true``, in the
sender's shared-memory region (a sealed memfd per direction; the receiver copies
them out first). Nothing is ever pickled or evaluated: values are decoded by
:meth:`Endpoint.decode` with strict checks, everything that is not plain data
travels as a handle and is used through a proxy.

Arrays keep their identity across the boundary (a tag per array): an array sent
back arrives as the sender's original object, and the child compares every
array it holds from the parent (or sent to it) with a snapshot before each
message it sends, so in-place changes reach the parent's original
(``orig[...] = new``). The parent does the same for the arrays of a callback it
serves. NumPy Generators travel with their state, which flows back the same way.
"""

from __future__ import annotations

import builtins
import errno
import json
import linecache
import math
import os
import pathlib
import re
import select
import struct
import sys
import time
import types
import warnings
import weakref

import numpy as np

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


# ---------------------------------------------------------------------------
# The endpoint: codec, handles, array tracking, requests
# ---------------------------------------------------------------------------


def _ident(text, limit=100):
    text = text if isinstance(text, str) else "?"
    return text[:limit]


class Endpoint:
    """One side of the connection.

    ``side`` is ``"p"`` (the trusted parent) or ``"c"`` (the isolated child).
    The parent restricts what the child may do with the parent's objects
    (calls, public attributes, iteration; no setattr, no private names).
    """

    def __init__(self, rfd: int, wfd: int, side: str, *, special_exceptions=None, shm_in=None, shm_out=None):
        self.rfd, self.wfd, self.side = rfd, wfd, side
        # Optional shared memory (mmap objects) for the buffers of a message: one region per direction.
        # The receiver copies a message's buffers out before it uses them; the header says where they are.
        self.shm_in, self.shm_out = shm_in, shm_out
        self.deadline: float | None = None
        self.special = dict(special_exceptions or {})
        self.on_flags = None  # parent: called with the list of [scope, text] flags the child sent
        self.pending_flags: list = []  # child: flags to send with the next message
        self.traceback_hook = None  # parent: traceback_hook(exc, frames) -> a traceback of the child's frames
        self.watch_all = side == "c"
        self._watch: set | None = None
        self._holds: list = []
        self._errstate: list = []  # per request being served: the NumPy error state to run it under
        self._warnings: list = []  # per request being served: [category, message] of its warnings
        self._pending: list = []  # (tag, buffer index) of the arrays in the message being built
        self._region_tags: list = []  # tags whose snapshot lives in a shared-memory region
        self._in_offsets: list | None = None  # where the last message's buffers are in shm_in
        self._next_hid = 1  # handles and tags are never reused, not even after reset()
        self._next_tag = 1
        self.reset()

    def reset(self) -> None:
        self.handles: dict = {}  # hid -> own object
        self.handle_ids: dict = {}  # id(own object) -> hid
        self.proxies: dict = {}  # remote hid -> proxy
        self.tracked: dict = {}  # tag -> [ref (callable), snapshot bytes | state json, kind]
        self.tracked_ids: dict = {}  # id(local object) -> tag
        self._inserts = 0

    # -- framing ------------------------------------------------------------

    def recv(self) -> tuple[dict, list]:
        head = bytearray(_HEAD.size)
        read_into(self.rfd, head, self.deadline)
        magic, jlen, total = _HEAD.unpack(head)
        if magic != MAGIC or jlen > MAX_JSON or total > MAX_MESSAGE:
            raise Malformed("header")
        raw = bytearray(jlen)
        read_into(self.rfd, raw, self.deadline)
        try:
            msg = json.loads(raw.decode())
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Malformed("json") from None
        if not isinstance(msg, dict):
            raise Malformed("json")
        lens = msg.get("bl")
        if not (isinstance(lens, list) and len(lens) <= MAX_BUFFERS and all(type(n) is int and n >= 0 for n in lens)
                and sum(lens) == total):
            raise Malformed("buffers")
        bufs = []
        self._in_offsets = None
        if msg.get("shm") is True:
            if self.shm_in is None or total > len(self.shm_in):
                raise Malformed("shared memory")
            pos = 0
            offsets = []
            for n in lens:
                # A copy (uint8 array): the other side may write into the region at any time.
                bufs.append(np.frombuffer(self.shm_in, np.uint8, n, pos).copy())
                offsets.append(pos)
                pos += n
            self._in_offsets = offsets
            return msg, bufs
        for n in lens:
            b = bytearray(n)
            read_into(self.rfd, b, self.deadline)
            bufs.append(b)
        return msg, bufs

    # -- requests -------------------------------------------------------------

    def request(self, op: str, **fields):
        bufs: list = []
        self._pending = []
        encoded = {k: self.encode(v, bufs) if k in ("a", "k", "v") else v for k, v in fields.items()}
        msg = {"t": "req", "op": op, **encoded}
        if self.side == "p":
            # The student's code runs under the caller's NumPy error state, as it would in-process.
            msg["np"] = np.geterr()
        self._send_with(msg, bufs)
        while True:
            reply, rbufs = self.recv()
            self._receive_common(reply, rbufs)
            kind = reply.get("t")
            if kind in ("ok", "err") and reply.get("w") is not None:
                self._warn(reply["w"])
            if kind == "req":
                self.serve(reply, rbufs)
            elif kind == "ok":
                return self.decode(reply.get("v"), rbufs)
            elif kind == "err":
                exc = rebuild_exception(reply.get("e"), self.special)
                frames = reply["e"].get("frames") if isinstance(reply.get("e"), dict) else None
                tb = self.traceback_hook(exc, frames) if self.traceback_hook is not None else None
                raise exc.with_traceback(tb)
            else:
                raise Malformed("message type")

    def _warn(self, items) -> None:
        """Re-issue here the warnings the other side's code issued (a check records them)."""
        if not isinstance(items, list):
            raise Malformed("warnings")
        for item in items[:20]:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], str) and _NAME_RE.match(item[0])):
                raise Malformed("warnings")
            category = getattr(builtins, item[0], None)
            if not (isinstance(category, type) and issubclass(category, Warning)):
                category = _dynamic_exception(item[0], UserWarning)
            warnings.warn(item[1][:1000], category, stacklevel=3)

    def _send_with(self, msg: dict, bufs: list, release=None) -> None:
        """Send a message whose values are encoded (``bufs``, ``self._pending``), with in-place updates.

        Order matters: compare the tracked arrays with their snapshots (while the shared-memory
        regions still hold them), let the request's arrays go (``release``), copy the snapshots
        that still live in a region (the regions are about to be overwritten), write.
        """
        pending, self._pending = self._pending, []
        updates = self._collect_updates(bufs, pending)
        if updates:
            msg["up"] = updates
        if release is not None:
            release()
        self._materialize()
        if self.pending_flags:
            msg["fl"] = self.pending_flags
            self.pending_flags = []
        lens = msg["bl"] = [len(b) if isinstance(b, (bytes, bytearray)) else b.nbytes for b in bufs]
        total = sum(lens)
        offsets = None
        if bufs and self.shm_out is not None and total <= len(self.shm_out):
            msg["shm"] = True
            pos, offsets = 0, []
            with memoryview(self.shm_out) as region:
                for b, n in zip(bufs, lens):
                    region[pos:pos + n] = b if isinstance(b, (bytes, bytearray)) else memoryview(b).cast("B")
                    offsets.append(pos)
                    pos += n
        for tag, index in pending:
            entry = self.tracked.get(tag)
            if entry is None:
                continue
            if not self.watch_all:
                entry[1] = None
            elif offsets is not None:
                entry[1] = ("out", offsets[index], lens[index])
                self._region_tags.append(tag)
            else:
                entry[1] = bytes(memoryview(bufs[index]).cast("B"))
        head = json.dumps(msg, separators=(",", ":"), allow_nan=True).encode()
        write_all(self.wfd, [_HEAD.pack(MAGIC, len(head), total) + head, *([] if offsets is not None else bufs)],
                  self.deadline)

    def _region(self, snap):
        region = self.shm_in if snap[0] == "in" else self.shm_out
        return np.frombuffer(region, np.uint8, count=snap[2], offset=snap[1])

    def _materialize(self) -> None:
        """Copy the snapshots still in a shared-memory region (of live arrays) into bytes."""
        for tag in self._region_tags:
            entry = self.tracked.get(tag)
            if entry is None or type(entry[1]) is not tuple:
                continue
            if entry[0]() is None:
                entry[1] = None
            else:
                entry[1] = self._region(entry[1]).tobytes()
        self._region_tags = []

    def _differs(self, obj, snap) -> bool:
        cur = np.ascontiguousarray(obj).reshape(-1).view(np.uint8)
        old = self._region(snap) if type(snap) is tuple else np.frombuffer(snap, np.uint8)
        if cur.size != old.size:
            return True
        n8 = cur.size - cur.size % 8
        return not (bool((cur[:n8].view(np.uint64) == old[:n8].view(np.uint64)).all())
                    and bool((cur[n8:] == old[n8:]).all()))

    def _receive_common(self, msg: dict, bufs: list) -> None:
        flags = msg.get("fl")
        if flags is not None:
            if not (isinstance(flags, list) and len(flags) <= 1000):
                raise Malformed("flags")
            if self.on_flags is not None:
                self.on_flags([[f[0], str(f[1])[:500]] for f in flags
                               if isinstance(f, list) and len(f) == 2 and (f[0] is None or isinstance(f[0], str))])
        updates = msg.get("up")
        if updates is not None:
            if not isinstance(updates, list):
                raise Malformed("updates")
            for u in updates:
                self._apply_update(u, bufs)

    def serve(self, msg: dict, bufs: list) -> None:
        """Serve one request of the other side and send the reply."""
        outer_watch = self._watch
        if self.side == "p":
            self._watch = set()  # the parent compares only the arrays of the request it serves
        # The request's arrays stay alive until the reply is sent: their in-place changes go with it.
        held = []
        self._holds.append(held)
        self._errstate.append(msg.get("np"))
        self._warnings.append([])
        try:
            rbufs: list = []
            try:
                value = self._perform(msg, bufs)
                self._pending = []
                reply = {"t": "ok", "v": self.encode(value, rbufs)}
                del value
            except (Lost, Malformed):
                raise
            except BaseException as exc:  # the request failed: tell the other side
                if self.side == "p" and not isinstance(exc, Exception):
                    raise  # KeyboardInterrupt, SystemExit in the grader are the grader's
                rbufs = []
                self._pending = []
                reply = {"t": "err", "e": describe_exception(exc, self._frame_filter)}
                del exc
            caught = self._warnings[-1]
            if caught:
                reply["w"] = caught[:20]
            self._send_with(reply, rbufs, release=held.clear)
        finally:
            self._watch = outer_watch
            self._holds.pop()
            self._errstate.pop()
            self._warnings.pop()

    _frame_filter = None  # set on the child to keep only the student's frames

    def _perform(self, msg: dict, bufs: list):
        op = msg.get("op")
        if op in ("call", "getattr", "setattr", "next", "iter"):
            obj = self._own(msg.get("h"))
            if op == "call":
                args = self.decode(msg.get("a"), bufs)
                kwargs = self.decode(msg.get("k"), bufs)
                if not isinstance(args, tuple) or not isinstance(kwargs, dict):
                    raise Malformed("call")
                if self.side == "p" and not callable(obj):
                    raise RemoteOperationRefused("not callable")
                return self.perform_call(obj, args, kwargs)
            name = msg.get("name")
            if op == "getattr":
                if not isinstance(name, str):
                    raise Malformed("getattr")
                if self.side == "p" and (name.startswith("_") or isinstance(obj, (types.ModuleType, type))):
                    raise RemoteOperationRefused(f"attribute {name!r} of a grader object")
                return self.perform_call(getattr, (obj, name), {})
            if op == "setattr":
                if self.side == "p":
                    raise RemoteOperationRefused("setting attributes of a grader object")
                if not isinstance(name, str):
                    raise Malformed("setattr")
                return self.perform_call(setattr, (obj, name, self.decode(msg.get("v"), bufs)), {})
            if op == "next":
                return self.perform_call(next, (obj,), {})
            return self.perform_call(iter, (obj,), {})
        return self.perform_other(op, msg, bufs)

    def perform_call(self, fn, args, kwargs):
        return fn(*args, **kwargs)

    def perform_other(self, op, msg, bufs):
        raise Malformed(f"unknown operation {op!r}")

    def _own(self, hid):
        if type(hid) is not int or hid not in self.handles:
            raise Malformed("handle")
        return self.handles[hid]

    # -- values -----------------------------------------------------------------

    def _export(self, value) -> int:
        key = id(value)
        hid = self.handle_ids.get(key)
        if hid is not None and self.handles.get(hid) is value:
            return hid
        hid = self._next_hid
        self._next_hid += 1
        self.handles[hid] = value
        self.handle_ids[key] = hid
        return hid

    def _new_tag(self) -> str:
        tag = f"{self.side}{self._next_tag}"
        self._next_tag += 1
        return tag

    def _prune(self) -> None:
        self._inserts += 1
        if self._inserts % 256:
            return
        for tag in [t for t, e in self.tracked.items() if e[0]() is None]:
            del self.tracked[tag]
        live = {id(e[0]()) for e in self.tracked.values()}
        for key in [k for k in self.tracked_ids if k not in live]:
            del self.tracked_ids[key]

    def _tag_of(self, obj):
        tag = self.tracked_ids.get(id(obj))
        if tag is not None:
            entry = self.tracked.get(tag)
            if entry is not None and entry[0]() is obj:
                return tag
        return None

    def _track(self, tag: str, obj, snapshot, kind: str) -> None:
        try:
            ref = weakref.ref(obj)
        except TypeError:
            ref = (lambda o: (lambda: o))(obj)
        self.tracked[tag] = [ref, snapshot, kind]
        self.tracked_ids[id(obj)] = tag
        self._prune()

    def encode(self, value, bufs: list, depth: int = 0):
        t = type(value)
        if value is None or t is bool or t is str:
            return value
        if t is int:
            if abs(value) < 10 ** MAX_INT_DIGITS:
                return value
        elif t is float:
            return value
        if depth > MAX_DEPTH:
            raise RecursionError("nested too deeply")
        if t is np.ndarray and value.dtype.kind in "biufc" and value.dtype.fields is None:
            tag = self._tag_of(value)
            data = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
            # The snapshot (what the other side now holds) is set when the message is written.
            if tag is None:
                tag = self._new_tag()
                self._track(tag, value, None, "a")
            bufs.append(data)
            self._pending.append((tag, len(bufs) - 1))
            return {"a": len(bufs) - 1, "dt": value.dtype.str, "sh": list(value.shape),
                    "ro": not value.flags.writeable, "tag": tag}
        if t is tuple:
            return {"t": [self.encode(v, bufs, depth + 1) for v in value]}
        if t is list:
            return {"l": [self.encode(v, bufs, depth + 1) for v in value]}
        if t is dict and all(type(k) is str for k in value):
            return {"d": [[k, self.encode(v, bufs, depth + 1)] for k, v in value.items()]}
        if t is complex:
            return {"j": [value.real, value.imag]}
        if t is bytes or t is bytearray:
            bufs.append(value)
            return {"by" if t is bytes else "ba": len(bufs) - 1}
        if t in (pathlib.PosixPath, pathlib.PurePosixPath):
            return {"path": str(value)}
        if isinstance(value, np.generic) and t.__module__ == "numpy" and value.dtype.kind in "biufc":
            bufs.append(np.asarray(value).reshape(-1).view(np.uint8).tobytes())
            return {"s": len(bufs) - 1, "dt": value.dtype.str}
        if t is np.dtype and value.kind in "biufc" and value.fields is None:
            return {"dtype": value.str}
        if t is type:
            if value in _BUILTIN_TYPES.values():
                return {"bt": value.__name__}
        if isinstance(value, type) and issubclass(value, np.generic) and value.__module__ == "numpy":
            try:
                dt = np.dtype(value)
            except TypeError:
                dt = None
            if dt is not None and dt.kind in "biufc":
                return {"st": dt.str}
        if t is np.random.Generator and type(value.bit_generator).__name__ in _BIT_GENERATORS:
            tag = self._tag_of(value)
            state = value.bit_generator.state
            snap = json.dumps(self._plain(state), sort_keys=True)
            if tag is None:
                tag = self._new_tag()
                self._track(tag, value, snap, "g")
            else:
                self.tracked[tag][1] = snap
            return {"g": self.encode(state, bufs, depth + 1), "tag": tag}
        info = _proxy_info(value)
        if info is not None and info[0] is not self:
            info = None
        if info is not None:
            return {"yours": info[1]}
        if isinstance(value, type):
            kind = "class"
        elif hasattr(t, "__next__") and hasattr(t, "__iter__"):
            kind = "iter"
        elif callable(value):
            kind = "call"
        else:
            kind = "obj"
        name = t.__name__ if kind != "class" else type.__getattribute__(value, "__name__")
        return {"h": self._export(value), "k": kind, "n": _ident(name)}

    def _plain(self, value):
        """A JSON-able form of a bit generator's state (for comparing snapshots)."""
        if isinstance(value, dict):
            return {str(k): self._plain(v) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, (np.integer,)):
            return int(value)
        return value

    def decode(self, node, bufs: list, depth: int = 0):
        if node is None or type(node) in (bool, str, float):
            return node
        if type(node) is int:
            return node
        if depth > MAX_DEPTH or type(node) is not dict or len(node) == 0:
            raise Malformed("value")
        if "a" in node:
            return self._decode_array(node, bufs)
        if "t" in node:
            items = node["t"]
            if type(items) is not list:
                raise Malformed("tuple")
            return tuple(self.decode(v, bufs, depth + 1) for v in items)
        if "l" in node:
            items = node["l"]
            if type(items) is not list:
                raise Malformed("list")
            return [self.decode(v, bufs, depth + 1) for v in items]
        if "d" in node:
            items = node["d"]
            if type(items) is not list:
                raise Malformed("dict")
            out = {}
            for item in items:
                if type(item) is not list or len(item) != 2 or type(item[0]) is not str:
                    raise Malformed("dict")
                out[item[0]] = self.decode(item[1], bufs, depth + 1)
            return out
        if "j" in node:
            re_im = node["j"]
            if type(re_im) is not list or len(re_im) != 2 or not all(type(x) in (int, float) for x in re_im):
                raise Malformed("complex")
            return complex(re_im[0], re_im[1])
        if "by" in node or "ba" in node:
            b = self._buf(node.get("by", node.get("ba")), bufs)
            return bytes(b) if "by" in node else bytearray(b)
        if "path" in node:
            if type(node["path"]) is not str:
                raise Malformed("path")
            return pathlib.Path(node["path"])
        if "s" in node:
            dt = self._dtype(node.get("dt"))
            b = self._buf(node["s"], bufs)
            if len(b) != dt.itemsize:
                raise Malformed("scalar")
            return np.frombuffer(bytes(b), dtype=dt)[0]
        if "dtype" in node:
            return self._dtype(node["dtype"])
        if "st" in node:
            return self._dtype(node["st"]).type
        if "bt" in node:
            if node["bt"] not in _BUILTIN_TYPES:
                raise Malformed("type")
            return _BUILTIN_TYPES[node["bt"]]
        if "g" in node:
            return self._decode_generator(node, bufs, depth)
        if "yours" in node:
            return self._own(node["yours"])
        if "h" in node:
            hid, kind, name = node["h"], node.get("k"), node.get("n")
            if type(hid) is not int or kind not in ("class", "iter", "call", "obj") or type(name) is not str:
                raise Malformed("handle")
            proxy = self.proxies.get(hid)
            if proxy is None:
                clean = name if _NAME_RE.match(name) else "RemoteObject"
                proxy = self.proxies[hid] = _new_proxy(self, hid, kind, clean)
            return proxy
        raise Malformed("value")

    def _buf(self, index, bufs):
        if type(index) is not int or not 0 <= index < len(bufs):
            raise Malformed("buffer index")
        return bufs[index]

    _dtypes: dict = {}

    def _dtype(self, text):
        dt = self._dtypes.get(text) if type(text) is str else None
        if dt is not None:
            return dt
        if type(text) is not str or not _DTYPE_RE.match(text):
            raise Malformed("dtype")
        try:
            dt = np.dtype(text)
        except TypeError:
            raise Malformed("dtype") from None
        if dt.kind not in "biufc" or dt.itemsize > 32:
            raise Malformed("dtype")
        self._dtypes[text] = dt
        return dt

    def _snapshot(self, index: int, b):
        """The snapshot of a received array: where it is in shm_in, a copy, or None (not watched)."""
        if self.watch_all and self._in_offsets is not None:
            return ("in", self._in_offsets[index], len(b))
        if self.watch_all or self._watch is not None:
            return bytes(b)
        return None

    def _decode_array(self, node, bufs):
        dt = self._dtype(node.get("dt"))
        shape = node.get("sh")
        tag = node.get("tag")
        if type(shape) is not list or len(shape) > 32 or \
                not all(type(n) is int and 0 <= n < 2 ** 40 for n in shape):
            raise Malformed("shape")
        if type(tag) is not str or len(tag) > 32:
            raise Malformed("tag")
        index = node["a"]
        b = self._buf(index, bufs)
        if math.prod(shape) * dt.itemsize != len(b):
            raise Malformed("array size")
        if self._watch is not None:
            self._watch.add(tag)
        entry = self.tracked.get(tag)
        local = entry[0]() if entry is not None and entry[2] == "a" else None
        if local is not None and local.dtype == dt and list(local.shape) == shape:
            if local.flags.writeable:
                new = np.frombuffer(b, dtype=dt).reshape(shape)
                local[...] = new
            entry[1] = self._snapshot(index, b)
            if type(entry[1]) is tuple:
                self._region_tags.append(tag)
            if self._holds:
                self._holds[-1].append(local)
            return local
        try:
            arr = np.frombuffer(b, dtype=dt).reshape(shape)
        except ValueError:
            raise Malformed("array shape") from None
        if node.get("ro") is True:
            arr.flags.writeable = False
        self._track(tag, arr, self._snapshot(index, b), "a")
        if type(self.tracked[tag][1]) is tuple:
            self._region_tags.append(tag)
        if self._holds:
            self._holds[-1].append(arr)
        return arr

    def _decode_generator(self, node, bufs, depth):
        tag = node.get("tag")
        state = self.decode(node["g"], bufs, depth + 1)
        if type(tag) is not str or not isinstance(state, dict):
            raise Malformed("generator")
        name = state.get("bit_generator")
        if name not in _BIT_GENERATORS:
            raise Malformed("generator")
        entry = self.tracked.get(tag)
        gen = entry[0]() if entry is not None and entry[2] == "g" else None
        if gen is None:
            gen = np.random.Generator(getattr(np.random, name)())
        try:
            gen.bit_generator.state = state
        except Exception:
            raise Malformed("generator state") from None
        self._track(tag, gen, json.dumps(self._plain(gen.bit_generator.state), sort_keys=True), "g")
        return gen

    # -- in-place changes ---------------------------------------------------------

    def _collect_updates(self, bufs: list, pending: list) -> list:
        """[tag, buffer index] for each watched array changed since its snapshot (and generators' states)."""
        if self.watch_all:
            tags = list(self.tracked)
        elif self._watch:
            tags = list(self._watch)
        else:
            return []
        updates = []
        for tag in tags:
            entry = self.tracked.get(tag)
            if entry is None:
                continue
            obj = entry[0]()
            if obj is None:
                del self.tracked[tag]
                continue
            if entry[1] is None:
                continue
            if entry[2] == "a":
                if self._differs(obj, entry[1]):
                    bufs.append(np.ascontiguousarray(obj).reshape(-1).view(np.uint8))
                    pending.append((tag, len(bufs) - 1))
                    updates.append([tag, len(bufs) - 1])
            else:
                state = obj.bit_generator.state
                snap = json.dumps(self._plain(state), sort_keys=True)
                if snap != entry[1]:
                    entry[1] = snap
                    updates.append([tag, {"g": self.encode(state, bufs), "tag": tag}])
        return updates

    def _apply_update(self, u, bufs) -> None:
        if type(u) is not list or len(u) != 2 or type(u[0]) is not str:
            raise Malformed("update")
        tag, what = u
        entry = self.tracked.get(tag)
        if type(what) is int:
            b = self._buf(what, bufs)
            if entry is None or entry[2] != "a":
                return
            obj = entry[0]()
            if obj is None:
                return
            if obj.nbytes != len(b):
                raise Malformed("update size")
            if obj.flags.writeable:
                obj[...] = np.frombuffer(b, dtype=obj.dtype).reshape(obj.shape)
            entry[1] = self._snapshot(what, b)
            if type(entry[1]) is tuple:
                self._region_tags.append(tag)
        elif type(what) is dict and "g" in what:
            if entry is None or entry[2] != "g":
                return
            self._decode_generator({"g": what["g"], "tag": tag}, bufs, 1)
        else:
            raise Malformed("update")


# ---------------------------------------------------------------------------
# The isolated process
# ---------------------------------------------------------------------------


class ReferenceUnavailable(RuntimeError):
    """Raised when submitted code uses mnistlab (the reference) in the isolated re-check."""


class IDXFormatError(ValueError):
    """Stand-in for mnistlab.data.IDXFormatError."""


class GradingFailure(AssertionError):
    """Stand-in for mnistlab.grading.GradingFailure."""


_SUBMODULES = ("bench", "cli", "data", "functional", "gradcheck", "grading", "grading_cli", "layers",
               "metrics", "model", "optim", "plots", "tolerances", "train", "isolation", "sandbox")


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
    if fullname == "mnistlab":
        module.__path__ = []

    def __getattr__(name, _fullname=fullname):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name.startswith("check_"):
            return _noop_check
        if _fullname == "mnistlab" and name in _SUBMODULES:
            import importlib

            return importlib.import_module(f"mnistlab.{name}")
        return Tripwire(f"{_fullname}.{name}")

    module.__getattr__ = __getattr__
    return module


class StandInFinder:
    """A meta path finder (first in sys.meta_path) that serves mnistlab and mnistlab.* as stand-ins."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname == "mnistlab" or fullname.startswith("mnistlab."):
            import importlib.machinery

            return importlib.machinery.ModuleSpec(fullname, cls, is_package=fullname == "mnistlab")
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
    """Frames worth showing: not this file's, not the guard's."""
    return filename != __file__ and not filename.endswith("_isolated_child.py") and filename not in _GUARD_FILES


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
