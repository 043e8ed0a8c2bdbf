"""Tests of mnistlab.data: the IDX format, one_hot, normalize, mini-batches, load_mnist.

The oracle for the IDX format is bytes built by hand with ``struct``
(tests/idx_helpers.py), never the code under test. No test here needs the
real MNIST files or the network.
"""

from __future__ import annotations

import gzip
import io
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistlab import fetch as fetch_module
from mnistlab.data import (
    IDXFormatError,
    iterate_minibatches,
    load_mnist,
    normalize,
    one_hot,
    read_idx,
    split_validation,
    write_idx,
)

try:
    from idx_helpers import NAMES, TEST_IMAGES, TRAIN_LABELS, gz, idx_bytes, idx_header, mnist_like, spec_of
except ImportError:  # tests/ imported as a package
    from tests.idx_helpers import NAMES, TEST_IMAGES, TRAIN_LABELS, gz, idx_bytes, idx_header, mnist_like, spec_of


# ---------------------------------------------------------------------------
# read_idx on hand-worked bytes
# ---------------------------------------------------------------------------

# Written out byte by byte, the way the chapter does it.
UBYTE_2x3 = b"\x00\x00\x08\x02" + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x03" + bytes([0, 1, 2, 3, 254, 255])


def test_hand_worked_ubyte_matrix():
    a = read_idx(UBYTE_2x3)
    assert a.dtype == np.uint8 and a.shape == (2, 3)
    assert a.tolist() == [[0, 1, 2], [3, 254, 255]]


def test_hand_worked_big_endian_values():
    # int16: ff fe = -2, 01 00 = 256 (big-endian, not 0x0001 = 1)
    shorts = b"\x00\x00\x0b\x01\x00\x00\x00\x02" + b"\xff\xfe\x01\x00"
    a = read_idx(shorts)
    assert a.dtype == np.int16 and a.dtype.isnative and a.tolist() == [-2, 256]
    # float32 3f c0 00 00 = 1.5; float64 bf d0 00.. = -0.25
    assert read_idx(b"\x00\x00\x0d\x01\x00\x00\x00\x01" + b"\x3f\xc0\x00\x00").tolist() == [1.5]
    assert read_idx(b"\x00\x00\x0e\x01\x00\x00\x00\x01" + b"\xbf\xd0" + bytes(6)).tolist() == [-0.25]
    # int8 ff = -1; int32 00 01 00 00 = 65536
    assert read_idx(b"\x00\x00\x09\x01\x00\x00\x00\x01\xff").tolist() == [-1]
    assert read_idx(b"\x00\x00\x0c\x01\x00\x00\x00\x01\x00\x01\x00\x00").tolist() == [65536]


@pytest.mark.parametrize(
    "code, dtype, values",
    [
        (0x08, np.uint8, [0, 7, 128, 255]),
        (0x09, np.int8, [-128, -1, 0, 127]),
        (0x0B, np.int16, [-32768, -1, 258, 32767]),
        (0x0C, np.int32, [-(2**31), -1, 65536, 2**31 - 1]),
        (0x0D, np.float32, [-1.5, 0.0, 0.25, 3e38]),
        (0x0E, np.float64, [-1e300, 0.1, 2.5, 1e-300]),
    ],
)
@pytest.mark.parametrize("dims", [(24,), (4, 6), (2, 3, 4), (2, 1, 3, 4)])
def test_dtypes_and_ndims(code, dtype, values, dims):
    flat = (values * 6)[:24]
    raw = idx_bytes(code, dims, flat)
    expected = np.array(flat, dtype=dtype).reshape(dims)
    for source in (raw, gz(raw)):
        a = read_idx(source)
        assert a.dtype == dtype and a.dtype.isnative and a.shape == dims
        np.testing.assert_array_equal(a, expected)


def test_sources_path_bytes_file_object_raw_and_gzip(tmp_path):
    (tmp_path / "m").write_bytes(UBYTE_2x3)
    (tmp_path / "m.gz").write_bytes(gz(UBYTE_2x3))
    expected = [[0, 1, 2], [3, 254, 255]]
    for path in (tmp_path / "m", tmp_path / "m.gz"):
        assert read_idx(path).tolist() == expected  # pathlib.Path
        assert read_idx(str(path)).tolist() == expected
        with open(path, "rb") as f:
            assert read_idx(f).tolist() == expected
    assert read_idx(io.BytesIO(UBYTE_2x3)).tolist() == expected
    assert read_idx(bytearray(UBYTE_2x3)).tolist() == expected
    assert read_idx(memoryview(UBYTE_2x3)).tolist() == expected


