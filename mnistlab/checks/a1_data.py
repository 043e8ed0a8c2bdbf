"""Checks of assignment ``a1_data`` (chapter 1, data loading)."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import struct
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from mnistlab import fetch as _fetch
from mnistlab.checks.references import NUMPY as _np, REFERENCE as _ref, IDXFormatError
from mnistlab.checks.messages import Problem, labeled, describe
from mnistlab.checks.runner import Check, random_shape, seeded_rng


#: The graded functions of this assignment, in notebook order: one autograder cell each.
GRADED = ('read_idx', 'one_hot', 'normalize', 'iterate_minibatches')
#: The teaching-library modules that define the reference of each graded function (the chapter map).
REFERENCE_MODULES = ("mnistlab.data",)

_IDX_CODE_HINT = ("byte 2 of the header is the data-type code: 0x08 uint8, 0x09 int8, 0x0B int16, "
                  "0x0C int32, 0x0D float32, 0x0E float64, all big-endian ('>i2', '>f4', ...)")


def _idx_header(code: int, dims) -> bytes:
    return struct.pack(f">BBBB{len(dims)}I", 0, 0, code, len(dims), *dims)


def _expect_idx(c: Check, got, expected: np.ndarray) -> None:
    """read_idx's result: the right shape, dtype and values, with hints for the usual slips."""
    if isinstance(got, np.ndarray) and got.shape != expected.shape and got.size == expected.size:
        raise c.problem(
            "the values may be right but the shape is wrong.",
            labeled("expected", f"shape {expected.shape}"),
            labeled("got", f"shape {got.shape}"),
            hint="reshape the values to the sizes in the header (one big-endian uint32 per dimension, after "
                 "the 4 magic bytes)",
        )
    if isinstance(got, np.ndarray) and got.shape == expected.shape and got.dtype != expected.dtype:
        swapped = got.dtype.newbyteorder("=") == expected.dtype and not got.dtype.isnative
        raise c.problem(
            f"the result has dtype {got.dtype!s} ({'big-endian' if swapped else got.dtype.name}), "
            f"expected {expected.dtype}.",
            hint=("return a native-endian array: .astype(arr.dtype.newbyteorder('=')) converts it"
                  if swapped else _IDX_CODE_HINT),
        )
    swapped_values = expected.byteswap()
    c.expect_array(
        got,
        expected,
        dtype=True,
        bugs=[("the bytes of each value are in the wrong order: IDX values are big-endian, read them with "
               "a '>' dtype such as '>i2' and then convert to native order", lambda: swapped_values)],
        hint=_IDX_CODE_HINT,
    )


