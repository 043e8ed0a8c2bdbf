"""The training step written for speed: forward, backward and update in preallocated arrays.

Chapter 5 (SGD and momentum), ``book/05_sgd_momentum.md``.

The textbook step of :func:`mnistlab.train.train` is ``model.loss(x, y)``, which
returns a new dict of gradients, then one update rule call per parameter. Every
intermediate is a new array, and the gradients are kept whole until all of them
are known. :class:`FusedStep` makes the same step for the course's networks (ReLU
MLPs with the softmax cross-entropy, trained by ``"sgd"`` or ``"sgd_momentum"``)
with four changes, each measured by ``mnistlab bench``:

1. every activation and gradient has its array, allocated once and written with
   ``out=``;
2. the backward pass starts from ``-learning_rate * dL/dscores`` instead of
   ``dL/dscores``: backpropagation is linear in its starting gradient, so every
   "gradient" it returns is already the SGD step ``-learning_rate * dL/dW``, and
   momentum is ``v = momentum * v + step; w += v``, two passes over ``v`` and
   one over ``w``, without a temporary;
3. each layer is updated as soon as its backward pass is done (its weights are
   not needed any more), while its gradient is still in the cache;
4. velocities that are about to become *subnormal* (below the smallest normal
   float) are set to zero every :data:`FLUSH_EVERY` steps: a weight whose input
   pixel is almost always 0 gets no gradient, its velocity decays by ``momentum``
   per step, and a multiplication of a subnormal number is some 100 times slower
   than of a normal one on x86 CPUs.

The weights it computes are those of the textbook step up to rounding
(``tests/test_fused.py`` checks the two against each other).

Measured and not kept (no gain, or a loss): the momentum update inside the
weight-gradient product through BLAS's ``beta`` (``scipy.linalg.blas.sgemm``;
OpenBLAS scales ``v`` in a pass of its own, so it saved 13 us of a 1 ms step on
one thread, and SciPy's second OpenBLAS thread pool made two-thread epochs
several times slower); one flat array for all parameters (one update instead of
one per parameter); the update in blocks of rows that fit the cache; gathering
each mini-batch with ``np.take(..., out=)`` into a buffer; the whole epoch
gathered at once (slower, and a second copy of the data set); the next
mini-batch gathered by a background thread.
"""

from __future__ import annotations

import numpy as np

from mnistlab.functional import check_class_ids
from mnistlab.model import MLP

#: The rules (by name) that :class:`FusedStep` performs itself.
FUSED_RULES = ("sgd", "sgd_momentum")

#: Steps between two flushes of the velocities that are about to become subnormal.
FLUSH_EVERY = 50


def fused_step_unsupported(model, update_rule, x=None, y=None) -> str | None:
    """Why :class:`FusedStep` cannot train ``model`` with ``update_rule``, or None if it can.

    Chapter 5: SGD and momentum.

    Parameters
    ----------
    model : object
        Supported: a :class:`mnistlab.model.MLP` (or subclass that keeps its
        ``loss``) with ReLU hidden layers, the softmax cross-entropy and no L2
        term.
    update_rule : str or callable
        Supported: a name in :data:`FUSED_RULES`. A function (e.g. a student's)
        is always called as it is, by the textbook step.
    x, y : ndarray, optional
        The training data: ``x`` of the model's dtype, ``y`` class ids (not one-hot).

    Returns
    -------
    str or None
        A short reason, e.g. ``"the update rule is a function"``.
    """
    if not isinstance(update_rule, str) or update_rule not in FUSED_RULES:
        return "the update rule is a function" if callable(update_rule) else f"the rule {update_rule!r} is not fused"
    if not isinstance(model, MLP) or type(model).loss is not MLP.loss:
        return "the model is not an MLP with its own loss"
    if model.activation != "relu" or model.loss_name != "softmax_cross_entropy" or model.reg:
        return "the model is not a ReLU network with the softmax cross-entropy and no L2 term"
    if x is not None and np.asarray(x).dtype != model.dtype:
        return f"the images are {np.asarray(x).dtype}, the model {model.dtype}"
    if y is not None and np.asarray(y).ndim != 1:
        return "the labels are one-hot, not class ids"
    return None


