"""``mnistlab bench``: how fast is the NumPy reference, measured in one run.

Prints, from a single process so that the ratios compare like with like:

1. the BLAS library NumPy uses (through ``threadpoolctl``): its name, version,
   kernel architecture and threads, and a warning when an environment variable
   such as ``OPENBLAS_CORETYPE`` forces or tunes its kernel;
2. the time to load the cached MNIST files;
3. the epoch time of the default model (784-256-10, ReLU, float32, SGD with
   momentum, batch 128) trained by :func:`mnistlab.train.train`, with its fused
   step (:class:`mnistlab.fused.FusedStep`) and with the textbook step
   (``model.loss``, then the rule's in-place form);
4. the same model in PyTorch on the CPU, when ``torch`` is importable, with the
   same threads, initial weights and mini-batches;
5. two lower bounds on the epoch: the *shape-matched* bound, the same matrix
   products one epoch does (same shapes, count and dtype) timed alone, back to
   back; and the *2048^3* bound, the epoch's matmul FLOPs at the rate of one
   large square product (which batch-128 shapes cannot reach); then the
   *floor* (:func:`floor_runner`): the products with each mini-batch copied
   out of the shuffled data and every weight's momentum update, what any NumPy
   loop of the model pays before its biases, activations and loss, and the same
   with the plain SGD step and with no update, which say where the floor's time
   goes;
6. the peak memory (maximum resident set) of ``mnistlab train`` for one epoch.

The timings of 3-5 are interleaved, one of each per repeat, and reported as
medians, so that a burst of load from another process shifts all of them alike;
a pause of :data:`SETTLE_SECONDS` separates NumPy's figures from PyTorch's.

Speed goals are checked here, never in timed unit tests (the machine is shared
and noisy): cached load < 0.2 s, an epoch no slower than 0.8x PyTorch's, within
1.3x of the shape-matched bound and within 2x of the 2048^3 one.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import numpy as np

LAYER_SIZES = (784, 256, 10)
BATCH_SIZE = 128
OPTIM_CONFIG = {"learning_rate": 0.1, "momentum": 0.9}

GOAL_LOAD_SECONDS = 0.2
GOAL_TORCH_SPEED_RATIO = 0.8
GOAL_SHAPE_BOUND_FACTOR = 1.3
GOAL_BOUND_FACTOR = 2.0

#: Seconds of pause between NumPy's and PyTorch's timings in a round. Both libraries' worker
#: threads keep spinning for a while after a parallel product (OpenBLAS's up to about 0.1 s), and
#: spinning threads of the one slow down whichever figure of the other is timed next.
SETTLE_SECONDS = 0.3

#: Environment variables that pick or tune the BLAS kernel, and what each does.
#: OpenBLAS reads them once, when NumPy loads it, so only a new process can drop them.
KERNEL_VARIABLES = {
    "OPENBLAS_CORETYPE": "forces OpenBLAS's kernel for that CPU type instead of the one it detects",
    "OPENBLAS_L2_SIZE": "overrides the L2 cache size OpenBLAS blocks its kernels for",
    "MKL_ENABLE_INSTRUCTIONS": "caps the instruction set of MKL's kernels",
    "MKL_DEBUG_CPU_TYPE": "forces MKL's kernel for that CPU type",
    "MKL_CBWR": "makes MKL pick a reproducible (often slower) code path",
}


def numpy_blas_info() -> list[dict]:
    """What ``threadpoolctl`` reports about the BLAS libraries NumPy has loaded.

    Returns
    -------
    list of dict
        One dict per BLAS library, with (at least) ``internal_api`` (e.g.
        ``"openblas"``), ``version``, ``architecture`` (the kernel, e.g.
        ``"SkylakeX"``), ``num_threads`` and ``filepath``. Libraries that are
        not NumPy's (e.g. PyTorch's) are left out when NumPy's can be told apart
        by its path. Empty when ``threadpoolctl`` is not installed.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    own = [info for info in blas if "numpy" in (info.get("filepath") or "")]  # numpy.libs/, numpy/.dylibs/
    return own or blas