def check_read_idx(read_idx: Callable, hidden: bool = False) -> None:
    """Check ``read_idx(source)`` (assignment a1_data) against :func:`mnistlab.data.read_idx`."""
    c = Check("read_idx", read_idx, hidden, ("source",), error_hints=[
        ("IDXFormatError", "this data is valid IDX: after the 4 magic bytes come ndim sizes, each a big-endian "
                           "uint32 (struct.unpack('>I', ...)), and the payload starts at byte 4 + 4 * ndim"),
    ])
    must_raise = "raise IDXFormatError (imported at the top of the notebook) with a message that says what is wrong"
    if not hidden:
        with c.test("a 1-D uint8 array from bytes"):
            raw = _ref.idx_bytes(_np.array([7, 8, 9], dtype=_np.uint8))
            _expect_idx(c, c.call(raw), _np.array([7, 8, 9], dtype=_np.uint8))
        with c.test("3-D uint8 images from a file path"):
            images = seeded_rng(1).integers(0, 256, size=(2, 3, 4), dtype=np.uint8)
            raw = _ref.idx_bytes(images)
            with tempfile.TemporaryDirectory(prefix="read_idx-") as folder:
                path = os.path.join(folder, "images-idx3-ubyte")
                Path(path).write_bytes(raw)
                got = c.call(path, labels={"source": f"path (str) of a file holding {describe(raw)}"})
            _expect_idx(c, got, images)
        with c.test("gzip-compressed bytes"):
            labels = _np.array([5, 0, 4, 1, 9, 2], dtype=_np.uint8)
            raw = gzip.compress(_ref.idx_bytes(labels), mtime=0)
            got = c.call(raw, error_hints=[("magic", "gzip data starts with the bytes 1f 8b: "
                                            "gzip.decompress it first, then parse the IDX bytes")])
            _expect_idx(c, got, labels)
        with c.test("a bad magic number raises IDXFormatError"):
            raw = b"\x01\x02\x08\x01" + struct.pack(">I", 3) + bytes([1, 2, 3])
            c.expect_raises(IDXFormatError, raw, reason="the first two bytes of an IDX file are 0", hint=must_raise)
    elif c.fixed_hidden_cases:
        gen = seeded_rng(11)
        with c.test("other data types, big-endian on disk"):
            arrays = [
                gen.integers(-128, 128, size=(3, 2), dtype=np.int8),
                _np.array([[-2, 300], [1000, -32768]], dtype=_np.int16),
                _np.array([-70000, 5, 2**31 - 1], dtype=_np.int32),
                gen.standard_normal((2, 3)).astype(_np.float32),
                gen.standard_normal((4,)),
            ]
            for arr in arrays:
                _expect_idx(c, c.call(_ref.idx_bytes(arr)), arr)
        with c.test("a binary file object"):
            arr = gen.integers(0, 256, size=(5, 2), dtype=np.uint8)
            raw = _ref.idx_bytes(arr)
            got = c.call(io.BytesIO(raw), labels={"source": f"io.BytesIO holding {describe(raw)}"},
                         error_hints=[("BytesIO", "a file object has a .read() method: read its bytes first")])
            _expect_idx(c, got, arr)
        with c.test("a gzip-compressed file, as a pathlib.Path"):
            arr = gen.integers(0, 10, size=(7,), dtype=np.uint8)
            raw = gzip.compress(_ref.idx_bytes(arr), mtime=0)
            with tempfile.TemporaryDirectory(prefix="read_idx-") as folder:
                path = Path(folder) / "labels-idx1-ubyte.gz"
                path.write_bytes(raw)
                got = c.call(path, labels={"source": f"pathlib.Path of a file holding {describe(raw)}"})
            _expect_idx(c, got, arr)
        with c.test("the result is a writable array of its own"):
            raw = _ref.idx_bytes(_np.array([1, 2, 3], dtype=_np.uint8))
            got = c.call(raw)
            _expect_idx(c, got, _np.array([1, 2, 3], dtype=_np.uint8))
            if not got.flags.writeable:
                raise c.problem(
                    "the returned array is read-only.",
                    hint="np.frombuffer on bytes gives a read-only view of them: return a copy (.copy())",
                )
        real = _real_mnist_test_files()
        if real:  # graded where MNIST is in the data folder (as the a5 training run needs it anyway)
            with c.test("the real MNIST test files"):
                for path in real:
                    got = c.call(str(path), labels={"source": f"path of {path.name} (the real file)"})
                    _expect_idx(c, got, _ref.read_idx(path))
        errors = [
            ("fewer than 4 bytes", b"\x00\x00", "an IDX header has at least 4 bytes"),
            ("an unknown data-type code", _idx_header(0x07, (2,)) + bytes(2), "0x07 is not an IDX data type"),
            ("zero dimensions", _idx_header(0x08, ()), "an IDX array has at least one dimension"),
            ("a header cut short", b"\x00\x00\x08\x03" + struct.pack(">I", 2), "3 dimensions need 12 bytes of sizes"),
            ("a payload cut short", _idx_header(0x08, (2, 3)) + bytes(5), "2 x 3 uint8 values need 6 bytes"),
            ("trailing bytes after the payload", _idx_header(0x08, (4,)) + bytes(6), "4 uint8 values need 4 bytes"),
            ("an int16 payload of odd length", _idx_header(0x0B, (2,)) + bytes(3), "2 int16 values need 4 bytes"),
        ]
        for title, raw, reason in errors:
            with c.test(f"{title} raises IDXFormatError"):
                c.expect_raises(
                    IDXFormatError, raw, reason=reason,
                    hint=must_raise + "; check every length (header and payload) before using it",
                )
    if hidden:
        for title, rng in c.random_cases("a multi-byte type, gzip, a bad magic number, trailing bytes"):
            with c.test(title, random=True):
                arr = _random_idx_array(rng)
                got = c.call(_ref.idx_bytes(arr))
                _expect_idx(c, got, arr)
                if not got.flags.writeable:
                    raise c.problem("the returned array is read-only.",
                                    hint="np.frombuffer on bytes gives a read-only view of them: return a copy (.copy())")
                arr = _random_idx_array(rng)
                got = c.call(gzip.compress(_ref.idx_bytes(arr), mtime=0),
                             error_hints=[("magic", "gzip data starts with the bytes 1f 8b: "
                                                    "gzip.decompress it first, then parse the IDX bytes")])
                _expect_idx(c, got, arr)
                raw = bytearray(_ref.idx_bytes(_random_idx_array(rng)))
                raw[int(rng.integers(0, 2))] = int(rng.integers(1, 256))
                c.expect_raises(IDXFormatError, bytes(raw), reason="the first two bytes of an IDX file are 0",
                                hint=must_raise)
                raw = _ref.idx_bytes(_random_idx_array(rng)) + rng.bytes(int(rng.integers(1, 9)))
                c.expect_raises(IDXFormatError, raw, reason="the payload is longer than the header's sizes say",
                                hint=must_raise + "; check every length (header and payload) before using it")
    c.done()