def test_gzip_detected_from_content_not_name(tmp_path):
    (tmp_path / "looks-raw").write_bytes(gz(UBYTE_2x3))
    (tmp_path / "looks.gz").write_bytes(UBYTE_2x3)
    assert read_idx(tmp_path / "looks-raw").shape == (2, 3)
    assert read_idx(tmp_path / "looks.gz").shape == (2, 3)


def test_multi_member_gzip():
    raw = idx_bytes(0x08, (6,), range(6))
    assert read_idx(gz(raw[:5]) + gz(raw[5:])).tolist() == list(range(6))


def test_result_is_writable_and_does_not_alias_the_input(tmp_path):
    buf = bytearray(UBYTE_2x3)
    a = read_idx(buf)
    a[0, 0] = 99
    assert buf == bytearray(UBYTE_2x3)
    (tmp_path / "m").write_bytes(UBYTE_2x3)
    b = read_idx(tmp_path / "m")
    b[0, 0] = 1  # must not raise (read-only arrays surprise students)
    assert read_idx(UBYTE_2x3).flags.writeable


def test_zero_sized_dimension():
    a = read_idx(idx_header(0x08, (0, 28, 28)))
    assert a.shape == (0, 28, 28) and a.dtype == np.uint8


def test_bad_source_type():
    with pytest.raises(TypeError, match="path, bytes or a binary file object"):
        read_idx(12345)
    with pytest.raises(TypeError, match="binary file object"):
        read_idx(io.StringIO("text"))


# ---------------------------------------------------------------------------
# Malformed IDX data: IDXFormatError naming the problem, the place and the fix
# ---------------------------------------------------------------------------

