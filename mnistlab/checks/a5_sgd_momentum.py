"""Checks of assignment ``a5_sgd_momentum`` (chapter 5, SGD and momentum)."""

from __future__ import annotations

import copy
import time
import types
from typing import Callable

import numpy as np

from mnistlab import data as _data
from mnistlab.checks.references import NUMPY as _np, REFERENCE as _ref
from mnistlab.checks.messages import GradingFailure, labeled, describe, arrays_close, quiet_numpy, student_frames, shorten
from mnistlab.checks.runner import Check, random_shape, random_signed, seeded_rng


#: The graded functions of this assignment, in notebook order: one autograder cell each.
GRADED = ('sgd', 'sgd_momentum', 'training_run')
#: The teaching-library modules that define the reference of each graded function (the chapter map).
REFERENCE_MODULES = ("mnistlab.optim",)

#: The bounded training run of ``a5_sgd_momentum``: a 784-100-10 ``TwoLayerNet``
#: in float32, trained with the student's ``sgd_momentum`` for ``epochs`` passes
#: over the 60,000 training images, must classify at least ``accuracy_bar`` of
#: the 10,000 test images correctly. The reference reaches 96.9-97.2% (seeds
#: 0-3) in about 2 s on an idle 2-core machine; plain SGD at the same learning
#: rate reaches 94.4%.
TRAINING_RUN = types.MappingProxyType(
    {"hidden_dim": 100, "epochs": 3, "batch_size": 128, "seed": 0, "accuracy_bar": 0.96}
)


_CONFIG_HINTS = (
    ("'NoneType' object", "config may be None: begin with `if config is None: config = {}`"),
    ("KeyError", "a hyperparameter is missing from config: give each its default with "
                 "config.setdefault('learning_rate', 1e-2) (and 'momentum', 0.9)"),
)


def _expect_update(c: Check, got, w, want_w, *, bugs=(), hint=None):
    next_w, config = c.expect_tuple(got, 2, "(next_w, config)")
    c.expect_array(next_w, want_w, what="next_w", bugs=bugs, hint=hint)
    if not isinstance(config, dict):
        raise c.problem(f"config should be a dict, got {describe(config)}.",
                        hint="return the (updated) config dict: the training loop passes it to the next step")
    return next_w, config


def check_sgd(sgd: Callable, hidden: bool = False) -> None:
    """Check ``sgd(w, dw, config=None) -> (next_w, config)`` (assignment a5_sgd_momentum)."""
    c = Check("sgd", sgd, hidden, ("w", "dw", "config"), error_hints=_CONFIG_HINTS)

    def bugs(w, dw, lr):
        return [
            ("the step goes uphill: gradient DEScent subtracts, next_w = w - learning_rate * dw",
             lambda: w + lr * dw),
            ("the learning rate is missing: next_w = w - learning_rate * dw", lambda: w - dw),
            ("the learning rate is not the one in config: read config['learning_rate'] (default 1e-2 when "
             "it is missing)", lambda: w - 1e-2 * dw),
        ]

    if not hidden:
        with c.test("one step with learning_rate 0.1"):
            w = _np.array([1.0, 2.0, 3.0])
            dw = _np.array([0.5, -1.0, 2.0])
            got = c.call(w, dw, {"learning_rate": 0.1})
            _expect_update(c, got, w, w - 0.1 * dw, bugs=bugs(w, dw, 0.1))
        with c.test("config=None uses learning_rate 1e-2"):
            w = _np.array([[1.0, -1.0], [0.0, 2.0]])
            dw = _np.array([[10.0, 0.0], [-5.0, 1.0]])
            got = c.call(w, dw, None)
            _expect_update(c, got, w, w - 1e-2 * dw, bugs=bugs(w, dw, 1e-2),
                           hint="when config is None, start from {} and setdefault('learning_rate', 1e-2)")
    elif c.fixed_hidden_cases:
        gen = seeded_rng(161)
        with c.test("w and dw are not modified"):
            w, dw = gen.standard_normal((3, 4)), gen.standard_normal((3, 4))
            got = c.call(w, dw, {"learning_rate": 0.05}, unmodified=("w", "dw"))
            _expect_update(c, got, w, w - 0.05 * dw)
        with c.test("float32 weights stay float32"):
            w, dw = gen.standard_normal(5).astype(_np.float32), gen.standard_normal(5).astype(_np.float32)
            want = _ref.sgd(w, dw, {"learning_rate": 0.5})[0]
            next_w, _ = _expect_update(c, c.call(w, dw, {"learning_rate": 0.5}), w, want)
            c.expect_array(next_w, want, what="next_w", dtype=True)
        with c.test("the returned config holds the learning rate"):
            w, dw = gen.standard_normal(3), gen.standard_normal(3)
            _, config = _expect_update(c, c.call(w, dw, None), w, w - 1e-2 * dw)
            if config.get("learning_rate") != 1e-2:
                raise c.problem(f"the returned config is {describe(config)}; expected 'learning_rate': 0.01 in it.",
                                hint="config.setdefault('learning_rate', 1e-2) records the default in config")
    if hidden:
        for title, rng in c.random_cases("a learning rate from config, then config=None; w and dw not modified"):
            with c.test(title, random=True):
                shape, lr = random_shape(rng), float(rng.uniform(0.02, 1.0))
                w, dw = random_signed(rng, shape), random_signed(rng, shape)
                got = c.call(w, dw, {"learning_rate": lr}, unmodified=("w", "dw"))
                _expect_update(c, got, w, w - lr * dw, bugs=bugs(w, dw, lr))
                w, dw = random_signed(rng, shape), random_signed(rng, shape)
                got = c.call(w, dw, None, unmodified=("w", "dw"))
                _expect_update(c, got, w, w - 1e-2 * dw, bugs=bugs(w, dw, 1e-2),
                               hint="when config is None, start from {} and setdefault('learning_rate', 1e-2)")
    c.done()