def _random_idx_array(rng: np.random.Generator) -> np.ndarray:
    """A random array of a multi-byte IDX type (int16, int32, float32 or float64), 1 to 3 axes of 1-6 entries."""
    shape = random_shape(rng, high=6)
    kind = rng.choice(["i2", "i4", "f4", "f8"])
    if kind[0] == "i":
        info = np.iinfo(np.dtype(kind))
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(kind)
    return (rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3)).astype(kind)


def _real_mnist_test_files() -> list[Path]:
    """The MNIST test images and labels in the data folder, if both are there with their right sizes.

    Nothing is downloaded: a check never touches the network.
    """
    folder = _fetch.default_data_dir()
    names = ("t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte")
    paths = [folder / name for name in names]
    if all(p.is_file() and p.stat().st_size == _fetch.MNIST_FILES[p.name][0] for p in paths):
        return paths
    return []


def check_one_hot(one_hot: Callable, hidden: bool = False) -> None:
    """Check ``one_hot(labels, num_classes=10)`` (assignment a1_data) against :func:`mnistlab.data.one_hot`."""
    c = Check("one_hot", one_hot, hidden, ("labels",))
    if not hidden:
        with c.test("hand-worked example with 3 classes"):
            labels = _np.array([2, 0, 1])
            got = c.call(labels, num_classes=3)
            c.expect_array(got, _ref.one_hot(labels, 3), bugs=[
                ("rows and columns are swapped: row i is sample i, with its 1 in column labels[i]",
                 lambda: _ref.one_hot(labels, 3).T),
                ("every row is all ones: out[:, labels] = 1 sets whole columns; set one entry per row with "
                 "out[np.arange(N), labels] = 1", lambda: _np.ones((3, 3))),
            ])
        with c.test("10 classes by default, even if the batch has no 9"):
            labels = _np.array([3, 1, 4, 1, 5])
            got = c.call(labels)
            c.expect_array(got, _ref.one_hot(labels, 10), bugs=[
                ("the number of columns comes from the labels (labels.max() + 1): use num_classes, a batch need "
                 "not contain every class", lambda: _ref.one_hot(labels, 6)),
            ])
    elif c.fixed_hidden_cases:
        gen = seeded_rng(21)
        with c.test("labels as a list, int32 or uint8"):
            for labels in ([0, 9, 4], _np.array([7, 7, 2], dtype=_np.int32), _np.array([1, 0, 8], dtype=_np.uint8)):
                got = c.call(labels)
                c.expect_array(got, _ref.one_hot(labels, 10))
        with c.test("a float array"):
            labels = gen.integers(0, 10, size=1000)
            got = c.call(labels, num_classes=10)
            c.expect_array(got, _ref.one_hot(labels, 10))
            if not _np.issubdtype(got.dtype, _np.floating):
                raise c.problem(f"the result has dtype {got.dtype}, expected floats (float64): one-hot rows are "
                                "used as probabilities.", hint="np.zeros((N, num_classes)) is float64")
        with c.test("an empty batch"):
            got = c.call(_np.array([], dtype=_np.int64), num_classes=4)
            c.expect_array(got, _np.zeros((0, 4)))
        with c.test("the input is not modified"):
            labels = gen.integers(0, 5, size=20)
            got = c.call(labels, num_classes=5, unmodified=("labels",))
            c.expect_array(got, _ref.one_hot(labels, 5))
        with c.test("a label equal to num_classes raises an error"):
            c.expect_raises((ValueError, IndexError), _np.array([0, 3]), num_classes=3,
                            reason="class ids must be in [0, num_classes)",
                            hint="check 0 <= labels < num_classes and raise ValueError")
        with c.test("a negative label raises an error"):
            c.expect_raises((ValueError, IndexError), _np.array([1, -1, 0]), num_classes=3,
                            reason="class ids must be in [0, num_classes)",
                            hint="NumPy reads index -1 as the last column, so np.eye(C)[labels] or "
                                 "out[rows, labels] = 1 silently accept it: check labels >= 0 and raise ValueError")
    if hidden:
        for title, rng in c.random_cases("no sample of the last class, then a negative label"):
            with c.test(title, random=True):
                classes, n = int(rng.integers(3, 13)), int(rng.integers(2, 21))
                labels = rng.integers(0, classes - 1, size=n).astype(rng.choice(["int64", "int32", "uint8"]))
                labels[1] = (labels[0] + 1) % (classes - 1)  # at least two classes
                got = c.call(labels, num_classes=classes, unmodified=("labels",))
                c.expect_array(got, _ref.one_hot(labels, classes), bugs=[
                    ("rows and columns are swapped: row i is sample i, with its 1 in column labels[i]",
                     lambda: _ref.one_hot(labels, classes).T),
                    ("the number of columns comes from the labels (labels.max() + 1): use num_classes, a batch need "
                     "not contain every class", lambda: _ref.one_hot(labels, int(labels.max()) + 1)),
                    ("whole columns are set: out[:, labels] = 1 sets every row's entry of each label's column; set "
                     "one entry per row with out[np.arange(N), labels] = 1",
                     lambda: _np.zeros((n, 1)) + _ref.one_hot(labels, classes).max(axis=0)),
                ])
                if not _np.issubdtype(got.dtype, _np.floating):
                    raise c.problem(f"the result has dtype {got.dtype}, expected floats (float64): one-hot rows are "
                                    "used as probabilities.", hint="np.zeros((N, num_classes)) is float64")
                bad = labels.astype(_np.int64)
                bad[int(rng.integers(0, n))] = -int(rng.integers(1, classes + 1))
                c.expect_raises((ValueError, IndexError), bad, num_classes=classes,
                                reason="class ids must be in [0, num_classes)",
                                hint="NumPy reads index -1 as the last column, so np.eye(C)[labels] or "
                                     "out[rows, labels] = 1 silently accept it: check labels >= 0 and raise ValueError")
    c.done()


