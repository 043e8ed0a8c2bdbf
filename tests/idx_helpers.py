"""Hand-built IDX bytes for the tests, written with ``struct`` only.

These helpers are the independent oracle for :mod:`mnistlab.data` and
:mod:`mnistlab.fetch`: they never call the code under test, so a bug there
cannot hide itself here.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import struct

#: IDX data-type code -> struct format character (big-endian with ">").
STRUCT_CODES = {0x08: "B", 0x09: "b", 0x0B: "h", 0x0C: "i", 0x0D: "f", 0x0E: "d"}

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def idx_header(code: int, dims, *, magic: bytes = b"\x00\x00", ndim: int | None = None) -> bytes:
    """Magic, type code, ndim (default len(dims)) and the big-endian uint32 sizes."""
    ndim = len(dims) if ndim is None else ndim
    return magic + bytes([code, ndim]) + struct.pack(f">{len(dims)}I", *dims)


def idx_bytes(code: int, dims, values) -> bytes:
    """A complete IDX file: header, then ``values`` (flat, C order) big-endian."""
    values = list(values)
    return idx_header(code, dims) + struct.pack(f">{len(values)}{STRUCT_CODES[code]}", *values)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spec_of(files: dict[str, bytes]) -> dict[str, tuple[int, str]]:
    """name -> (size, sha256), the ``files=`` argument of ``fetch_mnist``."""
    return {name: (len(data), sha256(data)) for name, data in files.items()}


def mnist_like(n_train: int = 12, n_test: int = 7, seed: int = 0, side: int = 28):
    """Small files with the four MNIST names and layouts: name -> raw bytes, plus the labels.

    Returns
    -------
    files : dict of str -> bytes
    labels : dict with "train" and "test" lists of ints in 0..9
    pixels : dict with "train" and "test" bytes (N * side * side pixel values)
    """
    rnd = random.Random(seed)
    files, labels, pixels = {}, {}, {}
    for split, n, img_name, lab_name in (
        ("train", n_train, TRAIN_IMAGES, TRAIN_LABELS),
        ("test", n_test, TEST_IMAGES, TEST_LABELS),
    ):
        pix = bytes(rnd.randrange(256) for _ in range(n * side * side))
        # Make sure 0 and 255 both occur, so the [0, 1] range is exercised at both ends.
        pix = b"\x00\xff" + pix[2:]
        lab = [rnd.randrange(10) for _ in range(n)]
        files[img_name] = struct.pack(">BBBBIII", 0, 0, 0x08, 3, n, side, side) + pix
        files[lab_name] = struct.pack(">BBBBI", 0, 0, 0x08, 1, n) + bytes(lab)
        labels[split], pixels[split] = lab, pix
    return files, labels, pixels