def format_blas_info(infos: list[dict]) -> list[str]:
    """One line per BLAS library: name, version, kernel architecture, threads, file.

    Parameters
    ----------
    infos : list of dict
        As :func:`numpy_blas_info` returns them.

    Returns
    -------
    list of str
    """
    if not infos:
        return ["NumPy's BLAS: unknown (install threadpoolctl to see which library, kernel and threads)"]
    return [
        f"NumPy's BLAS: {info.get('internal_api')} {info.get('version')}, "
        f"kernel {info.get('architecture') or 'unknown'}, {info.get('num_threads')} threads "
        f"({info.get('filepath')})"
        for info in infos
    ]


def kernel_warnings(environ=None) -> list[str]:
    """Warnings for the environment variables of :data:`KERNEL_VARIABLES` that are set.

    Parameters
    ----------
    environ : mapping, optional
        Default ``os.environ``.

    Returns
    -------
    list of str
        Empty when none is set; else one line per variable naming it, its value
        and what it does, and a last line with the command that measures
        without them.
    """
    environ = os.environ if environ is None else environ
    found = [name for name in KERNEL_VARIABLES if environ.get(name) not in (None, "")]
    if not found:
        return []
    lines = [f"warning: {name}={environ[name]} is set: it {KERNEL_VARIABLES[name]}; "
             "the figures below are for that kernel" for name in found]
    unset = " ".join(f"-u {name}" for name in found)
    lines.append(f"warning: to measure without it, run: env {unset} mnistlab bench")
    return lines


def epoch_matmul_shapes(layer_sizes=LAYER_SIZES, n: int = 60_000,
                        batch_size: int = BATCH_SIZE) -> list[tuple[str, int, int, int, int]]:
    """The matrix products of one training epoch, grouped by shape.

    Per mini-batch of ``B`` rows and affine layer ``(a -> b)``: ``x @ W``
    (B, a) x (a, b) forward, ``x^T @ dout`` (a, B) x (B, b) for ``dW`` and,
    except for the first layer (whose input gradient is not needed),
    ``dout @ W^T`` (B, b) x (b, a) for ``dx``. An epoch has ``n // batch_size``
    full batches and one short batch of the ``n % batch_size`` left over rows.

    Parameters
    ----------
    layer_sizes : sequence of int
    n : int
        Training samples per epoch.
    batch_size : int

    Returns
    -------
    list of (kind, m, k, cols, count)
        ``kind`` is ``"x @ W"``, ``"x.T @ dout"`` or ``"dout @ W.T"``; the
        product is (m, k) x (k, cols) and happens ``count`` times per epoch.
    """
    return [(kind, m, k, cols, count)
            for rows, count in _batch_groups(n, batch_size)
            for kind, m, k, cols in _layer_products(layer_sizes, rows)]