class FusedStep:
    """One mini-batch step of an MLP and its update, into preallocated arrays.

    Chapter 5: SGD and momentum.

    The same step as ``model.loss(x, y)`` followed by ``sgd`` or ``sgd_momentum``
    on every parameter, up to rounding; see the module docstring for how it
    differs.

    Parameters
    ----------
    model : MLP
        As :func:`fused_step_unsupported` accepts; its parameter arrays are
        updated in place.
    update_rule : {"sgd", "sgd_momentum"}
    config : dict
        ``learning_rate`` and (momentum) ``momentum``, read at every step, so
        that a caller may change the learning rate between steps. Missing
        values get the rule's defaults (0.01, 0.9).
    batch_size : int
        The largest batch the step will be given.

    Attributes
    ----------
    velocity : dict of str -> ndarray
        For ``"sgd_momentum"``: one per parameter, shape of the parameter.
    """

    def __init__(self, model, update_rule: str, config: dict, batch_size: int):
        reason = fused_step_unsupported(model, update_rule)
        if reason:
            raise ValueError(f"FusedStep cannot train this model: {reason}; use mnistlab.train.train(..., fused=False)")
        config.setdefault("learning_rate", 1e-2)
        if update_rule == "sgd_momentum":
            config.setdefault("momentum", 0.9)
        self.config = config
        self.params = model.params
        self.num_layers = model.num_layers
        sizes, dtype = model.layer_sizes, model.dtype
        # out[i]: the output of layer i + 1 (after its ReLU), the scores for the last;
        # dout[i]: the gradient that arrives at out[i] (written over out[i] for the scores).
        # The scores are column-major: the max over a row's 10 scores then runs along memory.
        self.out = [np.empty((batch_size, size), dtype, order="F" if size == sizes[-1] else "C")
                    for size in sizes[1:]]
        self.dout = [np.empty((batch_size, size), dtype) for size in sizes[1:-1]]
        self.step = {name: np.empty_like(p) for name, p in self.params.items()}
        self.velocity = ({name: np.zeros_like(p) for name, p in self.params.items()}
                         if update_rule == "sgd_momentum" else {})
        self.ones = np.ones(batch_size, dtype)          # sum over the batch = ones @ dout: one BLAS call
        self.ones_classes = np.ones(sizes[-1], dtype)
        self.rows = np.arange(batch_size)
        self.steps_taken = 0

    def __call__(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Train on one mini-batch; return its mean loss (before the update).

        Parameters
        ----------
        x : ndarray, shape (B, D), the model's dtype
        labels : ndarray of int, shape (B,)
            Class ids, checked by the caller (see :meth:`check_labels`).

        Returns
        -------
        float
        """
        n, params, last = len(x), self.params, self.num_layers
        # Forward: out = x @ W + b, then ReLU except for the scores. ins[i - 1]: layer i's input.
        ins = [x.reshape(n, -1)]
        for i in range(1, last + 1):
            out = self.out[i - 1][:n]
            np.matmul(ins[-1], params[f"W{i}"], out=out)
            out += params[f"b{i}"]
            if i < last:
                np.maximum(out, 0, out=out)
                ins.append(out)
        scores = self.out[-1][:n]
        loss = self._softmax_cross_entropy(scores, labels, -self.config["learning_rate"])
        # Backward from dout = -learning_rate * dL/dscores: every gradient is a step.
        dout = scores
        for i in range(last, 0, -1):
            np.matmul(ins[i - 1].T, dout, out=self.step[f"W{i}"])  # x^T dout
            np.matmul(self.ones[:n], dout, out=self.step[f"b{i}"])  # sum over the batch
            if i > 1:
                dx = self.dout[i - 2][:n]
                np.matmul(dout, params[f"W{i}"].T, out=dx)          # dout W^T
                np.multiply(dx, ins[i - 1] > 0, out=dx)             # ReLU passes it where its output > 0
                dout = dx
            self._update(f"W{i}")                                   # W_i is not needed any more
            self._update(f"b{i}")
        self.steps_taken += 1
        if self.velocity and self.steps_taken % FLUSH_EVERY == 0:
            self.flush_subnormal_velocities()
        return loss

    def _softmax_cross_entropy(self, scores: np.ndarray, labels: np.ndarray, scale: float) -> float:
        """The mean loss; ``scores`` becomes ``scale * dL/dscores = scale * (softmax - onehot) / n``."""
        n = len(scores)
        rows = self.rows[:n]
        scores -= scores.max(axis=1, keepdims=True)       # stable: each row's largest score becomes 0
        correct = scores[rows, labels]                    # the correct class's score
        np.exp(scores, out=scores)
        totals = scores @ self.ones_classes               # sum of exp per row
        loss = (float(np.log(totals).sum()) - float(correct.sum())) / n
        scores *= (scale / n / totals)[:, None]           # scale * softmax / n
        scores[rows, labels] -= scale / n                 # scale * (softmax - onehot) / n
        return loss

    def _update(self, name: str) -> None:
        """``w += step`` (SGD) or ``v = momentum * v + step; w += v``, in place."""
        step = self.step[name]
        if self.velocity:
            v = self.velocity[name]
            v *= self.config["momentum"]
            v += step
            step = v
        self.params[name] += step

    def flush_subnormal_velocities(self) -> None:
        """Set to zero the velocities that would become subnormal before the next flush.

        An entry at most ``tiny / momentum ** FLUSH_EVERY`` (``tiny``: the smallest
        normal float) that gets no gradient is subnormal within ``FLUSH_EVERY``
        steps; nothing larger is. Such a velocity is some 30 orders of magnitude
        smaller than the weights it is added to, which it no longer changes.
        """
        momentum = self.config["momentum"]
        if momentum == 0:  # no decay: v is the last step
            return
        for v in self.velocity.values():
            tiny = float(np.finfo(v.dtype).tiny)
            # (capped at sqrt(tiny), 1e-19 in float32, for a small momentum)
            threshold = min(tiny / momentum ** FLUSH_EVERY, tiny ** 0.5)
            np.copyto(v, 0, where=np.abs(v) < threshold)

    def check_labels(self, labels: np.ndarray) -> None:
        """Raise ``ValueError`` unless ``labels`` are class ids the model can score (once per data set)."""
        check_class_ids(np.asarray(labels), len(labels), self.out[-1].shape[1])
