"""Wrong versions of the functions of a1_data (the bugs students write when loading MNIST)."""

from .harness import bug

CALLS: dict[str, set] = {}  # no graded function of a1 calls another

BUGS = [
    # read_idx
    bug("read_idx", "little_endian_sizes", "reads the dimension sizes little-endian",
        ('struct.unpack(f">{ndim}I"', 'struct.unpack(f"<{ndim}I"')),
    bug("read_idx", "no_gzip", "does not recognize gzip-compressed data",
        ('    if raw[:2] == b"\\x1f\\x8b":\n        raw = gzip.decompress(raw)\n', "")),
    bug("read_idx", "no_magic_check", "never checks the magic number",
        ('    if zero1 != 0 or zero2 != 0:\n        raise IDXFormatError(f"bad magic number: the first two bytes '
         'are {zero1:#04x} {zero2:#04x}, not 0 0")\n', "")),
    bug("read_idx", "always_uint8", "assumes every file holds uint8 (true for MNIST only)",
        ("dtype = np.dtype(dtypes[code])", "dtype = np.dtype(np.uint8)"), caught_by="hidden"),
    bug("read_idx", "native_byte_order", "reads multi-byte values in the machine's (little-endian) order",
        ('{0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}',
         '{0x08: "u1", 0x09: "i1", 0x0B: "i2", 0x0C: "i4", 0x0D: "f4", 0x0E: "f8"}'), caught_by="hidden"),
    bug("read_idx", "only_checks_truncation", "accepts trailing bytes after the payload",
        ("if len(raw) - header != expected:", "if len(raw) - header < expected:"), caught_by="hidden"),
    bug("read_idx", "read_only_view", "returns np.frombuffer's read-only view of the bytes",
        ('return values.astype(dtype.newbyteorder("=")).reshape(sizes)', "return values.reshape(sizes)"),
        caught_by="hidden"),
    # one_hot
    bug("one_hot", "columns_from_max", "takes the number of columns from the labels, not num_classes",
        ("out = np.zeros((len(labels), num_classes))", "out = np.zeros((len(labels), labels.max() + 1))")),
    bug("one_hot", "whole_columns", "out[:, labels] = 1 sets whole columns",
        ("out[np.arange(len(labels)), labels] = 1.0", "out[:, labels] = 1.0")),
    bug("one_hot", "transposed", "builds the (C, N) matrix",
        ("out = np.zeros((len(labels), num_classes))\n    out[np.arange(len(labels)), labels] = 1.0",
         "out = np.zeros((num_classes, len(labels)))\n    out[labels, np.arange(len(labels))] = 1.0")),
    bug("one_hot", "no_range_check", "accepts negative labels (NumPy wraps -1 to the last column)",
        ("    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):\n"
         "        raise ValueError(\n"
         '            f"labels must be in [0, {num_classes}), found values from {labels.min()} to {labels.max()}"\n'
         "        )\n", ""), caught_by="hidden"),
    bug("one_hot", "integer_rows", "returns an integer array",
        ("np.zeros((len(labels), num_classes))", "np.zeros((len(labels), num_classes), dtype=int)"),
        caught_by="hidden"),
    # normalize
    bug("normalize", "integer_division", "divides with //",
        ("return images.astype(dtype) / 255", "return images // 255")),
    bug("normalize", "divide_by_256", "divides by 256",
        ("return images.astype(dtype) / 255", "return images.astype(dtype) / 256")),
    bug("normalize", "min_max_scaling", "scales each batch by its own minimum and maximum",
        ("return images.astype(dtype) / 255",
         "images = images.astype(dtype)\n    return (images - images.min()) / (images.max() - images.min())")),
    bug("normalize", "float64_output", "returns float64 for uint8 pixels",
        ("else np.float32", "else np.float64"), caught_by="hidden"),
    bug("normalize", "in_place", "divides the caller's float array in place",
        ("return images.astype(dtype) / 255",
         "if images.dtype != dtype:\n        images = images.astype(dtype)\n    images /= 255\n    return images"),
        caught_by="hidden"),
    bug("normalize", "no_range_check", "accepts values outside [0, 255]",
        ("    if images.size and (images.min() < 0 or images.max() > 255):\n"
         '        raise ValueError(f"pixel values must be in [0, 255], found {images.min()} to {images.max()}")\n', ""),
        caught_by="hidden"),
    # iterate_minibatches
    bug("iterate_minibatches", "drops_last_batch", "drops the last, short batch",
        ("for start in range(0, n, batch_size):", "for start in range(0, n - batch_size + 1, batch_size):")),
    bug("iterate_minibatches", "misaligned_shuffle", "shuffles images and labels with different permutations",
        ("order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)",
         "gen = np.random.default_rng(rng)\n"
         "    x_order = gen.permutation(n) if shuffle else np.arange(n)\n"
         "    y_order = gen.permutation(n) if shuffle else np.arange(n)"),
        ("idx = order[start:start + batch_size]\n        yield x[idx], y[idx]",
         "yield x[x_order[start:start + batch_size]], y[y_order[start:start + batch_size]]")),
    bug("iterate_minibatches", "global_random_state", "shuffles with NumPy's global random state",
        ("np.random.default_rng(rng).permutation(n)", "np.random.permutation(n)"), caught_by="hidden"),
    bug("iterate_minibatches", "fixed_seed", "ignores rng and always seeds 42 (the same order every epoch)",
        ("np.random.default_rng(rng).permutation(n)", "np.random.default_rng(42).permutation(n)"), caught_by="hidden"),
    bug("iterate_minibatches", "in_place_shuffle", "shuffles the caller's arrays in place",
        ("order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)\n"
         "    for start in range(0, n, batch_size):\n"
         "        idx = order[start:start + batch_size]\n"
         "        yield x[idx], y[idx]",
         "if shuffle:\n"
         "        order = np.random.default_rng(rng).permutation(n)\n"
         "        x[:] = x[order]\n"
         "        y[:] = y[order]\n"
         "    for start in range(0, n, batch_size):\n"
         "        yield x[start:start + batch_size], y[start:start + batch_size]"),
        caught_by="hidden"),
    bug("iterate_minibatches", "empty_last_batch", "yields an empty batch when N is a multiple of batch_size",
        ("for start in range(0, n, batch_size):",
         "for i in range(n // batch_size + 1):\n        start = i * batch_size"),
        caught_by="hidden"),
]