def _momentum_bugs(w, dw, v, lr, mu):
    return [
        ("the momentum step goes uphill: v = momentum * v - learning_rate * dw, then next_w = w + v",
         lambda: w - (mu * v - lr * dw)),
        ("the gradient term has the wrong sign: v = momentum * v - learning_rate * dw",
         lambda: w + (mu * v + lr * dw)),
        ("the velocity from config was not used: read it with config.get('velocity') (zeros the first "
         "time) and store the new one in config['velocity']", lambda: w - lr * dw),
        ("the learning rate multiplies the old velocity too: v = momentum * v - learning_rate * dw, where "
         "v already carries its learning rate", lambda: w + lr * (mu * v - dw)),
    ]


def check_sgd_momentum(sgd_momentum: Callable, hidden: bool = False) -> None:
    """Check ``sgd_momentum(w, dw, config=None) -> (next_w, config)`` (assignment a5_sgd_momentum)."""
    c = Check("sgd_momentum", sgd_momentum, hidden, ("w", "dw", "config"), error_hints=_CONFIG_HINTS)

    def step(w, dw, config, **kw):
        lr = (config or {}).get("learning_rate", 1e-2)
        mu = (config or {}).get("momentum", 0.9)
        v = (config or {}).get("velocity")
        v = _np.zeros_like(w) if v is None else v
        want_w, want_config = _ref.sgd_momentum(w, dw, copy.deepcopy(config))
        got = c.call(w, dw, config, **kw)
        next_w, new_config = _expect_update(
            c, got, w, want_w, bugs=_momentum_bugs(w, dw, v, lr, mu),
            hint="next_w = w + v, where v = momentum * config['velocity'] - learning_rate * dw (velocity zeros "
                 "the first time), and config['velocity'] = v for the next step",
        )
        velocity = new_config.get("velocity")
        if not isinstance(velocity, _np.ndarray) or not arrays_close(velocity, want_config["velocity"]):
            raise c.problem(
                "config['velocity'] after the step is wrong.",
                labeled("expected", describe(want_config["velocity"])),
                labeled("got", describe(velocity)),
                hint="store the new velocity, v = momentum * v - learning_rate * dw, in config['velocity'] "
                     "(the next step continues from it)",
            )
        return next_w, new_config

    if not hidden:
        with c.test("the first step starts from zero velocity"):
            w = _np.array([1.0, 2.0, 3.0])
            dw = _np.array([0.5, -1.0, 2.0])
            step(w, dw, {"learning_rate": 0.1, "momentum": 0.9})
        with c.test("three steps with the same config"):
            gen = seeded_rng(171)
            w = gen.standard_normal((2, 3))
            config = {"learning_rate": 0.1, "momentum": 0.9}
            for _ in range(3):
                w, config = step(w, gen.standard_normal((2, 3)), config)
    elif c.fixed_hidden_cases:
        gen = seeded_rng(172)
        with c.test("it continues from the velocity in config"):
            w, dw, v0 = gen.standard_normal(4), gen.standard_normal(4), gen.standard_normal(4)
            step(w, dw, {"learning_rate": 0.05, "momentum": 0.5, "velocity": v0})
        with c.test("config=None: learning_rate 1e-2, momentum 0.9"):
            w, dw = gen.standard_normal(3), gen.standard_normal(3)
            w1, config = step(w, dw, None)
            step(w1, gen.standard_normal(3), config)
        with c.test("each parameter keeps its own velocity"):
            ws = {"W": gen.standard_normal((3, 2)), "b": gen.standard_normal(2)}
            configs = {k: {"learning_rate": 0.1, "momentum": 0.8} for k in ws}
            for _ in range(3):
                for k in ws:
                    ws[k], configs[k] = step(ws[k], gen.standard_normal(ws[k].shape), configs[k])
        with c.test("w and dw are not modified"):
            w, dw = gen.standard_normal(5), gen.standard_normal(5)
            config = {"learning_rate": 0.1, "momentum": 0.9, "velocity": gen.standard_normal(5)}
            step(w, dw, config, unmodified=("w", "dw"))
        with c.test("float32 weights stay float32"):
            w, dw = gen.standard_normal(4).astype(_np.float32), gen.standard_normal(4).astype(_np.float32)
            config = {"learning_rate": 0.1, "momentum": 0.9}
            next_w, config = step(w, dw, config)
            c.expect_array(next_w, _ref.sgd_momentum(w, dw, {"learning_rate": 0.1, "momentum": 0.9})[0],
                           what="next_w", dtype=True,
                           hint="np.zeros(w.shape) is float64: start the velocity with np.zeros_like(w)")
    if hidden:
        for title, rng in c.random_cases("two parameters, steps taken in turn: float32 weights without a momentum "
                                         "in config, float64 ones with a velocity"):
            with c.test(title, random=True):
                lr, mu = float(rng.uniform(0.01, 0.5)), float(rng.uniform(0.3, 0.95))
                ws = {"W": random_signed(rng, random_shape(rng, ndim=2, low=2)).astype(_np.float32),
                      "b": random_signed(rng, random_shape(rng, ndim=1, low=2))}
                configs = {"W": {"learning_rate": lr},
                           "b": {"learning_rate": lr, "momentum": mu, "velocity": random_signed(rng, ws["b"].shape)}}
                for _ in range(2):
                    for k in ws:
                        dw = random_signed(rng, ws[k].shape).astype(ws[k].dtype)
                        next_w, configs[k] = step(ws[k], dw, configs[k], unmodified=("w", "dw"))
                        # step() checked the values; this checks that w's dtype is kept
                        c.expect_array(next_w, next_w.astype(ws[k].dtype), what="next_w", dtype=True,
                                       hint="np.zeros(w.shape) is float64: start the velocity with np.zeros_like(w)")
                        ws[k] = next_w
    c.done()