def check_normalize(normalize: Callable, hidden: bool = False) -> None:
    """Check ``normalize(images)`` (assignment a1_data) against :func:`mnistlab.data.normalize`."""
    c = Check("normalize", normalize, hidden, ("images",))

    def bugs(images):
        x = _np.asarray(images, dtype=_np.float64)
        return [
            ("integer division (//) rounds everything down to 0 or 1: divide with /",
             lambda: images // 255),
            ("the result was divided by 256: the largest pixel value, 255, must become exactly 1",
             lambda: x / 256),
            ("this is min-max scaling of this batch ((x - min) / (max - min)): pixels are always divided by "
             "255, whatever the batch contains", lambda: (x - x.min()) / (x.max() - x.min())),
        ]

    if not hidden:
        with c.test("hand-worked uint8 pixels"):
            images = _np.array([[0, 51], [102, 204]], dtype=_np.uint8)
            got = c.call(images)
            c.expect_array(got, _ref.normalize(images), bugs=bugs(images))
        with c.test("a batch of 28x28 images keeps its shape"):
            images = seeded_rng(31).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
            got = c.call(images)
            c.expect_array(got, _ref.normalize(images), bugs=bugs(images))
    elif c.fixed_hidden_cases:
        gen = seeded_rng(32)
        with c.test("uint8 pixels become float32"):
            images = gen.integers(0, 256, size=(4, 784), dtype=np.uint8)
            got = c.call(images)
            c.expect_array(got, _ref.normalize(images), dtype=True, bugs=[
                ("images / 255 of uint8 gives float64: ask for float32, e.g. images.astype(np.float32) / 255",
                 lambda: images / 255),
            ])
        with c.test("float input keeps its dtype"):
            for dt in (_np.float64, _np.float32):
                images = _np.array([[0.0, 127.5], [255.0, 25.5]], dtype=dt)
                got = c.call(images, unmodified=("images",))
                c.expect_array(got, _ref.normalize(images), dtype=True, bugs=bugs(images))
        with c.test("other integer types"):
            images = gen.integers(0, 256, size=(2, 5)).astype(_np.int64)
            got = c.call(images)
            c.expect_array(got, _ref.normalize(images), dtype=True)
        with c.test("the input is not modified"):
            images = gen.uniform(0, 255, size=(3, 4))
            got = c.call(images, unmodified=("images",))
            c.expect_array(got, _ref.normalize(images))
        for title, images in (
            ("values above 255 raise ValueError", _np.array([0, 128, 300], dtype=_np.int16)),
            ("negative values raise ValueError", _np.array([[-1.0, 0.5], [1.0, 2.0]])),
        ):
            with c.test(title):
                c.expect_raises(ValueError, images, reason="pixel values must be in [0, 255]",
                                hint="check images.min() >= 0 and images.max() <= 255 and raise ValueError "
                                     "with a message that says what was found")
    if hidden:
        for title, rng in c.random_cases("uint8 and float pixels, then values out of range"):
            with c.test(title, random=True):
                shape = random_shape(rng, low=2, high=9)
                low, high = int(rng.integers(1, 60)), int(rng.integers(196, 255))  # not min-max scaled already
                images = rng.integers(low, high, size=shape, endpoint=True).astype(_np.uint8)
                images.reshape(-1)[:2] = (low, high)
                c.expect_array(c.call(images, unmodified=("images",)), _ref.normalize(images), dtype=True,
                               bugs=bugs(images) + [
                                   ("images / 255 of uint8 gives float64: ask for float32, e.g. "
                                    "images.astype(np.float32) / 255", lambda: images / 255)])
                floats = rng.uniform(low, high, size=shape).astype(rng.choice(["float64", "float32"]))
                c.expect_array(c.call(floats, unmodified=("images",)), _ref.normalize(floats), dtype=True,
                               bugs=bugs(floats))
                wrong = rng.uniform(0, 255, size=shape)
                wrong.reshape(-1)[int(rng.integers(0, wrong.size))] = rng.choice([-1.0, 1.0]) * rng.uniform(1, 1e4) \
                    + (255.0 if rng.integers(0, 2) else 0.0)
                if 0 <= wrong.min() and wrong.max() <= 255:
                    wrong.reshape(-1)[0] = -1.0
                c.expect_raises(ValueError, wrong, reason="pixel values must be in [0, 255]",
                                hint="check images.min() >= 0 and images.max() <= 255 and raise ValueError "
                                     "with a message that says what was found")
    c.done()


def _take_batches(limit: int):
    """Run a mini-batch iterator (at most ``limit`` batches) into a list of (x, y) array copies."""

    def consume(batches):
        out = []
        for item in itertools.islice(batches, limit + 1):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise Problem(f"iterate_minibatches yielded {describe(item)}; expected (x_batch, y_batch) pairs.",
                               labeled("hint", "yield x_batch, y_batch"))
            out.append((_np.array(item[0]), _np.array(item[1])))
        if len(out) > limit:
            raise Problem(f"iterate_minibatches yielded more than {limit} batches.",
                           labeled("hint", "one pass visits each sample once: loop over range(0, N, batch_size)"))
        return out

    return consume


def _expect_batches(c: Check, batches, x, y, batch_size: int, *, in_order: bool, require_shuffled: bool = False):
    n = len(x)
    sizes = [len(b[1]) for b in batches]
    want = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    if sizes != want:
        hint = None
        if sizes == [batch_size] * (n // batch_size) and n % batch_size:
            hint = ("the last, short batch is missing: it holds the N % batch_size samples left over; loop "
                    "with range(0, N, batch_size)")
        elif sizes and sizes[-1] == 0:
            hint = "the last batch is empty: loop with range(0, N, batch_size), which never yields an empty slice"
        raise c.problem("the batches have the wrong sizes.",
                        labeled("expected", f"{len(want)} batches of sizes {want}"),
                        labeled("got", f"{len(sizes)} batches of sizes {sizes}"), hint=hint)
    for i, (xb, yb) in enumerate(batches):
        if xb.shape[1:] != x.shape[1:] or yb.shape[1:] != y.shape[1:] or len(xb) != len(yb):
            raise c.problem(f"batch {i} has shapes {xb.shape} and {yb.shape}.",
                            labeled("expected", f"x_batch shape ({len(yb)}, {', '.join(map(str, x.shape[1:]))})"
                                   f" and y_batch shape ({len(yb)}{''.join(', ' + str(d) for d in y.shape[1:])})"))
    x_all = _np.concatenate([b[0] for b in batches]) if batches else x[:0]
    y_all = _np.concatenate([b[1] for b in batches]) if batches else y[:0]
    ids = y_all.argmax(axis=1) if y.ndim == 2 else y_all
    # The tests build y so that y's class id / row says which sample it is, and x[i] encodes i too.
    sample_of_x = x_all.reshape(len(x_all), -1)[:, 0].astype(_np.int64)
    if not _np.array_equal(_np.sort(ids), _np.arange(n)):
        raise c.problem("the batches do not cover every sample exactly once.",
                        labeled("got", f"sample ids {_head(ids, 16)} (sorted: {_head(_np.sort(ids), 16)})"),
                        hint="one pass must visit each of the N samples once: take one permutation of "
                             "range(N) (or range(N) itself) and cut it into consecutive slices")
    if not _np.array_equal(sample_of_x, ids):
        raise c.problem(
            "images and labels are no longer paired: x_batch[k] is not the image of y_batch[k].",
            labeled("expected", "x_batch[k] and y_batch[k] belong to the same sample, for every k"),
            labeled("got", f"the images of samples {_head(sample_of_x)} with the labels of samples {_head(ids)}"),
            hint="shuffle x and y with the same order: draw one permutation (idx = rng.permutation(N)) and "
                 "index both x[idx] and y[idx]; shuffling each separately breaks the pairs",
        )
    if in_order and not _np.array_equal(ids, _np.arange(n)):
        raise c.problem("with shuffle=False the samples must come in their original order.",
                        labeled("got", f"sample order {_head(ids, 12)}"))
    if require_shuffled and _np.array_equal(ids, _np.arange(n)):
        raise c.problem("with shuffle=True the samples came in their original order.",
                        hint="shuffle with the rng argument: rng = np.random.default_rng(rng); "
                             "idx = rng.permutation(N)")
    return ids


def _head(a: np.ndarray, k: int = 8) -> str:
    """The first ``k`` entries of a 1-D integer array, as a list."""
    items = ", ".join(str(int(v)) for v in a[:k])
    return f"[{items}{', ...' if len(a) > k else ''}]"


def _paired_data(n: int, image_shape=(2,), one_hot_labels: bool = False):
    """x[i] starts with the value i and y[i] is i (as a class id or a one-hot row): pairs can be traced."""
    x = _np.zeros((n, *image_shape))
    flat = x.reshape(n, -1)
    flat[:, 0] = _np.arange(n)
    if flat.shape[1] > 1:
        flat[:, 1:] = 0.5
    y = _np.eye(n) if one_hot_labels else _np.arange(n)
    return x, y


def check_iterate_minibatches(iterate_minibatches: Callable, hidden: bool = False) -> None:
    """Check ``iterate_minibatches(x, y, batch_size, *, shuffle=True, rng=None)`` (assignment a1_data)."""
    c = Check("iterate_minibatches", iterate_minibatches, hidden, ("x", "y", "batch_size"))
    if not hidden:
        with c.test("shuffle=False: batches in order, the last one short"):
            x, y = _paired_data(10)
            batches = c.call(x, y, 4, shuffle=False, consume=_take_batches(10))
            _expect_batches(c, batches, x, y, 4, in_order=True)
        with c.test("shuffle=True: every sample once, images and labels stay paired"):
            x, y = _paired_data(50)
            batches = c.call(x, y, 8, shuffle=True, rng=0, consume=_take_batches(50))
            _expect_batches(c, batches, x, y, 8, in_order=False, require_shuffled=True)
    elif c.fixed_hidden_cases:
        take = _take_batches(200)
        with c.test("N a multiple of batch_size: no empty batch"):
            x, y = _paired_data(12)
            _expect_batches(c, c.call(x, y, 4, shuffle=False, consume=take), x, y, 4, in_order=True)
        with c.test("batch_size larger than N"):
            x, y = _paired_data(5)
            _expect_batches(c, c.call(x, y, 8, shuffle=True, rng=3, consume=take), x, y, 8, in_order=False)
        with c.test("28x28 images and one-hot labels"):
            x, y = _paired_data(30, image_shape=(28, 28), one_hot_labels=True)
            _expect_batches(c, c.call(x, y, 7, shuffle=True, rng=4, consume=take), x, y, 7, in_order=False)
        with c.test("x and y are not modified"):
            x, y = _paired_data(40)
            batches = c.call(x, y, 16, shuffle=True, rng=5, consume=take, unmodified=("x", "y"))
            _expect_batches(c, batches, x, y, 16, in_order=False, require_shuffled=True)
        seed_hint = ("shuffle with the rng argument only (rng = np.random.default_rng(rng), then "
                     "rng.permutation(N)); np.random.shuffle/permutation use NumPy's global state, which no "
                     "seed passed to your function controls")
        with c.test("the same seed gives the same order, another seed another order"):
            x, y = _paired_data(100)
            orders = [
                _expect_batches(c, c.call(x, y, 32, shuffle=True, rng=seed, consume=take), x, y, 32, in_order=False)
                for seed in (8, 7, 7)
            ]
            if not _np.array_equal(orders[1], orders[2]):
                raise c.problem("two calls with rng=7 gave different orders.",
                                labeled("expected", "the same seed gives the same order"), hint=seed_hint)
            if _np.array_equal(orders[0], orders[1]):
                raise c.problem("rng=7 and rng=8 gave the same order.",
                                labeled("expected", "different seeds give different orders"), hint=seed_hint)
        with c.test("a Generator passed as rng gives a new order each pass"):
            x, y = _paired_data(100)
            gen = seeded_rng(9)
            first = _expect_batches(c, c.call(x, y, 32, shuffle=True, rng=gen, consume=take), x, y, 32, in_order=False)
            second = _expect_batches(c, c.call(x, y, 32, shuffle=True, rng=gen, consume=take), x, y, 32, in_order=False)
            if _np.array_equal(first, second):
                raise c.problem(
                    "two passes with the same Generator gave the same order.",
                    labeled("expected", "a new order each pass (the Generator's stream continues)"),
                    hint="use the Generator you are given (np.random.default_rng(gen) returns gen itself); "
                         "creating a new one from a fixed seed repeats the same order every epoch",
                )
        with c.test("x and y of different lengths raise ValueError"):
            x, _ = _paired_data(6)
            c.expect_raises(ValueError, x, _np.arange(5), 2, consume=take,
                            reason="every image needs its label", hint="check len(x) == len(y) and raise ValueError")
    if hidden:
        seed_hint = ("shuffle with the rng argument only (rng = np.random.default_rng(rng), then "
                     "rng.permutation(N)); np.random.shuffle/permutation use NumPy's global state, which no "
                     "seed passed to your function controls")
        for title, rng in c.random_cases("a short last batch, seeds, N a multiple of batch_size"):
            with c.test(title, random=True):
                batch_size = int(rng.integers(2, 17))
                n = batch_size * int(rng.integers(max(1, 20 // batch_size + 1), 100 // batch_size + 1)) \
                    + int(rng.integers(1, batch_size))
                image_shape, one_hot = random_shape(rng, high=4), bool(rng.integers(0, 2))
                x, y = _paired_data(n, image_shape=image_shape, one_hot_labels=one_hot)
                take = _take_batches(n + 1)
                seed, other = (int(v) for v in rng.choice(2**31, size=2, replace=False))
                orders = [
                    _expect_batches(c, c.call(x, y, batch_size, shuffle=True, rng=s, consume=take,
                                              unmodified=("x", "y")), x, y, batch_size, in_order=False)
                    for s in (seed, seed, other)
                ]
                if not _np.array_equal(orders[0], orders[1]):
                    raise c.problem(f"two calls with rng={seed} gave different orders.",
                                    labeled("expected", "the same seed gives the same order"), hint=seed_hint)
                if _np.array_equal(orders[0], orders[2]):
                    raise c.problem(f"rng={seed} and rng={other} gave the same order.",
                                    labeled("expected", "different seeds give different orders"), hint=seed_hint)
                n = batch_size * int(rng.integers(1, 8))
                x, y = _paired_data(n, image_shape=image_shape, one_hot_labels=one_hot)
                _expect_batches(c, c.call(x, y, batch_size, shuffle=False, consume=_take_batches(n + 1)), x, y,
                                batch_size, in_order=True)
    c.done()
