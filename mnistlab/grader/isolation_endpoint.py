"""One side of the isolated re-check's connection: the value codec, handles, array tracking, requests.

:class:`Endpoint` is used by both sides: the trusted grader
(:mod:`mnistlab.grader.isolation`, ``side="p"``) imports it normally; the
isolated process (``mnistlab/grader/isolated_child.py``, ``side="c"``) loads
this file by path, with its sibling :mod:`mnistlab.grader.isolation_wire` (the
framing, limits, proxies and exceptions it builds on), because it cannot import
``mnistlab`` (see :func:`mnistlab.grader.isolated_child._load_sibling`). Hence
the relative import below, and nothing of ``mnistlab`` beyond that sibling:
only the standard library and NumPy.

Arrays keep their identity across the boundary (a tag per array): an array sent
back arrives as the sender's original object, and the child compares every
array it holds from the parent (or sent to it) with a snapshot before each
message it sends, so in-place changes reach the parent's original
(``orig[...] = new``). The parent does the same for the arrays of a callback it
serves. NumPy Generators travel with their state, which flows back the same way.
"""

from __future__ import annotations

import builtins
import json
import math
import pathlib
import types
import warnings
import weakref

import numpy as np

# Relative, not ``mnistlab.grader.isolation_wire``: in the isolated process both files are
# loaded by path as ``_mnistlab_isolation.*`` (see isolated_child._load_sibling).
from .isolation_wire import (
    _BIT_GENERATORS,
    _BUILTIN_TYPES,
    _DTYPE_RE,
    _HEAD,
    _NAME_RE,
    MAGIC,
    MAX_BUFFERS,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_JSON,
    MAX_MESSAGE,
    Lost,
    Malformed,
    RemoteOperationRefused,
    _dynamic_exception,
    _new_proxy,
    _proxy_info,
    describe_exception,
    read_into,
    rebuild_exception,
    write_all,
)


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