MALFORMED = [
    ("bad magic", b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", r"bad magic number at byte offset 0.*found 0x01 0x00"),
    ("zip file", b"PK\x03\x04" + bytes(10), r"bad magic number.*expected 0x00 0x00"),
    ("unknown dtype", b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", r"unknown data type code 0x0A at byte offset 2"),
    ("zero ndim", b"\x00\x00\x08\x00", r"number of dimensions is 0 at byte offset 3"),
    ("empty", b"", r"header is truncated.*0 bytes"),
    ("3 bytes", b"\x00\x00\x08", r"header is truncated.*3 bytes"),
    ("header short of its dims", b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", r"header is truncated.*3 dimensions.*16 bytes.*byte offset 10"),
    ("truncated payload", UBYTE_2x3[:-2], r"payload is truncated.*\(2, 3\).*should be 6 bytes.*4 bytes are present, 2 missing"),
    ("trailing bytes", UBYTE_2x3 + b"\x00\x00\x00", r"trailing bytes after the payload.*9 bytes are present, 3 too many, from byte offset 18"),
    ("wider dtype short", idx_header(0x0C, (3,)) + bytes(11), r"payload is truncated.*should be 12 bytes \(3 \* 4\)"),
    # ndim says 3 but only two sizes were written: the first payload bytes are read
    # as the third size (0), so the payload no longer matches the dimensions.
    ("dimension/header mismatch", idx_header(0x08, (2, 3), ndim=3) + bytes(6), r"dimensions \(2, 3, 0\).*does not match the dimensions"),
    ("dims larger than the data", idx_header(0x08, (60000, 28, 28)) + bytes(100), r"payload is truncated.*\(60000, 28, 28\).*47040000 bytes"),
]


@pytest.mark.parametrize("label, raw, pattern", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_raw_and_gzip(label, raw, pattern):
    with pytest.raises(IDXFormatError, match=pattern):
        read_idx(raw)
    # The same damage inside a valid gzip stream is found after decompression.
    with pytest.raises(IDXFormatError, match=pattern) as info:
        read_idx(gz(raw))
    assert "decompressed" in str(info.value)


def test_error_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(UBYTE_2x3[:-1])
    with pytest.raises(IDXFormatError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg and "byte offset 12" in msg and "mnistlab data fetch" in msg
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "label, damage",
    [
        ("truncated gzip", lambda g: g[: len(g) // 2]),
        ("bad crc", lambda g: g[:-8] + bytes([g[-8] ^ 0xFF]) + g[-7:]),
        ("garbage deflate data", lambda g: g[:10] + b"\xff" * 20),
        ("only the magic", lambda g: g[:2]),
    ],
)
def test_corrupt_gzip(label, damage, tmp_path):
    bad = damage(gz(idx_bytes(0x08, (50,), range(50))))
    with pytest.raises(IDXFormatError, match="corrupt gzip stream"):
        read_idx(bad)
    (tmp_path / "x.gz").write_bytes(bad)
    with pytest.raises(IDXFormatError, match=r"x\.gz.*corrupt gzip stream.*mnistlab data fetch"):
        read_idx(tmp_path / "x.gz")


# ---------------------------------------------------------------------------
# write_idx: the inverse, checked against the hand-built bytes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, code",
    [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)],
)
def test_write_idx_bytes_match_hand_built(tmp_path, dtype, code):
    values = [0, 1, 2, 3, 4, 5, 100, 127]
    arr = np.array(values, dtype=dtype).reshape(2, 2, 2)
    path = write_idx(arr, tmp_path / "a")
    assert path.read_bytes() == idx_bytes(code, (2, 2, 2), values)
    write_idx(arr, tmp_path / "a.gz", compress=True)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == idx_bytes(code, (2, 2, 2), values)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), arr)


def test_write_idx_round_trip_any_byte_order(tmp_path):
    rng = np.random.default_rng(0)
    for arr in (
        rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        rng.standard_normal((3, 4)).astype(">f8"),
        rng.integers(-1000, 1000, (7,)).astype("<i2"),
        np.asfortranarray(rng.standard_normal((3, 5)).astype(np.float32)),
    ):
        write_idx(arr, tmp_path / "r")
        back = read_idx(tmp_path / "r")
        assert back.shape == arr.shape and back.dtype == arr.dtype.newbyteorder("=")
        np.testing.assert_array_equal(back, arr)


def test_write_idx_rejects_what_idx_cannot_store(tmp_path):
    with pytest.raises(ValueError, match="cannot store dtype int64"):
        write_idx(np.arange(3), tmp_path / "x")
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        write_idx(np.uint8(3), tmp_path / "x")


def test_write_idx_gzip_is_deterministic(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    a = write_idx(arr, tmp_path / "a.gz", compress=True).read_bytes()
    b = write_idx(arr, tmp_path / "b.gz", compress=True).read_bytes()
    assert a == b


def test_read_idx_is_fast_on_mnist_sized_file(tmp_path):
    import time

    n = 60000
    header = struct.pack(">BBBBIII", 0, 0, 0x08, 3, n, 28, 28)
    (tmp_path / "big").write_bytes(header + bytes(range(256)) * (n * 784 // 256) + bytes(n * 784 % 256))
    read_idx(tmp_path / "big")  # warm the page cache
    start = time.perf_counter()
    a = read_idx(tmp_path / "big")
    elapsed = time.perf_counter() - start
    assert a.shape == (n, 28, 28) and a[0, 9, 3] == 255
    assert elapsed < 0.5, f"read_idx took {elapsed:.3f} s for 47 MB (expected a few tens of ms)"


# ---------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------


def test_one_hot_hand_worked():
    np.testing.assert_array_equal(one_hot([2, 0, 1], num_classes=3), [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert one_hot([2, 0]).shape == (2, 10) and one_hot([2, 0]).dtype == np.float64
    assert one_hot(np.array([1], dtype=np.uint8), 2, dtype=np.float32).dtype == np.float32
    assert one_hot([], 4).shape == (0, 4)


@pytest.mark.parametrize(
    "labels, num_classes, pattern",
    [
        ([0, 10], 10, r"labels must be in \[0, 10\).*labels\[1\] = 10"),
        ([3, -1, 2], 10, r"labels\[1\] = -1"),
        ([0.0, 1.0], 10, r"labels must be integers.*float64"),
        ([True, False], 10, r"labels must be integers.*bool"),
        ([[0, 1]], 10, r"shape \(N,\).*\(1, 2\)"),
        (3, 10, r"shape \(N,\)"),
        ([0], 0, r"num_classes must be a positive integer"),
        ([0], 2.0, r"num_classes must be a positive integer"),
    ],
)
def test_one_hot_errors(labels, num_classes, pattern):
    with pytest.raises(ValueError, match=pattern):
        one_hot(labels, num_classes)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20).flatmap(lambda c: st.tuples(st.just(c), st.lists(st.integers(0, c - 1), max_size=50))))
def test_one_hot_round_trip(case):
    num_classes, labels = case
    y = np.array(labels, dtype=np.int64)
    oh = one_hot(y, num_classes)
    assert oh.shape == (len(y), num_classes)
    np.testing.assert_array_equal(oh.sum(axis=1), np.ones(len(y)))
    np.testing.assert_array_equal(np.argmax(oh, axis=1) if len(y) else y, y)
    assert set(np.unique(oh)) <= {0.0, 1.0}


# ---------------------------------------------------------------------------
# normalize
# ---------------------------------------------------------------------------


def test_normalize_hand_worked():
    out = normalize(np.array([0, 51, 255], dtype=np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([0.0, 0.2, 1.0], dtype=np.float32))
    assert normalize(np.array([0.0, 255.0])).dtype == np.float64
    assert normalize(np.array([0, 255], dtype=np.uint8), dtype=np.float64).tolist() == [0.0, 1.0]


def test_normalize_errors():
    with pytest.raises(ValueError, match=r"values in \[0, 255\].*already normalized"):
        normalize(np.array([0, 256]))
    with pytest.raises(ValueError, match=r"values in \[0, 255\]"):
        normalize(np.array([-1.0, 3.0]))
    with pytest.raises(ValueError, match="float type"):
        normalize(np.array([1], dtype=np.uint8), dtype=np.int32)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=1, max_size=300))
def test_normalize_range(pixels):
    x = np.array(pixels, dtype=np.uint8)
    out = normalize(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    # exactly pixel / 255 rounded to float32, so 0 -> 0 and 255 -> 1
    np.testing.assert_array_equal(out, (x.astype(np.float64) / 255).astype(np.float32))


# ---------------------------------------------------------------------------
# iterate_minibatches and split_validation
# ---------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 200), batch_size=st.integers(1, 64), seed=st.integers(0, 2**32 - 1), shuffle=st.booleans())
def test_minibatches_cover_every_sample_once(n, batch_size, seed, shuffle):
    x = np.arange(n * 2).reshape(n, 2)  # row i is (2i, 2i+1)
    y = np.arange(n) * 10
    batches = list(iterate_minibatches(x, y, batch_size, shuffle=shuffle, rng=seed))
    sizes = [len(xb) for xb, _ in batches]
    assert len(batches) == -(-n // batch_size)
    assert all(s == batch_size for s in sizes[:-1]) and sum(sizes) == n
    if n:
        assert sizes[-1] == n - batch_size * (len(batches) - 1)
    seen = np.concatenate([xb[:, 0] // 2 for xb, _ in batches]) if batches else np.array([], dtype=int)
    assert sorted(seen.tolist()) == list(range(n))  # every index exactly once
    for xb, yb in batches:  # x and y stay aligned
        np.testing.assert_array_equal(xb[:, 0] // 2 * 10, yb)
        np.testing.assert_array_equal(xb[:, 1], xb[:, 0] + 1)
    if not shuffle:
        assert seen.tolist() == list(range(n))
    again = list(iterate_minibatches(x, y, batch_size, shuffle=shuffle, rng=seed))
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(batches, again))


def test_minibatches_shuffle_and_rng_kinds():
    x, y = np.arange(100), np.arange(100)
    first = [b[0] for b in iterate_minibatches(x, y, 100, rng=0)][0]
    assert not np.array_equal(first, x)  # shuffled
    gen = np.random.default_rng(5)
    epoch1 = next(iterate_minibatches(x, y, 100, rng=gen))[0]
    epoch2 = next(iterate_minibatches(x, y, 100, rng=gen))[0]
    assert not np.array_equal(epoch1, epoch2)  # a Generator continues its stream
    np.testing.assert_array_equal(next(iterate_minibatches(x, y, 100, rng=np.random.default_rng(5)))[0], epoch1)


def test_minibatches_leave_global_random_state_alone():
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    list(iterate_minibatches(np.arange(10), np.arange(10), 3))
    list(iterate_minibatches(np.arange(10), np.arange(10), 3, rng=1))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_minibatches_one_hot_labels_and_images():
    x = np.zeros((10, 28, 28), dtype=np.float32)
    y = one_hot(np.arange(10))
    xb, yb = next(iterate_minibatches(x, y, 4, rng=0))
    assert xb.shape == (4, 28, 28) and yb.shape == (4, 10)


@pytest.mark.parametrize(
    "x, y, batch_size, pattern",
    [
        (np.zeros(5), np.zeros(4), 2, r"same number of samples.*len\(x\)=5 and len\(y\)=4"),
        (np.zeros(5), np.zeros(5), 0, r"batch_size must be an integer >= 1, got 0"),
        (np.zeros(5), np.zeros(5), -3, r"batch_size must be an integer >= 1"),
        (np.zeros(5), np.zeros(5), 2.5, r"batch_size must be an integer >= 1"),
    ],
)
def test_minibatches_errors_raised_at_call_time(x, y, batch_size, pattern):
    with pytest.raises(ValueError, match=pattern):
        iterate_minibatches(x, y, batch_size)  # no next() needed


def test_split_validation():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    (xt, yt), (xv, yv) = split_validation(x, y, 3, rng=0)
    assert len(xv) == 3 and len(xt) == 7
    assert sorted(np.concatenate([yt, yv]).tolist()) == list(range(10))
    np.testing.assert_array_equal(xt[:, 0] // 2, yt)
    np.testing.assert_array_equal(xv[:, 0] // 2, yv)
    (_, y2), _ = split_validation(x, y, 3, rng=0)
    np.testing.assert_array_equal(yt, y2)
    for bad in (0, 10, 2.0):
        with pytest.raises(ValueError, match="val_size"):
            split_validation(x, y, bad)


# ---------------------------------------------------------------------------
# load_mnist on small generated files (no network: everything is local)
# ---------------------------------------------------------------------------


@pytest.fixture
def small_mnist(tmp_path, monkeypatch):
    files, labels, pixels = mnist_like(n_train=12, n_test=7)
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    monkeypatch.setattr(fetch_module, "MNIST_FILES", spec_of(files))
    monkeypatch.setenv("MNISTLAB_MIRRORS", "")  # never the network, even if a file were bad

    def no_npm(workdir):
        raise AssertionError("load_mnist on local files must not run npm")

    monkeypatch.setattr(fetch_module, "_npm_pack", no_npm)
    return tmp_path, labels, pixels


def test_load_mnist_defaults(small_mnist):
    folder, labels, pixels = small_mnist
    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir=folder)
    assert x_train.shape == (12, 784) and x_test.shape == (7, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64 and y_train.shape == (12,)
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert y_train.tolist() == labels["train"] and y_test.tolist() == labels["test"]
    expected = np.frombuffer(pixels["train"], dtype=np.uint8).reshape(12, 784) / 255
    np.testing.assert_allclose(x_train, expected, rtol=1e-6)


def test_load_mnist_options(small_mnist):
    folder, labels, pixels = small_mnist
    (x, y), (xt, yt) = load_mnist(normalize=False, flatten=False, data_dir=folder)
    assert x.dtype == np.uint8 and x.shape == (12, 28, 28) and xt.shape == (7, 28, 28)
    assert x.tobytes() == pixels["train"]
    (x, y), _ = load_mnist(one_hot=True, dtype=np.float64, data_dir=folder)
    assert x.dtype == np.float64 and y.shape == (12, 10) and y.dtype == np.float64
    assert np.argmax(y, axis=1).tolist() == labels["train"]
    with pytest.raises(ValueError, match="float type"):
        load_mnist(dtype=np.int32, data_dir=folder)


def test_load_mnist_uses_env_folder(small_mnist, monkeypatch):
    folder, labels, _ = small_mnist
    monkeypatch.setenv("MNISTLAB_DATA", str(folder))
    (_, y), _ = load_mnist()
    assert y.tolist() == labels["train"]


def test_load_mnist_rejects_mismatched_files(small_mnist, monkeypatch):
    folder, _, _ = small_mnist
    # Labels for 5 images next to 12 images: verified (the spec says so) but inconsistent.
    bad = struct.pack(">BBBBI", 0, 0, 0x08, 1, 5) + bytes(5)
    (folder / TRAIN_LABELS).write_bytes(bad)
    spec = dict(fetch_module.MNIST_FILES)
    spec[TRAIN_LABELS] = spec_of({TRAIN_LABELS: bad})[TRAIN_LABELS]
    monkeypatch.setattr(fetch_module, "MNIST_FILES", spec)
    with pytest.raises(IDXFormatError, match=r"\(12, 28, 28\).*\(5,\)"):
        load_mnist(data_dir=folder)


def test_helpers_cover_the_four_names():
    assert set(NAMES) == set(fetch_module.MNIST_FILES) and TEST_IMAGES in NAMES


def test_split_validation_in_place_holds_out_the_same_samples_without_a_copy():
    x = np.arange(40).reshape(20, 2)
    y = np.arange(20)
    (_, yt_copy), (_, yv_copy) = split_validation(x.copy(), y.copy(), 6, rng=3)
    (xt, yt), (xv, yv) = split_validation(x, y, 6, rng=3, copy=False)
    assert len(xt) == 14 and len(xv) == 6
    assert sorted(yv.tolist()) == sorted(yv_copy.tolist())  # the same held-out samples
    assert sorted(yt.tolist()) == sorted(yt_copy.tolist())
    assert sorted(y.tolist()) == list(range(20))  # every sample still there once
    np.testing.assert_array_equal(x[:, 0] // 2, y)  # rows and labels still paired
    np.testing.assert_array_equal(xt[:, 0] // 2, yt)
    np.testing.assert_array_equal(xv[:, 0] // 2, yv)
    for part, whole in ((xt, x), (xv, x), (yt, y), (yv, y)):
        assert np.shares_memory(part, whole)  # views: the data set is not copied
