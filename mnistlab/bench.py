"""``mnistlab bench``: how fast is the NumPy reference, measured in one run.

Prints, from a single process so that the ratios compare like with like:

1. the time to load the cached MNIST files;
2. the epoch time of the default model (784-256-10, ReLU, float32, SGD with
   momentum, batch 128) trained by :func:`mnistlab.train.train`;
3. the same model in PyTorch on the CPU, when ``torch`` is importable, with the
   same threads, initial weights and mini-batches, epochs interleaved with
   NumPy's, median of ``repeats``;
4. the float32 matmul lower bound: the epoch's matmul FLOPs over the GFLOP/s
   this machine's BLAS reaches on a large matrix product.

Speed goals are checked here, never in timed unit tests (the machine is shared
and noisy): cached load < 0.2 s, an epoch no slower than 0.8x PyTorch's, and
within 2x of the matmul bound.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

LAYER_SIZES = (784, 256, 10)
BATCH_SIZE = 128
OPTIM_CONFIG = {"learning_rate": 0.1, "momentum": 0.9}

GOAL_LOAD_SECONDS = 0.2
GOAL_TORCH_SPEED_RATIO = 0.8
GOAL_BOUND_FACTOR = 2.0


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


def _numpy_epoch(model, x, y, rng) -> float:
    from mnistlab.train import train

    history = train(model, ((x, y), (x[:1], y[:1])), update_rule="sgd_momentum",
                    optim_config=dict(OPTIM_CONFIG), batch_size=BATCH_SIZE, epochs=1,
                    rng=rng, progress=False)
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


def _verdict(ok: bool) -> str:
    return "meets the goal" if ok else "MISSES the goal"


def run(repeats: int = 5, data_dir=None, threads: int | None = None, print=print) -> dict:
    """Run the benchmark and print its figures; return them as a dict.

    Parameters
    ----------
    repeats : int, default 5
        Timed epochs per framework (interleaved), after one warm-up epoch each.
    data_dir : path, optional
    threads : int, optional
        Threads given to PyTorch; NumPy's BLAS threads are set by the caller
        before NumPy is imported (``mnistlab bench --threads``). Default: all cores.
    print : callable
        Where the lines go.

    Returns
    -------
    dict
        ``load_s``, ``numpy_epoch_s``, ``torch_epoch_s`` (or None),
        ``gflops``, ``bound_s``.
    """
    from mnistlab.data import load_mnist
    from mnistlab.fetch import fetch_mnist
    from mnistlab.model import MLP

    fetch_mnist(data_dir, progress=False, log=lambda msg: None)
    load_times = [_timed(lambda: load_mnist(data_dir=data_dir)) for _ in range(3)]
    load_s = statistics.median(load_times)
    print(f"load cached MNIST (median of 3): {load_s:.3f} s "
          f"(goal < {GOAL_LOAD_SECONDS} s: {_verdict(load_s < GOAL_LOAD_SECONDS)})")

    (x, y), _ = load_mnist(data_dir=data_dir)
    threads = threads or os.cpu_count() or 1
    model = MLP(LAYER_SIZES, dtype=np.float32, rng=0)
    init = {k: v.copy() for k, v in model.params.items()}

    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not importable: the comparison is skipped (see the README's benchmark section)")
    torch_epoch = _torch_epoch_runner(torch, init, x, y, threads) if torch is not None else None

    rng = np.random.default_rng(1)
    _numpy_epoch(model, x, y, rng)  # warm-up epochs, not timed
    if torch_epoch:
        torch_epoch(rng)
    numpy_times, torch_times = [], []
    for _ in range(repeats):
        numpy_times.append(_numpy_epoch(model, x, y, rng))
        if torch_epoch:
            torch_times.append(torch_epoch(rng))
    numpy_s = statistics.median(numpy_times)
    print(f"epoch of 784-256-10 float32, batch {BATCH_SIZE}, NumPy (median of {repeats}): {numpy_s:.3f} s "
          f"[{', '.join(f'{t:.3f}' for t in numpy_times)}]")
    torch_s = None
    if torch_times:
        torch_s = statistics.median(torch_times)
        ratio = torch_s / numpy_s
        print(f"same model in PyTorch {torch.__version__} CPU, {threads} threads (median of {repeats}): "
              f"{torch_s:.3f} s [{', '.join(f'{t:.3f}' for t in torch_times)}]")
        print(f"speed relative to PyTorch: {ratio:.2f}x (PyTorch time / NumPy time; goal >= "
              f"{GOAL_TORCH_SPEED_RATIO}x: {_verdict(ratio >= GOAL_TORCH_SPEED_RATIO)})")

    gflops = measure_gflops()
    flops = epoch_matmul_flops(LAYER_SIZES, len(x))
    bound_s = flops / (gflops * 1e9)
    print(f"BLAS float32 matmul: {gflops:.1f} GFLOP/s (2048^3, best of 5), {threads} threads")
    print(f"matmul lower bound for one epoch: {flops / 1e9:.1f} GFLOP / {gflops:.1f} GFLOP/s = {bound_s:.3f} s")
    factor = numpy_s / bound_s
    print(f"NumPy epoch / bound: {factor:.2f}x (goal <= {GOAL_BOUND_FACTOR}x: {_verdict(factor <= GOAL_BOUND_FACTOR)})")
    return {"load_s": load_s, "numpy_epoch_s": numpy_s, "torch_epoch_s": torch_s,
            "gflops": gflops, "bound_s": bound_s}
