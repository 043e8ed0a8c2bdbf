"""Write the five assignment sources, ``source/<assignment>/<assignment>.ipynb``.

The notebooks are generated from this file so that every test cell follows the
same pattern, every graded function has its points in one place, and the
nbgrader metadata is always valid. Edit the content here, then run

    .venv/bin/python assignments/build_sources.py

(``--check`` only reports whether the notebooks are up to date; the test suite
runs that). The notebooks are written without outputs, with deterministic cell
ids, so regenerating an unchanged source changes nothing.

Cell kinds (nbgrader metadata, schema 3):

- ``setup``: read-only code (imports ``mnistlab.grading`` before any student code runs);
- ``solution``: the student's cell for one function; the code between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is replaced by a stub on release;
- ``tests``: a read-only autograder cell worth some points: the visible check,
  then the hidden one between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``;
- markdown and ungraded "try it" code cells.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source"

#: Where a notebook links to the book's chapters: relative to
#: ``assignments/{source,release}/<assignment>/``, i.e. the chapter's page in a
#: clone of the course repository (``book/NN_name.md``).
BOOK = "../../../book"

CHECK_HOW = """\
**How this notebook works.** Write your code where it says `# YOUR CODE HERE` (and delete the
`raise NotImplementedError()` line). After each function comes a read-only test cell: run it as often as
you like. When a test fails, it says which call failed, with what input, what was expected, what your
function returned, and a hint for the usual mistake. Only NumPy and the Python standard library: the
point is to write these functions yourself, so do not call the `mnistlab` functions of the same name.

When your work is graded, the same test cells also run **hidden tests**: other shapes and dtypes,
extreme values, random inputs, and checks that your functions do not modify their inputs. Passing the
visible tests is necessary, not sufficient: test your own edge cases too.

**Before you submit**, check the whole notebook from top to bottom in a fresh kernel, as the
autograder will run it. In a terminal, in the folder of this notebook:

```bash
mnistlab check {name}.ipynb
```

