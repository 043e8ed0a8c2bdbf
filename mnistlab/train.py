"""The training loop: mini-batches, an update rule per parameter, a history.

Chapter 5 (SGD and momentum), ``book/05_sgd_momentum.md``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mnistlab import optim
from mnistlab._rng import as_generator
from mnistlab.data import iterate_minibatches
from mnistlab.fused import FusedStep, fused_step_unsupported

#: Training accuracy is measured on this many fixed training samples per epoch:
#: a forward pass over all 60,000 would add a third to each epoch's time.
TRAIN_ACC_SAMPLES = 10_000


@dataclass
class History:
    """What :func:`train` measured, one entry per epoch.

    Chapter 5: SGD and momentum.

    Attributes
    ----------
    loss : list of float
        Mean training loss over the epoch's mini-batches.
    train_acc : list of float
        Accuracy on a fixed subset of ``TRAIN_ACC_SAMPLES`` training samples.
    val_acc : list of float
        Accuracy on the whole validation set.
    epoch_time : list of float
        Wall seconds of the epoch's updates (not counting the evaluation).
    batch_loss : list of float
        The loss of every mini-batch, in order.
    step : str
        How every step was made: ``"fused"`` (:class:`mnistlab.fused.FusedStep`)
        or ``"textbook"`` with the reason, e.g. ``"textbook (the update rule is a function)"``.
    """

    loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)
    batch_loss: list = field(default_factory=list)
    step: str = ""

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.loss)

    def summary(self, epoch: int = -1) -> str:
        """One line describing an epoch (the last by default)."""
        n = epoch % self.epochs + 1
        return (
            f"epoch {n:2d}: loss {self.loss[epoch]:.4f}  train acc {self.train_acc[epoch]:.4f}  "
            f"val acc {self.val_acc[epoch]:.4f}  ({self.epoch_time[epoch]:.2f} s)"
        )


def subset_accuracy(model, x, y, rows, chunk: int = 2_000) -> float:
    """``model.accuracy(x[rows], y[rows])``, gathering ``chunk`` rows at a time.

    Chapter 5: SGD and momentum.

    The same number, without a copy of the whole subset (10,000 MNIST rows are
    31 MB in float32) next to the data set.

    Parameters
    ----------
    model : MLP-like
        Has ``accuracy(x, y)``.
    x : ndarray, shape (N, D)
    y : ndarray, shape (N,) or (N, C)
    rows : ndarray of int, shape (M,)
    chunk : int, default 2000

    Returns
    -------
    float in [0, 1]
    """
    correct = 0
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        correct += round(model.accuracy(x[part], y[part]) * len(part))  # accuracy x size = number right
    return correct / len(rows) if len(rows) else float("nan")


def resolve_update_rule(update_rule: str | Callable) -> Callable:
    """The update function for a rule's name, or the callable itself.

    Chapter 5: SGD and momentum.

    A name (a key of :data:`mnistlab.optim.UPDATE_RULES`) gives the rule's
    in-place form from :data:`mnistlab.optim.IN_PLACE_RULES`: the same result,
    bit for bit, without new parameter-sized arrays per step. A callable (e.g.
    a student's ``sgd_momentum``) is returned as it is. (This is the rule of the
    textbook step; :class:`mnistlab.fused.FusedStep` makes its own update.)
    """
    if callable(update_rule):
        return update_rule
    try:
        return optim.IN_PLACE_RULES[update_rule]
    except KeyError:
        raise ValueError(
            f"unknown update_rule {update_rule!r}; use one of {sorted(optim.UPDATE_RULES)} or a function"
        ) from None


def textbook_step(model, rule: Callable, configs: dict) -> Callable:
    """The training step as chapters 4 and 5 write it: ``model.loss``, then ``rule`` per parameter.

    Chapter 5: SGD and momentum.

    Parameters
    ----------
    model : MLP-like
        Has ``params`` and ``loss(x, y) -> (loss, grads)``.
    rule : callable
        ``rule(w, dw, config) -> (next_w, config)``.
    configs : dict of str -> dict
        One config per parameter name; each rule call replaces its entry.

    Returns
    -------
    callable
        ``step(x_batch, y_batch) -> float``: updates ``model.params``, returns
        the mini-batch loss (before the update).
    """
    def step(x_batch, y_batch):
        loss, grads = model.loss(x_batch, y_batch)
        for name, w in model.params.items():
            model.params[name], configs[name] = rule(w, grads[name], configs[name])
        return loss

    return step


def train(
    model,
    data,
    *,
    update_rule: str | Callable = "sgd_momentum",
    optim_config: dict | None = None,
    batch_size: int = 128,
    epochs: int = 10,
    lr_decay: float = 1.0,
    rng: np.random.Generator | int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    fused: bool = True,
) -> History:
    """Train ``model`` with mini-batch gradient descent; return its :class:`History`.

    Chapter 5: SGD and momentum.

    Parameters
    ----------
    model : MLP-like
        Has ``params`` (dict of arrays), ``loss(x, y) -> (loss, grads)`` and
        ``accuracy(x, y)``. Updated in place (with a rule given by name, so
        are the parameter arrays themselves).
    data : tuple
        ``((x_train, y_train), (x_val, y_val))`` as :func:`mnistlab.data.load_mnist`
        returns it; ``x`` of shape (N, D), ``y`` of shape (N,) or (N, C).
    update_rule : str or callable, default "sgd_momentum"
        A name in :data:`mnistlab.optim.UPDATE_RULES` (trained with the rule's
        in-place form, see :func:`resolve_update_rule`), or any function with the
        contract ``rule(w, dw, config) -> (next_w, config)`` (e.g. a student's).
    optim_config : dict, optional
        Hyperparameters for the rule (e.g. ``learning_rate``, ``momentum``);
        every parameter gets its own copy, which then carries its state.
    batch_size : int, default 128
    epochs : int, default 10
    lr_decay : float, default 1.0
        ``learning_rate`` is multiplied by this after every epoch.
    rng : np.random.Generator, int or None
        Shuffles the mini-batches and picks the training-accuracy subset.
    progress : bool, default True
        Show a progress bar (terminal or notebook) and a line per epoch.
    log : callable, optional
        Called with each epoch's summary line (e.g. ``print``).
    fused : bool, default True
        Make each step with :class:`mnistlab.fused.FusedStep` where it supports
        the model, the rule and the data (a ReLU MLP with the softmax
        cross-entropy, "sgd" or "sgd_momentum" by name): the same training up
        to rounding, in less time. False: always ``model.loss`` and the rule.

    Returns
    -------
    History
    """
    (x_train, y_train), (x_val, y_val) = data
    if len(x_train) != len(y_train) or len(x_val) != len(y_val):
        raise ValueError(
            f"images and labels differ in length: train {len(x_train)} vs {len(y_train)}, "
            f"validation {len(x_val)} vs {len(y_val)}"
        )
    rule = resolve_update_rule(update_rule)
    gen = as_generator(rng)
    history = History()
    reason = fused_step_unsupported(model, update_rule, x_train, y_train) if fused else "fused=False"
    if reason is None:
        history.step = "fused"
        configs = {"every parameter": copy.deepcopy(optim_config or {})}
        step = FusedStep(model, update_rule, configs["every parameter"], batch_size)
        step.check_labels(y_train)
    else:
        history.step = f"textbook ({reason})"
        configs = {name: copy.deepcopy(optim_config or {}) for name in model.params}
        step = textbook_step(model, rule, configs)
    subset = gen.choice(len(x_train), size=min(TRAIN_ACC_SAMPLES, len(x_train)), replace=False)
    steps_per_epoch = -(-len(x_train) // batch_size)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * steps_per_epoch, unit="batch", desc="training")
    try:
        for epoch in range(epochs):
            start = time.perf_counter()
            losses = []
            for x_batch, y_batch in iterate_minibatches(x_train, y_train, batch_size, shuffle=True, rng=gen):
                loss = step(x_batch, y_batch)
                if not math.isfinite(loss):
                    raise FloatingPointError(
                        f"the loss became {loss} in epoch {epoch + 1}: the learning rate is probably "
                        "too high for this model; lower it (e.g. by 10x)"
                    )
                losses.append(loss)
                if bar is not None:
                    bar.update()
                    if len(losses) % 50 == 0:
                        bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}", refresh=False)
            history.epoch_time.append(time.perf_counter() - start)
            history.batch_loss.extend(losses)
            history.loss.append(float(np.mean(losses)))
            history.train_acc.append(subset_accuracy(model, x_train, y_train, subset))
            history.val_acc.append(model.accuracy(x_val, y_val))
            for config in configs.values():
                if "learning_rate" in config:
                    config["learning_rate"] *= lr_decay
            if bar is not None:
                bar.write(history.summary())
            if log is not None:
                log(history.summary())
    finally:
        if bar is not None:
            bar.close()
    return history