def _batch_groups(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(rows, count)``: ``n // batch_size`` full batches, then the short one if any."""
    groups = [(batch_size, n // batch_size)] if n >= batch_size else []
    return groups + ([(n % batch_size, 1)] if n % batch_size else [])


def _layer_products(layer_sizes, rows: int) -> list[tuple[str, int, int, int]]:
    """``(kind, m, k, cols)`` of the products of one mini-batch of ``rows`` samples."""
    products = []
    for layer, (a, b) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        products.append(("x @ W", rows, a, b))
        products.append(("x.T @ dout", a, rows, b))
        if layer > 0:  # the first layer's input is the data: no dx
            products.append(("dout @ W.T", rows, b, a))
    return products


def epoch_matmul_flops(layer_sizes=LAYER_SIZES, n: int = 60_000) -> float:
    """Floating-point operations of the matrix products of one training epoch.

    Each affine layer ``(n, a) @ (a, b)`` costs ``2 n a b`` forward, the same
    again for ``dW = x^T dout`` and, except for the first layer (whose input
    gradient is not needed), once more for ``dx = dout W^T``.

    Parameters
    ----------
    layer_sizes : sequence of int
    n : int
        Training samples per epoch.

    Returns
    -------
    float
    """
    products = [a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]
    return 2.0 * n * (3 * sum(products) - products[0])


def shape_matched_runner(layer_sizes=LAYER_SIZES, n: int = 60_000, batch_size: int = BATCH_SIZE,
                         dtype=np.float32, rng=0):
    """A function that times the matrix products of one epoch alone, back to back.

    The operands are random arrays of the epoch's shapes and dtype, laid out as
    in :func:`mnistlab.layers.affine_forward` and
    :func:`mnistlab.layers.affine_backward` (``x.T`` and ``W.T`` are transposed
    views, as there), so the BLAS calls are the ones the epoch makes, with
    nothing in between.

    Parameters
    ----------
    layer_sizes : sequence of int
    n : int
        Training samples per epoch.
    batch_size : int
    dtype : numpy dtype, default float32
    rng : np.random.Generator, int or None

    Returns
    -------
    callable
        ``run() -> float``: wall seconds of one epoch's products.
    """
    from mnistlab._rng import as_generator

    gen = as_generator(rng)

    def operands(kind, m, k, cols):
        if kind == "x @ W":
            a, b = gen.standard_normal((m, k)), gen.standard_normal((k, cols))
        elif kind == "x.T @ dout":
            a, b = gen.standard_normal((k, m)).T, gen.standard_normal((k, cols))
        else:
            a, b = gen.standard_normal((m, k)), gen.standard_normal((cols, k)).T
        return a.astype(dtype, order="K"), b.astype(dtype, order="K")

    # Batch by batch, as the epoch makes them.
    groups = [(count, [operands(*product) for product in _layer_products(layer_sizes, rows)])
              for rows, count in _batch_groups(n, batch_size)]

    def run() -> float:
        start = time.perf_counter()
        for count, products in groups:
            for _ in range(count):
                for a, b in products:
                    a @ b
        return time.perf_counter() - start

    return run


#: What :func:`floor_runner` does to the weights after each step's products: nothing, the SGD step
#: (``w += step``, one pass over each weight) or the momentum update (three passes).
FLOOR_UPDATES = ("none", "sgd", "momentum")


def floor_runner(x: np.ndarray, layer_sizes=LAYER_SIZES, batch_size: int = BATCH_SIZE,
                 momentum: float = OPTIM_CONFIG["momentum"], rng=0, update: str = "momentum"):
    """A function that times what no NumPy training loop of this model can leave out.

    One epoch of: each mini-batch copied out of ``x`` in a shuffled order
    (``x[idx]``, as :func:`mnistlab.data.iterate_minibatches` does it), the
    products of :func:`shape_matched_runner` with that copy as the first layer's
    input, and every weight's momentum update as :class:`mnistlab.fused.FusedStep`
    makes it (``step = x^T dout`` into its array, then ``v *= momentum;
    v += step; w += v``). Nothing else: no bias, activation or loss. The other
    operands are random arrays of the epoch's shapes and of ``x``'s dtype.

    With ``update="sgd"`` each weight gets the plain SGD step instead (``w += step``,
    the one pass over it that any NumPy loop makes); with ``"none"``, no update: what
    is left is the products and the mini-batch copies.

    Parameters
    ----------
    x : ndarray, shape (N, D)
        The training images (``D = layer_sizes[0]``).
    layer_sizes : sequence of int
    batch_size : int
    momentum : float
    rng : np.random.Generator, int or None
        The operands and the shuffled orders.
    update : {"momentum", "sgd", "none"}
        See :data:`FLOOR_UPDATES`.

    Returns
    -------
    callable
        ``run() -> float``: wall seconds of one epoch. Its attributes
        ``weights``, ``velocities`` (one array per layer, updated by every run)
        and ``douts`` (the gradient each layer's backward pass starts from,
        shape (batch_size, out)) are the arrays it works on.
    """
    from mnistlab._rng import as_generator

    if update not in FLOOR_UPDATES:
        raise ValueError(f"floor_runner: update must be one of {FLOOR_UPDATES}, not {update!r}")
    gen = as_generator(rng)
    dtype, pairs = x.dtype, list(zip(layer_sizes[:-1], layer_sizes[1:]))
    weights = [gen.standard_normal((a, b)).astype(dtype) for a, b in pairs]
    velocities = [np.zeros_like(w) for w in weights]
    steps = [np.empty_like(w) for w in weights]
    outs = [np.empty((batch_size, b), dtype) for _, b in pairs]
    inputs = [None] + [gen.standard_normal((batch_size, a)).astype(dtype) for a, _ in pairs[1:]]
    douts = [(1e-3 * gen.standard_normal((batch_size, b))).astype(dtype) for _, b in pairs]
    dxs = [np.empty((batch_size, a), dtype) for a, _ in pairs]

    def run() -> float:
        order = gen.permutation(len(x))
        start = time.perf_counter()
        for first in range(0, len(x), batch_size):
            batch = x[order[first:first + batch_size]]
            n = len(batch)
            ins = [batch] + [inp[:n] for inp in inputs[1:]]
            for layer, w in enumerate(weights):
                np.matmul(ins[layer], w, out=outs[layer][:n])
            for layer in reversed(range(len(weights))):
                dout, w, v = douts[layer][:n], weights[layer], velocities[layer]
                np.matmul(ins[layer].T, dout, out=steps[layer])
                if layer > 0:
                    np.matmul(dout, w.T, out=dxs[layer][:n])
                if update == "momentum":
                    v *= momentum
                    v += steps[layer]
                    w += v
                elif update == "sgd":
                    w += steps[layer]
        return time.perf_counter() - start

    run.weights, run.velocities, run.douts = weights, velocities, douts
    return run


def measure_gflops(m: int = 2048, k: int = 2048, n: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of a float32 ``(m, k) @ (k, n)`` product on this machine's BLAS.

    Parameters
    ----------
    m, k, n : int
        Shapes; the default large square product shows the BLAS at its peak.
    repeats : int

    Returns
    -------
    float
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    a @ b  # warm-up: threads started, pages touched
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * m * k * n / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _numpy_epoch(model, x, y, rng, fused: bool = True) -> float:
    from mnistlab.train import train

    history = train(model, ((x, y), (x[:1], y[:1])), update_rule="sgd_momentum",
                    optim_config=dict(OPTIM_CONFIG), batch_size=BATCH_SIZE, epochs=1,
                    rng=rng, progress=False, fused=fused)
    if fused and history.step != "fused":
        raise RuntimeError(f"the benchmark's model was not trained by the fused step: {history.step}")
    return history.epoch_time[0]


def _torch_epoch_runner(torch, params, x, y, threads: int):
    """Build the same model in PyTorch; return a function that trains one epoch and times it."""
    torch.set_num_threads(threads)
    net = torch.nn.Sequential(
        torch.nn.Linear(LAYER_SIZES[0], LAYER_SIZES[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(LAYER_SIZES[1], LAYER_SIZES[2]),
    )
    with torch.no_grad():  # the same initial weights (PyTorch stores W transposed)
        net[0].weight.copy_(torch.from_numpy(params["W1"].T.copy()))
        net[0].bias.copy_(torch.from_numpy(params["b1"]))
        net[2].weight.copy_(torch.from_numpy(params["W2"].T.copy()))
        net[2].bias.copy_(torch.from_numpy(params["b2"]))
    opt = torch.optim.SGD(net.parameters(), lr=OPTIM_CONFIG["learning_rate"], momentum=OPTIM_CONFIG["momentum"])
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def epoch(rng) -> float:
        order = torch.from_numpy(rng.permutation(len(x)))
        start = time.perf_counter()
        for i in range(0, len(x), BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    return epoch


#: Run in the measured process: train as ``mnistlab train`` does, then print the
#: peak resident memory of this process alone. (Linux's VmHWM counts only this
#: program; ``ru_maxrss`` of a child also counts the parent's memory at ``exec``.)
_PEAK_MEMORY_CHILD = """
import resource, sys
from mnistlab.cli import main
code = main(sys.argv[1:])
peak = None
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = rss if sys.platform == "darwin" else rss * 1024
print("PEAK_BYTES", peak)
sys.exit(code)
"""


def train_peak_memory(data_dir=None, epochs: int = 1) -> int | None:
    """Peak resident memory, in bytes, of ``mnistlab train`` run in a fresh process.

    Parameters
    ----------
    data_dir : path, optional
    epochs : int, default 1
        The peak is reached in the first epoch; more only take longer.

    Returns
    -------
    int or None
        The process's peak resident set size; None if it could not be
        measured (no ``resource`` module, e.g. on Windows) or training failed.
    """
    argv = ["train", "--epochs", str(epochs), "--no-progress"] + (["--dir", str(data_dir)] if data_dir else [])
    result = subprocess.run([sys.executable, "-c", _PEAK_MEMORY_CHILD, *argv], capture_output=True, text=True)
    peaks = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("PEAK_BYTES ")]
    if result.returncode != 0 or not peaks or not peaks[-1].isdigit():
        return None
    return int(peaks[-1])


def _verdict(ok: bool) -> str:
    return "meets the goal" if ok else "MISSES the goal"


def _figures(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:.3f}" for t in times) + "]"


def run(repeats: int = 5, data_dir=None, threads: int | None = None, memory: bool = True,
        print=print) -> dict:
    """Run the benchmark and print its figures; return them as a dict.

    Parameters
    ----------
    repeats : int, default 5
        Interleaved rounds after one warm-up round; each round times one NumPy
        epoch with the fused step and one with the textbook step, one PyTorch
        epoch, the epoch's products alone and one 2048^3 product. Every figure
        is the median over the rounds.
    data_dir : path, optional
    threads : int, optional
        BLAS threads for NumPy (set through ``threadpoolctl`` for the run) and
        threads for PyTorch. Default: what NumPy's BLAS uses already (normally
        all cores).
    memory : bool, default True
        Also measure the peak memory of ``mnistlab train`` (one epoch, in a
        fresh process).
    print : callable
        Where the lines go.

    Returns
    -------
    dict
        ``blas`` (list of dict), ``load_s``, ``numpy_epoch_s``,
        ``textbook_epoch_s``, ``torch_epoch_s`` (or None), ``shape_bound_s``, ``floor_s``,
        ``floor_sgd_s``, ``floor_copies_s``, ``gflops``, ``bound_s``,
        ``train_peak_bytes`` (or None).
    """
    from contextlib import nullcontext

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threads is not None and threadpool_limits is None:
        print("threadpoolctl is not installed: --threads applies to PyTorch only")
    limits = threadpool_limits(limits=threads, user_api="blas") if threads and threadpool_limits else nullcontext()
    with limits:
        return _run(repeats, data_dir, threads, memory, print)


def _run(repeats, data_dir, threads, memory, print) -> dict:
    from mnistlab.data import load_mnist
    from mnistlab.fetch import fetch_mnist
    from mnistlab.model import MLP

    blas = numpy_blas_info()  # before PyTorch is imported, which may load a BLAS of its own
    for line in format_blas_info(blas) + kernel_warnings():
        print(line)
    if threads is None:
        threads = max([info.get("num_threads") or 0 for info in blas], default=0) or os.cpu_count() or 1

    fetch_mnist(data_dir, progress=False, log=lambda msg: None)
    load_times = [_timed(lambda: load_mnist(data_dir=data_dir)) for _ in range(3)]
    load_s = statistics.median(load_times)
    print(f"load cached MNIST (median of 3): {load_s:.3f} s "
          f"(goal < {GOAL_LOAD_SECONDS} s: {_verdict(load_s < GOAL_LOAD_SECONDS)})")

    (x, y), _ = load_mnist(data_dir=data_dir)
    model = MLP(LAYER_SIZES, dtype=np.float32, rng=0)
    textbook_model = MLP(LAYER_SIZES, dtype=np.float32, rng=0)
    init = {k: v.copy() for k, v in model.params.items()}

    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not importable: the comparison is skipped (see the README's benchmark section)")
    torch_epoch = _torch_epoch_runner(torch, init, x, y, threads) if torch is not None else None
    products_alone = shape_matched_runner(LAYER_SIZES, len(x), BATCH_SIZE, np.float32, rng=2)
    floors = {f"floor {update}": floor_runner(x, LAYER_SIZES, BATCH_SIZE, rng=3, update=update)
              for update in FLOOR_UPDATES}
    rng = np.random.default_rng(1)
    square = 2048
    flops_square = 2.0 * square**3
    a = rng.standard_normal((square, square), dtype=np.float32)
    b = rng.standard_normal((square, square), dtype=np.float32)

    times = {"numpy": [], "textbook": [], "torch": [], "shape": [], "square": [], **{key: [] for key in floors}}
    for round_ in range(repeats + 1):  # round 0 warms up (threads started, pages touched) and is not kept
        figures = {"numpy": _numpy_epoch(model, x, y, rng),
                   "textbook": _numpy_epoch(textbook_model, x, y, rng, fused=False),
                   "shape": products_alone(), "square": _timed(lambda: a @ b),
                   **{key: floor() for key, floor in floors.items()}}
        if torch_epoch:
            time.sleep(SETTLE_SECONDS)  # NumPy's BLAS threads stop spinning before PyTorch's epoch...
            figures["torch"] = torch_epoch(rng)
            time.sleep(SETTLE_SECONDS)  # ...and PyTorch's OpenMP threads before the next NumPy epoch
        if round_:
            for key, value in figures.items():
                times[key].append(value)

    numpy_s = statistics.median(times["numpy"])
    textbook_s = statistics.median(times["textbook"])
    print(f"epoch of 784-256-10 float32, batch {BATCH_SIZE}, NumPy, fused step (median of {repeats}): "
          f"{numpy_s:.3f} s {_figures(times['numpy'])}")
    print(f"the same with the textbook step, model.loss then sgd_momentum_in_place (median of {repeats}): "
          f"{textbook_s:.3f} s {_figures(times['textbook'])} = {textbook_s / numpy_s:.2f}x the fused step")
    torch_s = None
    if times["torch"]:
        torch_s = statistics.median(times["torch"])
        ratio = torch_s / numpy_s
        print(f"same model in PyTorch {torch.__version__} CPU, {threads} threads (median of {repeats}): "
              f"{torch_s:.3f} s {_figures(times['torch'])}")
        print(f"speed relative to PyTorch: {ratio:.2f}x (PyTorch time / NumPy time; goal >= "
              f"{GOAL_TORCH_SPEED_RATIO}x: {_verdict(ratio >= GOAL_TORCH_SPEED_RATIO)})")

    shapes = epoch_matmul_shapes(LAYER_SIZES, len(x), BATCH_SIZE)
    count = sum(c for *_, c in shapes)
    flops = epoch_matmul_flops(LAYER_SIZES, len(x))
    shape_s = statistics.median(times["shape"])
    print(f"shape-matched bound: the epoch's {count} float32 matrix products alone, back to back "
          f"(median of {repeats}): {shape_s:.3f} s {_figures(times['shape'])} = {flops / shape_s / 1e9:.1f} GFLOP/s")
    floor_s, floor_sgd_s, floor_copies_s = (statistics.median(times[f"floor {update}"])
                                            for update in ("momentum", "sgd", "none"))
    print(f"floor: the same products with each mini-batch copied out of the shuffled training set and every "
          f"weight's momentum update (v *= momentum; v += step; w += v), nothing else (median of {repeats}): "
          f"{floor_s:.3f} s {_figures(times['floor momentum'])} = {floor_s / shape_s:.2f}x the shape-matched bound "
          f"(what any NumPy loop of this model pays before its biases, activations and loss)")
    print(f"  where the floor's time goes: the products and mini-batch copies alone {floor_copies_s:.3f} s "
          f"= {floor_copies_s / shape_s:.2f}x; with the plain SGD step instead (w += step, the one pass over "
          f"each weight any NumPy loop makes) {floor_sgd_s:.3f} s = {floor_sgd_s / shape_s:.2f}x")
    gflops = flops_square / statistics.median(times["square"]) / 1e9
    bound_s = flops / (gflops * 1e9)
    print(f"BLAS float32 matmul {square}^3 (median of {repeats}): {gflops:.1f} GFLOP/s, {threads} threads; "
          f"bound for one epoch: {flops / 1e9:.1f} GFLOP / {gflops:.1f} GFLOP/s = {bound_s:.3f} s")
    shape_factor = numpy_s / shape_s
    factor = numpy_s / bound_s
    print(f"NumPy epoch / shape-matched bound: {shape_factor:.2f}x (goal <= {GOAL_SHAPE_BOUND_FACTOR}x: "
          f"{_verdict(shape_factor <= GOAL_SHAPE_BOUND_FACTOR)}; the textbook step: {textbook_s / shape_s:.2f}x; "
          f"the floor: {floor_s / shape_s:.2f}x)")
    print(f"NumPy epoch / {square}^3 bound: {factor:.2f}x (goal <= {GOAL_BOUND_FACTOR}x: "
          f"{_verdict(factor <= GOAL_BOUND_FACTOR)})")

    peak = train_peak_memory(data_dir) if memory else None
    if memory:
        train_bytes = x.nbytes
        print(f"peak memory of `mnistlab train --epochs 1`: "
              + (f"{peak / 1e6:.0f} MB" if peak else "not measured (no rusage on this system, or it failed)")
              + f" (the float32 training set is {train_bytes / 1e6:.0f} MB)")
    return {"blas": blas, "load_s": load_s, "numpy_epoch_s": numpy_s, "textbook_epoch_s": textbook_s,
            "torch_epoch_s": torch_s, "shape_bound_s": shape_s, "floor_s": floor_s,
            "floor_sgd_s": floor_sgd_s, "floor_copies_s": floor_copies_s, "gflops": gflops, "bound_s": bound_s,
            "train_peak_bytes": peak}
