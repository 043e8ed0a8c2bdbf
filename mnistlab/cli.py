"""The ``mnistlab`` command line: data, training, benchmark, grading.

Run ``mnistlab --help`` for the commands and ``mnistlab COMMAND --help`` for
their options.
"""

from __future__ import annotations

import argparse
import sys
import time

#: The defaults of ``mnistlab train``; the 98% goal of the README is for these.
TRAIN_DEFAULTS = dict(
    hidden=[256],
    activation="relu",
    optimizer="sgd_momentum",
    lr=0.1,
    momentum=0.9,
    batch_size=128,
    epochs=10,
    seed=0,
    dtype="float32",
    val_size=5000,
)


def _add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="fetch MNIST or show where it is")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download and verify the four MNIST files (cached)")
    info = data_sub.add_parser("info", help="where the data is, sizes, checksum status, label counts")
    for p in (fetch, info):
        p.add_argument("--dir", default=None, help="data folder (default: $MNISTLAB_DATA, else the user cache)")
    fetch.add_argument("--no-progress", action="store_true", help="no download progress bar")


def _add_train_command(sub) -> None:
    d = TRAIN_DEFAULTS
    p = sub.add_parser("train", help="train an MLP on MNIST and report test accuracy")
    p.add_argument("--hidden", type=int, nargs="*", default=d["hidden"],
                   help="hidden layer sizes, e.g. --hidden 512 256 (default: 256)")
    p.add_argument("--activation", choices=["relu", "sigmoid"], default=d["activation"])
    p.add_argument("--optimizer", default=d["optimizer"],
                   choices=["sgd", "sgd_momentum", "sgd_momentum_pytorch", "nesterov_momentum"])
    p.add_argument("--lr", type=float, default=d["lr"], help="learning rate (default: 0.1)")
    p.add_argument("--momentum", type=float, default=d["momentum"], help="(default: 0.9)")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help="(default: 128)")
    p.add_argument("--epochs", type=int, default=d["epochs"], help="(default: 10)")
    p.add_argument("--seed", type=int, default=d["seed"], help="initial weights, shuffling, split (default: 0)")
    p.add_argument("--dtype", choices=["float32", "float64"], default=d["dtype"])
    p.add_argument("--val-size", type=int, default=d["val_size"],
                   help="training images held out for validation (default: 5000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dir", default=None, help="data folder")


def _add_bench_command(sub) -> None:
    p = sub.add_parser("bench", help="time data loading and training against PyTorch and the matmul bound")
    p.add_argument("--repeats", type=int, default=5, help="timed epochs per framework (default: 5)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/PyTorch threads for both frameworks (default: all cores); 1 is the "
                        "steadiest on a busy machine")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the peak-memory measurement of `mnistlab train` (one epoch in a new process)")
    p.add_argument("--dir", default=None, help="data folder")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mnistlab`` command."""
    parser = argparse.ArgumentParser(
        prog="mnistlab",
        description="mnistlab: a handwritten-digit classifier from scratch in NumPy.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    _add_train_command(sub)
    _add_bench_command(sub)
    try:
        from mnistlab.grader import commands as grading_commands
    except ImportError:  # the instructor's commands need nbgrader
        pass
    else:
        grading_commands.add_commands(sub)
    return parser


def cmd_data(args) -> int:
    from mnistlab import fetch

    if args.data_command == "fetch":
        start = time.perf_counter()
        folder = fetch.fetch_mnist(args.dir, progress=not args.no_progress)
        print(f"MNIST is ready in {folder} ({time.perf_counter() - start:.1f} s)")
    else:
        print(fetch.format_mnist_info(fetch.mnist_info(args.dir)))
    return 0


def cmd_train(args) -> int:
    import numpy as np

    from mnistlab import data
    from mnistlab.model import MLP
    from mnistlab.train import train

    start = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = data.load_mnist(dtype=np.dtype(args.dtype), data_dir=args.dir)
    print(f"loaded MNIST in {time.perf_counter() - start:.2f} s: {len(x_train)} training, {len(x_test)} test images")
    rng = np.random.default_rng(args.seed)
    # In place: the held-out rows move to the end, and both parts are views (no copy of the data set).
    (x_tr, y_tr), (x_val, y_val) = data.split_validation(x_train, y_train, args.val_size, rng=rng, copy=False)
    model = MLP([x_train.shape[1], *args.hidden, 10], args.activation, dtype=args.dtype, rng=rng)
    print(f"model {model}; {args.optimizer} lr={args.lr} momentum={args.momentum} "
          f"batch={args.batch_size} epochs={args.epochs} seed={args.seed}")
    config = {"learning_rate": args.lr}
    if args.optimizer != "sgd":
        config["momentum"] = args.momentum
    history = train(model, ((x_tr, y_tr), (x_val, y_val)), update_rule=args.optimizer, optim_config=config,
                    batch_size=args.batch_size, epochs=args.epochs, rng=rng, progress=not args.no_progress,
                    log=print if args.no_progress else None)
    test_acc = model.accuracy(x_test, y_test)
    total = sum(history.epoch_time)
    print(f"training time {total:.1f} s ({total / max(1, history.epochs):.2f} s per epoch)")
    print(f"final test accuracy: {test_acc:.4f}")
    return 0


def cmd_bench(args) -> int:
    from mnistlab import bench

    # The BLAS threads are set through threadpoolctl inside the run: no new process needed.
    bench.run(repeats=args.repeats, data_dir=args.dir, threads=args.threads, memory=not args.no_memory)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mnistlab`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"data": cmd_data, "train": cmd_train, "bench": cmd_bench}
    handler = handlers.get(args.command) or getattr(args, "handler", None)
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for expected failures, not a traceback
        from mnistlab.data import IDXFormatError
        from mnistlab.fetch import MNISTFetchError

        if isinstance(exc, (IDXFormatError, MNISTFetchError, FloatingPointError, ValueError)):
            print(f"mnistlab {args.command}: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