class TrainingResult(types.SimpleNamespace):
    """What :func:`check_training_run` measured: ``history``, ``test_accuracy``, ``seconds``, ``model``."""


def check_training_run(
    sgd_momentum: Callable,
    *,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    data_dir=None,
) -> TrainingResult:
    """Train a 784-100-10 ``TwoLayerNet`` on MNIST with the student's ``sgd_momentum`` (assignment a5).

    The budget is fixed (:data:`TRAINING_RUN`: 3 epochs, batch 128, float32,
    seed 0); the student chooses ``learning_rate`` and ``momentum``. The run
    must reach ``TRAINING_RUN["accuracy_bar"]`` accuracy on the 10,000 test
    images. Prints one line per epoch and returns a :class:`TrainingResult`.
    """
    from mnistlab.train import train  # imports tqdm lazily; not needed by the other checks

    name = "training run"
    run = TRAINING_RUN
    bar = run["accuracy_bar"]
    if not callable(sgd_momentum):
        raise GradingFailure(f"{name}: expected your sgd_momentum function, got {describe(sgd_momentum)}.")
    for label, value, ok in (
        ("learning_rate", learning_rate, lambda v: 0 < v <= 1),
        ("momentum", momentum, lambda v: 0 <= v < 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(float(value)):
            raise GradingFailure(
                f"{name}: {label} = {value!r} is out of range.\n"
                + labeled("hint", "use 0 < learning_rate <= 1 and 0 <= momentum < 1 (0.1 and 0.9 work well)")
            )

    calls = {"n": 0}

    def rule(w, dw, config):
        calls["n"] += 1
        try:
            out = sgd_momentum(w, dw, config)
        except Exception as exc:
            frames = student_frames(exc)
            text = shorten(exc)
            raise GradingFailure(
                f"{name}: your sgd_momentum raised {type(exc).__name__} during training"
                + (f": {text}" if text else ".") + "\n"
                + (labeled("where", "\n".join(frames)) + "\n" if frames else "")
                + labeled("hint", "make the sgd_momentum tests above pass first")
            ) from None
        if not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[0], _np.ndarray) \
                or out[0].shape != w.shape or not isinstance(out[1], dict):
            raise GradingFailure(
                f"{name}: sgd_momentum(w, dw, config) returned {describe(out)}; expected (next_w, config) "
                f"with next_w of w's shape {w.shape}.\n" + labeled("hint", "make the sgd_momentum tests pass first")
            )
        return out

    (x_train, y_train), (x_test, y_test) = _data.load_mnist(data_dir=data_dir)
    model = _ref.TwoLayerNet(784, run["hidden_dim"], 10, dtype=_np.float32, rng=run["seed"])
    print(f"{name}: TwoLayerNet 784-{run['hidden_dim']}-10 (float32), {run['epochs']} epochs of "
          f"{len(x_train)} images, batch {run['batch_size']}, learning_rate={learning_rate}, momentum={momentum}")
    start = time.perf_counter()
    caught: list[str] = []
    try:
        with quiet_numpy(caught):
            history = train(
                model,
                ((x_train, y_train), (x_test, y_test)),
                update_rule=rule,
                optim_config={"learning_rate": float(learning_rate), "momentum": float(momentum)},
                batch_size=run["batch_size"],
                epochs=run["epochs"],
                rng=run["seed"],
                progress=False,
                log=lambda line: print("  " + line.replace("val acc", "test acc")),
            )
    except FloatingPointError as exc:
        raise GradingFailure(
            f"{name}: training diverged: {shorten(exc)}\n"
            + labeled("hint", "if your sgd_momentum passes its tests, lower the learning rate; otherwise check the "
                             "sign of the update: next_w = w + v with v = momentum * v - learning_rate * dw")
        ) from None
    seconds = time.perf_counter() - start
    accuracy = history.val_acc[-1]
    result = TrainingResult(history=history, test_accuracy=accuracy, seconds=seconds, model=model)
    if accuracy < bar:
        raise GradingFailure(
            f"{name}: test accuracy {accuracy:.2%} after {run['epochs']} epochs is below the bar of {bar:.0%}.\n"
            + labeled("per epoch", ", ".join(f"{a:.2%}" for a in history.val_acc)) + "\n"
            + labeled("hint", "a correct sgd_momentum with learning_rate 0.1 and momentum 0.9 reaches about 97%. "
                             "If the accuracy barely moves, the velocity is probably not carried from step to step "
                             "(store it in config['velocity']) or the update goes uphill")
        )
    print(f"{name}: test accuracy {accuracy:.2%} (bar {bar:.0%}) in {seconds:.1f} s: passed")
    return result
