"""MNIST as arrays: the IDX file format, normalizing, one-hot labels, mini-batches.

Chapter 1 (Data loading), ``book/01_data.md``.

The four MNIST files are in the IDX format: a 4-byte magic number (two zero
bytes, a data-type code and the number of dimensions), one big-endian 32-bit
size per dimension, then the values in C order. :func:`read_idx` parses it
(:func:`write_idx` and :func:`idx_bytes` write it), :func:`load_mnist` returns
arrays ready for training, and :func:`one_hot`, :func:`normalize`,
:func:`iterate_minibatches` and :func:`split_validation` are the small tools
every training loop needs. Getting the files onto disk, unaltered (SHA-256), is
:func:`mnistlab.fetch.fetch_mnist`, in its own module.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from mnistlab._rng import as_generator

# `fetch_mnist` is imported here for load_mnist, and stays importable as
# `mnistlab.data.fetch_mnist` because the released a1 notebook, already with the
# students, does `from mnistlab.data import fetch_mnist`. New code imports it
# (and everything else about downloading) from mnistlab.fetch.
from mnistlab.fetch import GZIP_MAGIC, TEST_FILES, TRAIN_FILES, fetch_mnist

__all__ = [
    "IDXFormatError",
    "read_idx",
    "write_idx",
    "idx_bytes",
    "load_mnist",
    "one_hot",
    "normalize",
    "iterate_minibatches",
    "split_validation",
]

#: IDX data-type code -> (big-endian dtype, name used in messages).
IDX_DTYPES: dict[int, tuple[np.dtype, str]] = {
    0x08: (np.dtype(">u1"), "unsigned byte"),
    0x09: (np.dtype(">i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "short (int16)"),
    0x0C: (np.dtype(">i4"), "int (int32)"),
    0x0D: (np.dtype(">f4"), "float (float32)"),
    0x0E: (np.dtype(">f8"), "double (float64)"),
}

_REFETCH_HINT = (
    "If this is one of the MNIST files it is damaged: delete it and download it again with "
    "`mnistlab data fetch` (or `mnistlab.fetch.fetch_mnist()`), which verifies each file's SHA-256."
)


class IDXFormatError(ValueError):
    """A file or byte string is not valid IDX data (the message says what and where)."""


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
    if bytes(buf[:2]) == GZIP_MAGIC:
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
        Default as in :func:`mnistlab.fetch.fetch_mnist`.

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
    for images_name, labels_name in (TRAIN_FILES, TEST_FILES):
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


def split_validation(x, y, val_size: int, *, rng=None, copy: bool = True):
    """Hold out ``val_size`` random samples for validation.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, shape (N,) or (N, C)
    val_size : int
        Samples to hold out, 1 <= val_size < N.
    rng : np.random.Generator, int or None
    copy : bool, default True
        True: ``x`` and ``y`` are left as they are and the two parts are new
        arrays. False: the rows of ``x`` and ``y`` are reordered in place so
        that the held-out samples come last, and the two parts are views of
        them, so the data set is not copied (what ``mnistlab train`` does with
        the 188 MB of float32 MNIST it has just loaded). Both hold out the
        same samples for the same ``rng``; only the order of the rows differs.

    Returns
    -------
    ((x_train, y_train), (x_val, y_val))
        With N - val_size and val_size samples.
    """
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y must have the same number of samples, got len(x)={n} and len(y)={len(y)}")
    if isinstance(val_size, bool) or not isinstance(val_size, (int, np.integer)) or not 1 <= val_size < n:
        raise ValueError(f"val_size must be an integer in [1, {n}), got {val_size!r}")
    order = as_generator(rng).permutation(n)
    val, train = order[:val_size], order[val_size:]
    if copy:
        return (x[train], y[train]), (x[val], y[val])
    # Swap the held-out rows that sit in the first N - val_size places with the
    # training rows that sit in the last val_size places: only those rows move.
    n_train = n - val_size
    val_in_front = np.sort(val[val < n_train])
    train_at_back = np.sort(train[train >= n_train])
    for array in (x, y):
        array[val_in_front], array[train_at_back] = array[train_at_back], array[val_in_front]
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