It lists each graded function with its points and the result of its visible tests (the same
verdict the autograder's visible tests will give), and exits with status 0 only if they all pass.
Also save the notebook, keep its name, and do not delete or copy cells."""


# ---------------------------------------------------------------------------
# Cell builders
# ---------------------------------------------------------------------------


def _src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


class Notebook:
    """An assignment notebook being assembled cell by cell."""

    def __init__(self, name: str):
        self.name = name
        self.cells: list = []
        self.points: dict[str, int] = {}

    def _add(self, cell, key: str):
        cell.id = f"{key}-{len(self.cells):02d}"
        self.cells.append(cell)

    def md(self, text: str) -> None:
        self._add(nbformat.v4.new_markdown_cell(_src(text)), "md")

    def code(self, text: str) -> None:
        """An ordinary (ungraded, editable) code cell."""
        self._add(nbformat.v4.new_code_cell(_src(text)), "code")

    def setup(self, text: str) -> None:
        cell = nbformat.v4.new_code_cell(_src(text))
        cell.metadata["nbgrader"] = _meta("setup", locked=True)
        cell.metadata["editable"] = False
        cell.metadata["deletable"] = False
        self._add(cell, "setup")

    def solution(self, function: str, text: str) -> None:
        """The student's cell for ``function`` (solution region included)."""
        source = _src(text)
        assert "### BEGIN SOLUTION" in source and "### END SOLUTION" in source, function
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = _meta(_solution_id(function), solution=True)
        self._add(cell, "solution")

    def tests(self, function: str, points: int, check: str, *, hidden: bool = True, comment: str = "",
              title: str | None = None) -> None:
        """The autograder cell of ``function``: ``check`` is the visible call."""
        title = title or f"Tests of {function}"
        lines = [f"# {title} ({points} point{'s' if points != 1 else ''}). {comment}".rstrip()]
        lines.append(check)
        if hidden:
            hidden_call = check.replace(")", ", hidden=True)", 1) if check.count(")") == 1 else None
            assert hidden_call, check
            lines += ["### BEGIN HIDDEN TESTS", hidden_call, "### END HIDDEN TESTS"]
        cell = nbformat.v4.new_code_cell("\n".join(lines))
        grade_id = "test_" + function.replace(".", "_")
        cell.metadata["nbgrader"] = _meta(grade_id, grade=True, locked=True, points=points)
        cell.metadata["editable"] = False
        cell.metadata["deletable"] = False
        self.points[function] = points
        self._add(cell, "tests")

    def notebook(self):
        nb = nbformat.v4.new_notebook()
        nb.cells = self.cells
        nb.metadata = {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        }
        return nb


def _solution_id(function: str) -> str:
    return function.replace(".", "_")


def _meta(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


def intro(nb: Notebook, title: str, chapter: int, chapter_title: str, chapter_file: str, what: str) -> None:
    nb.md(
        f"# {title}\n\n"
        f"This assignment goes with **Chapter {chapter}, [{chapter_title}]({BOOK}/{chapter_file}.md)** of the "
        f"course book; read it first, and come back to it whenever a step here is unclear.\n\n"
        + _src(what) + "\n\n" + CHECK_HOW.replace("{name}", nb.name)
    )


# ---------------------------------------------------------------------------
# a1_data
# ---------------------------------------------------------------------------


def a1_data() -> Notebook:
    nb = Notebook("a1_data")
    intro(nb, "Assignment 1: Loading MNIST", 1, "Data loading", "01_data", """
        Before a network can learn anything, the pixels must get from a file into a NumPy array of the right
        shape, type and scale. You will write the four functions that do it, under the same names as the
        course library `mnistlab.data` (the autograder compares yours with it):

        | function | points |
        |---|---|
        | `read_idx`: parse the IDX file format, raw or gzipped, and reject malformed data | 3 |
        | `one_hot`: class ids to one-hot rows | 2 |
        | `normalize`: pixels from 0-255 to [0, 1] | 2 |
        | `iterate_minibatches`: shuffled mini-batches that cover every sample once | 3 |
    """)
    nb.setup("""
        # Setup (read-only): run this cell first.
        import gzip
        import io
        import math
        import os
        import struct
        from pathlib import Path

        import numpy as np

        from mnistlab import grading
        from mnistlab.data import IDXFormatError  # the exception read_idx raises for malformed data
    """)

    nb.md(f"""
        ## 1. The IDX format: `read_idx`

        The four MNIST files use the IDX format ([Chapter 1]({BOOK}/01_data.md), "The IDX format, byte by byte"). An IDX
        file is a header followed by the values:

        | bytes | meaning |
        |---|---|
        | 0-1 | zero (`00 00`): the first half of the magic number |
        | 2 | type code: `0x08` uint8, `0x09` int8, `0x0B` int16, `0x0C` int32, `0x0D` float32, `0x0E` float64 |
        | 3 | the number of dimensions, `ndim` (at least 1) |
        | 4 ... 4 + 4 ndim - 1 | one size per dimension, each a **big-endian** unsigned 32-bit integer |
        | the rest | `prod(sizes)` values, big-endian, in C order |

        The files are often served gzip-compressed; gzip data starts with the two bytes `1f 8b`, so the content
        itself tells which it is. A parser that trusts its input loads garbage from a truncated download, so
        check every part before you use it, and raise `IDXFormatError` (already imported) with a message that
        says what is wrong: a bad magic number, an unknown type code, zero dimensions, a header shorter than its
        dimensions need, or a payload whose length is not exactly `prod(sizes) * itemsize`.

        Useful tools: `struct.unpack(">I", four_bytes)` reads one big-endian uint32 (`">3I"` reads three);
        `np.frombuffer(data, dtype=">i2", offset=k)` views bytes as big-endian int16 values (a read-only view:
        convert it to a native, writable array with `.astype(...)`).
    """)
    nb.solution("read_idx", '''
        def read_idx(source):
            """Parse IDX data into a NumPy array.

            Parameters
            ----------
            source : str, pathlib.Path, bytes or binary file object
                The IDX data, raw or gzip-compressed (gzip data starts with the bytes 1f 8b).

            Returns
            -------
            ndarray, shape given by the header
                A new, writable array in native byte order, e.g. uint8 of shape (10000, 28, 28)
                for the MNIST test images and (10000,) for their labels.

            Raises
            ------
            IDXFormatError
                If the data is not valid IDX: bad magic number, unknown data-type code, zero
                dimensions, a header or a payload shorter than announced, or bytes left over.
            """
            ### BEGIN SOLUTION
            if isinstance(source, (bytes, bytearray)):
                raw = bytes(source)
            elif hasattr(source, "read"):
                raw = source.read()
            else:
                with open(source, "rb") as f:
                    raw = f.read()
            if raw[:2] == b"\\x1f\\x8b":
                raw = gzip.decompress(raw)
            if len(raw) < 4:
                raise IDXFormatError(f"an IDX header has 4 bytes or more, the data has {len(raw)}")
            zero1, zero2, code, ndim = raw[:4]
            if zero1 != 0 or zero2 != 0:
                raise IDXFormatError(f"bad magic number: the first two bytes are {zero1:#04x} {zero2:#04x}, not 0 0")
            dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
            if code not in dtypes:
                raise IDXFormatError(f"unknown data-type code {code:#04x} at byte 2")
            if ndim == 0:
                raise IDXFormatError("the number of dimensions (byte 3) is 0")
            header = 4 + 4 * ndim
            if len(raw) < header:
                raise IDXFormatError(f"{ndim} dimensions need a {header}-byte header, the data has {len(raw)} bytes")
            sizes = struct.unpack(f">{ndim}I", raw[4:header])
            dtype = np.dtype(dtypes[code])
            expected = math.prod(sizes) * dtype.itemsize
            if len(raw) - header != expected:
                raise IDXFormatError(
                    f"the header announces {sizes} values, {expected} bytes, but the payload has {len(raw) - header}"
                )
            values = np.frombuffer(raw, dtype=dtype, offset=header)
            return values.astype(dtype.newbyteorder("=")).reshape(sizes)
            ### END SOLUTION
    ''')
    nb.tests("read_idx", 3, "grading.check_read_idx(read_idx)")
    nb.md("""
        Now on the real data (ungraded): the MNIST test set. Its first labels are 7, 2, 1, 0, 4.
    """)
    nb.code("""
        from mnistlab.data import fetch_mnist

        folder = fetch_mnist()  # the cached, verified files (downloads them the first time)
        test_images = read_idx(folder / "t10k-images-idx3-ubyte")
        test_labels = read_idx(folder / "t10k-labels-idx1-ubyte")
        print(test_images.shape, test_images.dtype, test_labels.shape, test_labels[:10])
    """)

    nb.md(f"""
        ## 2. Labels as one-hot rows: `one_hot`

        The network outputs one probability per class, so the loss compares it with a row that is 1 at the
        true class and 0 elsewhere ([Chapter 1]({BOOK}/01_data.md), "One-hot labels"). The number of columns
        is `num_classes`, whatever labels a batch happens to contain. NumPy's fancy indexing sets one entry per
        row: `out[np.arange(N), labels] = 1`. Beware: NumPy reads a negative index as counting from the end,
        so a label of -1 would silently mark the last class; reject labels outside `[0, num_classes)`.
    """)
    nb.solution("one_hot", '''
        def one_hot(labels, num_classes=10):
            """Encode integer class labels as one-hot rows.

            Parameters
            ----------
            labels : array_like of int, shape (N,)
                Class ids in [0, num_classes).
            num_classes : int, default 10
                C, the number of classes (a batch need not contain every class).

            Returns
            -------
            ndarray of float64, shape (N, C)
                Row i is all zeros except a 1 in column labels[i].

            Raises
            ------
            ValueError
                If a label is negative or not smaller than num_classes.
            """
            ### BEGIN SOLUTION
            labels = np.asarray(labels)
            if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
                raise ValueError(
                    f"labels must be in [0, {num_classes}), found values from {labels.min()} to {labels.max()}"
                )
            out = np.zeros((len(labels), num_classes))
            out[np.arange(len(labels)), labels] = 1.0
            return out
            ### END SOLUTION
    ''')
    nb.tests("one_hot", 2, "grading.check_one_hot(one_hot)")

    nb.md(f"""
        ## 3. Pixels in [0, 1]: `normalize`

        MNIST stores each pixel as a uint8 from 0 (white) to 255 (black). Networks train best on small inputs,
        so we divide by 255 ([Chapter 1]({BOOK}/01_data.md), "Normalizing the pixels"). Always by 255, not by the
        batch's own maximum: the same pixel must give the same input in every batch. Integer input becomes
        float32 (plenty of precision for pixels, half the memory of float64); float input keeps its dtype.
        Values outside [0, 255] are a mistake upstream: raise `ValueError`. Do not modify the input array.
    """)
    nb.solution("normalize", '''
        def normalize(images):
            """Scale pixel values from 0-255 to [0, 1].

            Parameters
            ----------
            images : ndarray, any shape
                Pixel values in [0, 255]: uint8 as stored in MNIST, or any integer or float array.

            Returns
            -------
            ndarray, same shape as images, values in [0, 1]
                images / 255, as float32 for integer input and in the input's dtype for float
                input. The input is not modified.

            Raises
            ------
            ValueError
                If a value is outside [0, 255].
            """
            ### BEGIN SOLUTION
            images = np.asarray(images)
            if images.size and (images.min() < 0 or images.max() > 255):
                raise ValueError(f"pixel values must be in [0, 255], found {images.min()} to {images.max()}")
            dtype = images.dtype if np.issubdtype(images.dtype, np.floating) else np.float32
            return images.astype(dtype) / 255
            ### END SOLUTION
    ''')
    nb.tests("normalize", 2, "grading.check_normalize(normalize)")

    nb.md(f"""
        ## 4. Mini-batches: `iterate_minibatches`

        Training updates the weights after each mini-batch of, say, 128 images ([Chapter 1]({BOOK}/01_data.md),
        "Mini-batches"). One pass (an *epoch*) must visit every sample exactly once; the last batch holds what
        is left over (`N % batch_size` samples, if that is not 0). With `shuffle=True` the order is random,
        and **the same** for images and labels: draw one permutation and index both with it.

        Randomness comes only from the `rng` argument: `np.random.default_rng(rng)` turns a seed (or `None`)
        into a Generator and returns a Generator unchanged, so a training loop that passes one Generator gets a
        new order every epoch, reproducibly from one seed. Never use NumPy's global `np.random.shuffle`.

        Write it as a generator (`yield x_batch, y_batch`).
    """)
    nb.solution("iterate_minibatches", '''
        def iterate_minibatches(x, y, batch_size, *, shuffle=True, rng=None):
            """Yield (x_batch, y_batch) pairs that cover every sample exactly once.

            Parameters
            ----------
            x : ndarray, shape (N, ...)
            y : ndarray, shape (N,) or (N, C)
            batch_size : int
                Rows per batch; the last batch holds the N % batch_size left-over rows when that
                is not 0.
            shuffle : bool, default True
                Visit the samples in a random order (the same order for x and y); else in order.
            rng : np.random.Generator, int or None
                Source of the shuffle, through np.random.default_rng(rng).

            Yields
            ------
            x_batch : ndarray, shape (B, ...)
            y_batch : ndarray, shape (B,) or (B, C)

            Raises
            ------
            ValueError
                If x and y have different lengths.
            """
            ### BEGIN SOLUTION
            if len(x) != len(y):
                raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
            n = len(x)
            order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                yield x[idx], y[idx]
            ### END SOLUTION
    ''')
    nb.tests("iterate_minibatches", 3, "grading.check_iterate_minibatches(iterate_minibatches)")
    nb.md("""
        All four together on the test set (ungraded):
    """)
    nb.code("""
        x = normalize(test_images.reshape(len(test_images), -1))
        y = one_hot(test_labels)
        batches = list(iterate_minibatches(x, y, 128, rng=0))
        print(f"{len(batches)} batches; the first has shapes {batches[0][0].shape} and {batches[0][1].shape}, "
              f"the last {len(batches[-1][0])} images")
    """)
    return nb


# ---------------------------------------------------------------------------
# a2_relu_softmax
# ---------------------------------------------------------------------------


def a2_relu_softmax() -> Notebook:
    nb = Notebook("a2_relu_softmax")
    intro(nb, "Assignment 2: ReLU, sigmoid and softmax", 2, "ReLU and softmax", "02_relu_softmax", """
        A network's hidden layers apply a nonlinearity, and its output layer turns scores into probabilities.
        You will write these functions, numerically safe, under the names of `mnistlab.functional`:

        | function | points |
        |---|---|
        | `relu` | 1 |
        | `sigmoid`, without overflow for large inputs | 2 |
        | `softmax`, stable for scores of size 1e4 | 2 |
        | `log_softmax`, finite where `log(softmax)` would be `-inf` | 2 |
        | `cross_entropy`, the mean loss, for class ids or one-hot labels | 3 |

        Vectorize: no Python loops over the entries.
    """)
    nb.setup("""
        # Setup (read-only): run this cell first.
        import numpy as np

        from mnistlab import grading
    """)
    nb.md(f"""
        ## 1. `relu`

        $\\mathrm{{relu}}(x) = \\max(x, 0)$, elementwise ([Chapter 2]({BOOK}/02_relu_softmax.md)). Python's
        `max` compares two numbers; for arrays use `np.maximum`. Return a new array: the caller's `x` must not
        change (so no `x[x < 0] = 0`), and float32 input should stay float32.
    """)
    nb.solution("relu", '''
        def relu(x):
            """Rectified linear unit, elementwise max(x, 0).

            Parameters
            ----------
            x : ndarray, any shape

            Returns
            -------
            ndarray, same shape and dtype as x
                A new array; x is not modified.
            """
            ### BEGIN SOLUTION
            return np.maximum(np.asarray(x), 0)
            ### END SOLUTION
    ''')
    nb.tests("relu", 1, "grading.check_relu(relu)")

    nb.md(f"""
        ## 2. `sigmoid`, without overflow

        $\\sigma(x) = 1 / (1 + e^{{-x}})$. Written like that, `np.exp(-x)` overflows for $x < -709$ (float64;
        $x < -88$ in float32) and NumPy prints a `RuntimeWarning` ([Chapter 2]({BOOK}/02_relu_softmax.md),
        "ReLU and sigmoid"). With $z = e^{{-|x|}}$, which is always in $(0, 1]$, the same function is
        $1 / (1 + z)$ for $x \\ge 0$ and $z / (1 + z)$ for $x < 0$. Careful: `np.where(cond, a, b)` computes
        both `a` and `b` for every entry, so neither branch may overflow. Your function must not emit warnings.
    """)
    nb.solution("sigmoid", '''
        def sigmoid(x):
            """Logistic function 1 / (1 + exp(-x)), without overflow for large |x|.

            Parameters
            ----------
            x : ndarray, any shape

            Returns
            -------
            ndarray, same shape as x (float32 stays float32), values in [0, 1]
            """
            ### BEGIN SOLUTION
            x = np.asarray(x)
            z = np.exp(-np.abs(x))
            return np.where(x >= 0, 1 / (1 + z), z / (1 + z))
            ### END SOLUTION
    ''')
    nb.tests("sigmoid", 2, "grading.check_sigmoid(sigmoid)")

    nb.md(f"""
        ## 3. `softmax`, with the max-shift

        $\\mathrm{{softmax}}(z)_i = e^{{z_i}} / \\sum_j e^{{z_j}}$ along the class axis (`axis`, by default the
        last). Softmax does not change when the same constant is added to every score of a row, so subtract each
        row's maximum first: every exponent is then $\\le 0$, nothing overflows, and the largest term is exactly
        1 ([Chapter 2]({BOOK}/02_relu_softmax.md), "The overflow, and the max-shift"). Reduce with `keepdims=True`, so that the
        row maxima and sums broadcast against `z`; and reduce over `axis`, so that any shape works.
    """)
    nb.solution("softmax", '''
        def softmax(z, axis=-1):
            """Softmax along axis, stable for scores as large as 1e4.

            Parameters
            ----------
            z : ndarray, shape (N, C) or any shape
                Scores (logits).
            axis : int, default -1
                The class axis.

            Returns
            -------
            ndarray, same shape as z
                Non-negative, summing to 1 along axis.
            """
            ### BEGIN SOLUTION
            z = np.asarray(z)
            e = np.exp(z - np.max(z, axis=axis, keepdims=True))
            return e / np.sum(e, axis=axis, keepdims=True)
            ### END SOLUTION
    ''')
    nb.tests("softmax", 2, "grading.check_softmax(softmax)")
    nb.md("""
        Try it (ungraded): the max-shift at work.
    """)
    nb.code("""
        print(softmax(np.array([[1.0, 2.0, 3.0], [1001.0, 1002.0, 1003.0]])))
    """)

    nb.md(f"""
        ## 4. `log_softmax`, with the log-sum-exp trick

        The loss needs $\\log \\mathrm{{softmax}}(z)$. Taking `np.log(softmax(z))` fails as soon as a probability
        underflows to 0: the true value is finite, the computed one `-inf`. Instead, with $m = \\max_j z_j$:
        $\\log \\mathrm{{softmax}}(z)_i = z_i - m - \\log \\sum_j e^{{z_j - m}}$
        ([Chapter 2]({BOOK}/02_relu_softmax.md), "Log-softmax and the cross-entropy").
    """)
    nb.solution("log_softmax", '''
        def log_softmax(z, axis=-1):
            """Logarithm of softmax, computed without ever forming log(0).

            Parameters
            ----------
            z : ndarray, shape (N, C) or any shape
                Scores (logits).
            axis : int, default -1
                The class axis.

            Returns
            -------
            ndarray, same shape as z
                All entries <= 0; their exp sums to 1 along axis.
            """
            ### BEGIN SOLUTION
            z = np.asarray(z)
            shifted = z - np.max(z, axis=axis, keepdims=True)
            return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
            ### END SOLUTION
    ''')
    nb.tests("log_softmax", 2, "grading.check_log_softmax(log_softmax)")

    nb.md(f"""
        ## 5. `cross_entropy`

        The loss of a batch is the **mean** over its $N$ samples of $-\\log p_{{n, y_n}}$, the negative
        log-probability the network gives to the right class ([Chapter 2]({BOOK}/02_relu_softmax.md),
        "Log-softmax and the cross-entropy"). Compute it from `log_softmax(logits, axis=1)` (your function above), never as
        `-np.log(softmax(...))`. With class ids, pick one entry per row: `logp[np.arange(N), labels]`. With
        one-hot rows of shape (N, C), the same value is `-np.sum(labels * logp) / N`. Uniform scores give
        $\\ln C$ (2.303 for 10 classes): a good sanity check.
    """)
    nb.solution("cross_entropy", '''
        def cross_entropy(logits, labels):
            """Mean cross-entropy between softmax(logits) and the labels.

            Parameters
            ----------
            logits : ndarray, shape (N, C)
                Unnormalized scores.
            labels : ndarray, shape (N,) of integer class ids in [0, C), or shape (N, C) one-hot rows

            Returns
            -------
            float
                -(1/N) sum_n log softmax(logits)[n, labels[n]]; ln(C) for uniform scores.
            """
            ### BEGIN SOLUTION
            logits = np.asarray(logits)
            labels = np.asarray(labels)
            n = logits.shape[0]
            logp = log_softmax(logits, axis=1)
            if labels.ndim == 2:
                return float(-np.sum(labels * logp) / n)
            return float(-np.mean(logp[np.arange(n), labels]))
            ### END SOLUTION
    ''')
    nb.tests("cross_entropy", 3, "grading.check_cross_entropy(cross_entropy)")
    return nb


# ---------------------------------------------------------------------------
# a3_numerical_gradients
# ---------------------------------------------------------------------------


def a3_numerical_gradients() -> Notebook:
    nb = Notebook("a3_numerical_gradients")
    intro(nb, "Assignment 3: Numerical gradients", 3, "Numerical gradients", "03_numerical_gradients", """
        Backpropagation (next assignment) computes gradients with the chain rule; a single wrong transpose makes
        them wrong, and training then fails quietly. The cure is to compare them with gradients computed by
        brute force, from the definition of the derivative. You will write the two tools for that, under the
        names of `mnistlab.gradcheck`:

        | function | points |
        |---|---|
        | `numerical_gradient`: central differences, leaving `x` as it found it | 6 |
        | `rel_error`: how far apart two gradients are | 4 |
    """)
    nb.setup("""
        # Setup (read-only): run this cell first.
        import numpy as np

        from mnistlab import grading
    """)
    nb.md(f"""
        ## 1. `numerical_gradient`

        For each entry $x_i$: $\\partial f / \\partial x_i \\approx (f(x + h e_i) - f(x - h e_i)) / (2h)$, the
        **central** difference, whose error shrinks like $h^2$; the forward difference $(f(x + h) - f(x)) / h$
        is only accurate to $O(h)$ ([Chapter 3]({BOOK}/03_numerical_gradients.md), "The numerical gradient").

        Change `x` **in place**, one entry at a time, and put the old value back afterwards. In place, because
        `f` usually ignores its argument and reads the array itself: checking a network's gradient means
        `f = lambda _: net.loss(x_batch, y_batch)[0]` with `x = net.params["W1"]`, so changing a copy would
        change nothing. Restored, because everything after the check uses `x` again. `x` may have any number of
        dimensions: `np.ndindex(x.shape)` visits every index tuple. Use the `h` you are given.
    """)
    nb.solution("numerical_gradient", '''
        def numerical_gradient(f, x, h=1e-5):
            """Gradient of a scalar function by central differences.

            Parameters
            ----------
            f : callable
                f(x) -> float. Called 2 * x.size times.
            x : ndarray of float64, any shape
                The point at which to differentiate. Changed in place one entry at a time, and
                restored: unchanged when the function returns.
            h : float, default 1e-5
                The step.

            Returns
            -------
            ndarray of float64, same shape as x
            """
            ### BEGIN SOLUTION
            grad = np.zeros(x.shape)
            for ix in np.ndindex(x.shape):
                old = x[ix]
                x[ix] = old + h
                f_plus = f(x)
                x[ix] = old - h
                f_minus = f(x)
                x[ix] = old
                grad[ix] = (f_plus - f_minus) / (2 * h)
            return grad
            ### END SOLUTION
    ''')
    nb.tests("numerical_gradient", 6, "grading.check_numerical_gradient(numerical_gradient)")

    nb.md(f"""
        ## 2. `rel_error`

        Two gradients agree when their **relative** difference is small, whatever their size:
        $\\max_i |a_i - b_i| / \\max(10^{{-8}}, |a_i| + |b_i|)$ ([Chapter 3]({BOOK}/03_numerical_gradients.md),
        "Comparing gradients: the relative error"). The floor $10^{{-8}}$ keeps it finite where both are 0; absolute values
        in the denominator, because `a + b` can be 0 when the signs differ; the **maximum**, because one wrong
        entry is a bug. Return a Python `float`. Rule of thumb in float64: below 1e-7 is right, 1e-2 or more is
        a bug.
    """)
    nb.solution("rel_error", '''
        def rel_error(a, b):
            """Largest elementwise relative error |a - b| / max(1e-8, |a| + |b|).

            Parameters
            ----------
            a, b : ndarray (or numbers), same shape

            Returns
            -------
            float
            """
            ### BEGIN SOLUTION
            a = np.asarray(a, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64)
            return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
            ### END SOLUTION
    ''')
    nb.tests("rel_error", 4, "grading.check_rel_error(rel_error)")
    nb.md("""
        Both together (ungraded): the gradient of the softmax cross-entropy loss, which you will derive in the
        next assignment, checked against your numerical one. The relative error should be around 1e-10.
    """)
    nb.code("""
        from mnistlab.layers import softmax_cross_entropy

        rng = np.random.default_rng(0)
        logits = rng.standard_normal((4, 5))
        labels = np.array([0, 3, 1, 4])
        loss, dlogits = softmax_cross_entropy(logits, labels)
        numeric = numerical_gradient(lambda z: softmax_cross_entropy(z, labels)[0], logits)
        print(f"loss {loss:.4f}, relative error of the analytic gradient: {rel_error(numeric, dlogits):.1e}")
    """)
    return nb


# ---------------------------------------------------------------------------
# a4_backprop
# ---------------------------------------------------------------------------


def a4_backprop() -> Notebook:
    nb = Notebook("a4_backprop")
    intro(nb, "Assignment 4: Backpropagation", 4, "Backpropagation", "04_backprop", """
        You will build a two-layer network, affine - ReLU - affine - softmax, from layers that each know their
        forward and backward pass, as in `mnistlab.layers` and `mnistlab.model`:

        | function | points |
        |---|---|
        | `affine_forward` | 1 |
        | `affine_backward` | 2 |
        | `relu_forward` | 1 |
        | `relu_backward` | 1 |
        | `softmax_cross_entropy`: loss and gradient | 2 |
        | `TwoLayerNet.loss`: the whole forward and backward pass | 3 |

        Every layer has the same contract: `forward(inputs) -> (out, cache)` keeps in `cache` what the backward
        pass needs, and `backward(dout, cache)` turns the gradient of the loss with respect to the layer's output
        into gradients with respect to its inputs and parameters. Each gradient has **the shape of what it is
        the gradient of**: the quickest check for a misplaced transpose.

        The checks give each backward function a cache in the documented form (`(x, w, b)` for the affine layer,
        `x` for ReLU), so each function earns its points on its own.
    """)
    nb.setup("""
        # Setup (read-only): run this cell first.
        import numpy as np

        from mnistlab import grading
        from mnistlab.gradcheck import numerical_gradient, numerical_gradient_array, rel_error  # for your own checks
    """)
    nb.md(f"""
        ## 1. The affine layer

        `out = x @ w + b`, with `x` of shape (N, D), `w` (D, H), `b` (H,); images of shape (N, 28, 28) are first
        flattened to rows of D = 784 (`x.reshape(len(x), -1)`). Backward, with `dout` of shape (N, H)
        ([Chapter 4]({BOOK}/04_backprop.md), "Affine layer"): `dx = dout @ w.T` (reshaped to x's shape),
        `dw = x.T @ dout` (shape (D, H), like `w`), `db = dout.sum(axis=0)` (shape (H,), like `b`). No division
        by N here: the loss already averaged over the batch.
    """)
    nb.solution("affine_forward", '''
        def affine_forward(x, w, b):
            """Fully connected layer out = x @ w + b.

            Parameters
            ----------
            x : ndarray, shape (N, D) or (N, d_1, ..., d_k) with D = d_1 * ... * d_k
            w : ndarray, shape (D, H)
            b : ndarray, shape (H,)

            Returns
            -------
            out : ndarray, shape (N, H)
            cache : tuple (x, w, b)
            """
            ### BEGIN SOLUTION
            out = x.reshape(x.shape[0], -1) @ w + b
            return out, (x, w, b)
            ### END SOLUTION
    ''')
    nb.tests("affine_forward", 1, "grading.check_affine_forward(affine_forward)")
    nb.solution("affine_backward", '''
        def affine_backward(dout, cache):
            """Backward pass of affine_forward.

            Parameters
            ----------
            dout : ndarray, shape (N, H)
                Gradient of the loss with respect to out.
            cache : tuple (x, w, b)
                From affine_forward.

            Returns
            -------
            dx : ndarray, shape of x
            dw : ndarray, shape (D, H)
            db : ndarray, shape (H,)
            """
            ### BEGIN SOLUTION
            x, w, b = cache
            dx = (dout @ w.T).reshape(x.shape)
            dw = x.reshape(x.shape[0], -1).T @ dout
            db = dout.sum(axis=0)
            return dx, dw, db
            ### END SOLUTION
    ''')
    nb.tests("affine_backward", 2, "grading.check_affine_backward(affine_backward)")
    nb.md("""
        Check your backward pass numerically (ungraded): each relative error should be below 1e-7.
    """)
    nb.code("""
        rng = np.random.default_rng(0)
        x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
        dout = rng.standard_normal((3, 5))
        dx, dw, db = affine_backward(dout, (x, w, b))
        print("dx", rel_error(dx, numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)))
        print("dw", rel_error(dw, numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)))
        print("db", rel_error(db, numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)))
    """)

    nb.md(f"""
        ## 2. The ReLU layer

        Forward: `out = max(x, 0)`, and the cache is the input `x`. Backward: the gradient passes where `x > 0`
        and is 0 elsewhere, including at `x == 0`, where ReLU has no derivative and we use 0 by convention
        ([Chapter 4]({BOOK}/04_backprop.md), "ReLU"): `dx = dout * (x > 0)`. Do not modify `x` or `dout`.
    """)
    nb.solution("relu_forward", '''
        def relu_forward(x):
            """ReLU layer: out = max(x, 0).

            Parameters
            ----------
            x : ndarray, any shape

            Returns
            -------
            out : ndarray, shape of x
            cache : ndarray, the input x
            """
            ### BEGIN SOLUTION
            return np.maximum(x, 0), x
            ### END SOLUTION
    ''')
    nb.tests("relu_forward", 1, "grading.check_relu_forward(relu_forward)")
    nb.solution("relu_backward", '''
        def relu_backward(dout, cache):
            """Backward pass of relu_forward.

            Parameters
            ----------
            dout : ndarray, shape of x
            cache : ndarray, the input x of relu_forward

            Returns
            -------
            dx : ndarray, shape of x
            """
            ### BEGIN SOLUTION
            x = cache
            return dout * (x > 0)
            ### END SOLUTION
    ''')
    nb.tests("relu_backward", 1, "grading.check_relu_backward(relu_backward)")

    nb.md(f"""
        ## 3. Softmax cross-entropy: loss and gradient together

        The mean loss of assignment 2, and its gradient with respect to the scores, which is remarkably simple
        ([Chapter 4]({BOOK}/04_backprop.md), "Softmax cross-entropy"):
        `dlogits = (softmax(logits) - one_hot(labels)) / N`. The `/ N` is there because the loss is the mean
        over the batch. Shift by the row maximum, as in assignment 2. Labels are class ids of shape (N,).
    """)
    nb.solution("softmax_cross_entropy", '''
        def softmax_cross_entropy(logits, labels):
            """Mean softmax cross-entropy loss and its gradient with respect to the logits.

            Parameters
            ----------
            logits : ndarray, shape (N, C)
            labels : ndarray of int, shape (N,), class ids in [0, C)

            Returns
            -------
            loss : float
            dlogits : ndarray, shape (N, C), dtype of logits
            """
            ### BEGIN SOLUTION
            n = logits.shape[0]
            shifted = logits - np.max(logits, axis=1, keepdims=True)
            logp = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
            loss = -np.mean(logp[np.arange(n), labels])
            dlogits = np.exp(logp)
            dlogits[np.arange(n), labels] -= 1
            return float(loss), dlogits / n
            ### END SOLUTION
    ''')
    nb.tests("softmax_cross_entropy", 2, "grading.check_softmax_cross_entropy(softmax_cross_entropy)")

    nb.md(f"""
        ## 4. The network: `TwoLayerNet.loss`

        The class below is given: its constructor draws the initial weights (He initialization) into
        `self.params`, a dict with `W1` (D, H), `b1` (H,), `W2` (H, C), `b2` (C,), the same layout as
        `mnistlab.model.TwoLayerNet`. You write its `loss` method ([Chapter 4]({BOOK}/04_backprop.md),
        "The two-layer network"), using your layers:

        - forward: affine (W1, b1), ReLU, affine (W2, b2) gives the scores; if `y is None`, return them (raw
          scores, no softmax);
        - the loss: `softmax_cross_entropy(scores, y)` plus the L2 penalty
          `0.5 * reg * (np.sum(W1**2) + np.sum(W2**2))` (the biases are not regularized);
        - backward, in reverse order: the loss, the second affine layer, ReLU, the first affine layer; then add
          `reg * W` to the gradient of each weight matrix.

        Return `(loss, grads)`, with `grads` keyed like `params`. Only `loss` is graded: the check builds the
        network with this constructor, loads fixed parameters into `params`, and compares scores, loss and
        gradients with the reference. `loss` must not change `params`.
    """)
    nb.solution("TwoLayerNet.loss", '''
        class TwoLayerNet:
            """affine - ReLU - affine - softmax cross-entropy, for D inputs and C classes.

            Parameters
            ----------
            input_dim : int, default 784
            hidden_dim : int, default 100
            num_classes : int, default 10
            reg : float, default 0.0
                L2 regularization strength.
            rng : np.random.Generator, int or None
                For the initial weights.

            Attributes
            ----------
            params : dict
                W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).
            """

            def __init__(self, input_dim=784, hidden_dim=100, num_classes=10, *, reg=0.0, rng=None):
                gen = np.random.default_rng(rng)
                self.reg = reg
                self.params = {
                    "W1": np.sqrt(2.0 / input_dim) * gen.standard_normal((input_dim, hidden_dim)),
                    "b1": np.zeros(hidden_dim),
                    "W2": np.sqrt(2.0 / hidden_dim) * gen.standard_normal((hidden_dim, num_classes)),
                    "b2": np.zeros(num_classes),
                }

            def loss(self, x, y=None):
                """Scores, or the loss and the gradient of every parameter.

                Parameters
                ----------
                x : ndarray, shape (N, D)
                y : ndarray of int, shape (N,), optional
                    Class ids.

                Returns
                -------
                scores : ndarray, shape (N, C)
                    If y is None: the raw scores of the last layer.
                (loss, grads) : (float, dict)
                    Otherwise: the mean softmax cross-entropy plus 0.5 * reg * (sum(W1**2) + sum(W2**2)),
                    and grads with the keys of params, each of its parameter's shape.
                """
                ### BEGIN SOLUTION
                p = self.params
                hidden, cache1 = affine_forward(x, p["W1"], p["b1"])
                activated, relu_cache = relu_forward(hidden)
                scores, cache2 = affine_forward(activated, p["W2"], p["b2"])
                if y is None:
                    return scores
                data_loss, dscores = softmax_cross_entropy(scores, y)
                reg_loss = 0.5 * self.reg * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
                dactivated, dW2, db2 = affine_backward(dscores, cache2)
                dhidden = relu_backward(dactivated, relu_cache)
                _, dW1, db1 = affine_backward(dhidden, cache1)
                grads = {
                    "W1": dW1 + self.reg * p["W1"],
                    "b1": db1,
                    "W2": dW2 + self.reg * p["W2"],
                    "b2": db2,
                }
                return data_loss + reg_loss, grads
                ### END SOLUTION

            def predict(self, x):
                """Predicted class ids, shape (N,)."""
                return np.argmax(self.loss(x), axis=1)
    ''')
    nb.tests("TwoLayerNet.loss", 3, "grading.check_two_layer_net_loss(TwoLayerNet)")
    nb.md("""
        The gradient check of the whole network (ungraded): every relative error should be below 1e-7.
    """)
    nb.code("""
        net = TwoLayerNet(input_dim=6, hidden_dim=5, num_classes=3, reg=0.1, rng=0)
        x_small = np.random.default_rng(1).standard_normal((4, 6))
        y_small = np.array([0, 2, 1, 2])
        loss, grads = net.loss(x_small, y_small)
        for name in net.params:
            numeric = numerical_gradient(lambda _: net.loss(x_small, y_small)[0], net.params[name])
            print(f"{name}: relative error {rel_error(numeric, grads[name]):.1e}")
    """)
    return nb


# ---------------------------------------------------------------------------
# a5_sgd_momentum
# ---------------------------------------------------------------------------


def a5_sgd_momentum() -> Notebook:
    nb = Notebook("a5_sgd_momentum")
    intro(nb, "Assignment 5: SGD and momentum", 5, "SGD and momentum", "05_sgd_momentum", """
        Gradients say which way is downhill; an update rule decides how far to go. You will write the two rules
        of `mnistlab.optim`, then train a real network on MNIST with yours:

        | graded | points |
        |---|---|
        | `sgd` | 2 |
        | `sgd_momentum` | 4 |
        | the training run: your `sgd_momentum` trains a 784-100-10 network to **96% test accuracy** in 3 epochs | 4 |

        Both rules follow one contract: `rule(w, dw, config=None) -> (next_w, config)`. `w` and `dw` are one
        parameter and its gradient (same shape); `config` is a dict of hyperparameters that also carries the
        rule's state (the velocity) from one step to the next, one dict per parameter. Return a **new** array:
        `w` and `dw` must not change.
    """)
    nb.setup("""
        # Setup (read-only): run this cell first.
        import numpy as np

        from mnistlab import grading
    """)
    nb.md(f"""
        ## 1. `sgd`

        `next_w = w - learning_rate * dw` ([Chapter 5]({BOOK}/05_sgd_momentum.md)). When `config` is None, use
        a new dict; record the default learning rate 1e-2 in it (`config.setdefault("learning_rate", 1e-2)`),
        and return it.
    """)
    nb.solution("sgd", '''
        def sgd(w, dw, config=None):
            """Vanilla stochastic gradient descent: w - learning_rate * dw.

            Parameters
            ----------
            w : ndarray, any shape
            dw : ndarray, shape of w
            config : dict, optional
                learning_rate (default 1e-2).

            Returns
            -------
            next_w : ndarray, shape and dtype of w
            config : dict
            """
            ### BEGIN SOLUTION
            if config is None:
                config = {}
            config.setdefault("learning_rate", 1e-2)
            return w - config["learning_rate"] * dw, config
            ### END SOLUTION
    ''')
    nb.tests("sgd", 2, "grading.check_sgd(sgd)")

    nb.md(f"""
        ## 2. `sgd_momentum`

        Momentum keeps a velocity `v`, a decaying sum of past steps ([Chapter 5]({BOOK}/05_sgd_momentum.md),
        "Momentum"):

        ```
        v = momentum * v - learning_rate * dw
        next_w = w + v
        ```

        Directions in which the gradient keeps its sign speed up (up to 10x for momentum 0.9), directions in
        which it oscillates cancel out. The velocity lives in `config["velocity"]`: zeros of `w`'s shape and
        dtype the first time (`np.zeros_like(w)`), and the new `v` stored back after every step, so the next
        call continues from it. Defaults: learning rate 1e-2, momentum 0.9.
    """)
    nb.solution("sgd_momentum", '''
        def sgd_momentum(w, dw, config=None):
            """SGD with momentum: v = momentum * v - learning_rate * dw; next_w = w + v.

            Parameters
            ----------
            w : ndarray, any shape
            dw : ndarray, shape of w
            config : dict, optional
                learning_rate (default 1e-2), momentum (default 0.9) and the state velocity
                (default zeros of w's shape and dtype).

            Returns
            -------
            next_w : ndarray, shape and dtype of w
            config : dict, with the updated velocity
            """
            ### BEGIN SOLUTION
            if config is None:
                config = {}
            config.setdefault("learning_rate", 1e-2)
            config.setdefault("momentum", 0.9)
            v = config.get("velocity")
            if v is None:
                v = np.zeros_like(w)
            v = config["momentum"] * v - config["learning_rate"] * dw
            config["velocity"] = v
            return w + v, config
            ### END SOLUTION
    ''')
    nb.tests("sgd_momentum", 4, "grading.check_sgd_momentum(sgd_momentum)")

    nb.md(f"""
        ## 3. The training run

        Now your `sgd_momentum` trains a real network: a 784-100-10 `TwoLayerNet` (the one of assignment 4, from
        `mnistlab.model`) in float32, on the 60,000 MNIST training images, in mini-batches of 128, for **3
        epochs**, always from the same initial weights and in the same order (seed 0). To pass, it must classify
        at least **96%** of the 10,000 test images correctly ([Chapter 5]({BOOK}/05_sgd_momentum.md), "The update rule
        and the training loop"). A correct `sgd_momentum` with the hyperparameters below reaches about 97% in a few seconds;
        plain SGD at the same learning rate only about 94%.

        You may change the two hyperparameters (within 0 < learning rate <= 1 and 0 <= momentum < 1); the
        budget of 3 epochs is fixed.
    """)
    nb.code("""
        LEARNING_RATE = 0.1
        MOMENTUM = 0.9
    """)
    nb.tests(
        "training_run", 4,
        "result = grading.check_training_run(sgd_momentum, learning_rate=LEARNING_RATE, momentum=MOMENTUM)",
        hidden=False,
        title="The training run",
        comment="It trains for 3 epochs and prints the test accuracy after each.",
    )
    nb.md("""
        The learning curves of your run (ungraded):
    """)
    nb.code("""
        from mnistlab.plots import plot_history

        plot_history(result.history, title=f"sgd_momentum, learning rate {LEARNING_RATE}, momentum {MOMENTUM}");
    """)
    return nb


ASSIGNMENTS = {
    "a1_data": a1_data,
    "a2_relu_softmax": a2_relu_softmax,
    "a3_numerical_gradients": a3_numerical_gradients,
    "a4_backprop": a4_backprop,
    "a5_sgd_momentum": a5_sgd_momentum,
}


def build(name: str) -> Notebook:
    """The :class:`Notebook` of one assignment (cells and points)."""
    return ASSIGNMENTS[name]()


def render(name: str) -> str:
    """The notebook file's text, exactly as written to ``source/<name>/<name>.ipynb``."""
    return nbformat.writes(build(name).notebook()) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    args = parser.parse_args(argv)
    stale = []
    for name in ASSIGNMENTS:
        path = SOURCE / name / f"{name}.ipynb"
        text = render(name)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    if args.check and stale:
        print("out of date (run assignments/build_sources.py):", *[str(p) for p in stale], sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
