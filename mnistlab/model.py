"""Multi-layer perceptrons built from :mod:`mnistlab.layers`.

Chapter 4 (Backpropagation), ``book/04_backprop.md``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mnistlab import layers
from mnistlab._rng import as_generator
from mnistlab.data import one_hot

_ACTIVATIONS = {
    "relu": (layers.relu_forward, layers.relu_backward),
    "sigmoid": (layers.sigmoid_forward, layers.sigmoid_backward),
}
_OUTPUTS = {
    None: None,
    "identity": None,
    "sigmoid": (layers.sigmoid_forward, layers.sigmoid_backward),
    "softmax": (layers.softmax_forward, layers.softmax_backward),
}
LOSSES = ("softmax_cross_entropy", "mse")


def init_weight_std(weight_scale: str | float, fan_in: int) -> float:
    """Standard deviation of a layer's initial weights.

    Chapter 4: Backpropagation.

    Parameters
    ----------
    weight_scale : {"he", "xavier"} or float
        ``"he"``: ``sqrt(2 / fan_in)``, which keeps the variance of ReLU
        activations constant from layer to layer; ``"xavier"``:
        ``sqrt(1 / fan_in)``, the same for sigmoid/tanh; a float is used as is.
    fan_in : int
        Number of inputs of the layer.

    Returns
    -------
    float
    """
    if weight_scale == "he":
        return float(np.sqrt(2.0 / fan_in))
    if weight_scale == "xavier":
        return float(np.sqrt(1.0 / fan_in))
    if isinstance(weight_scale, (int, float)) and not isinstance(weight_scale, bool):
        return float(weight_scale)
    raise ValueError(f"weight_scale must be 'he', 'xavier' or a number, got {weight_scale!r}")


class MLP:
    """A fully connected network: (affine -> activation) x L-1, then affine.

    Chapter 4: Backpropagation.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[D, H_1, ..., H_{L-1}, C]``, e.g. ``[784, 256, 10]``.
    activation : {"relu", "sigmoid"}, default "relu"
        Hidden-layer nonlinearity.
    weight_scale : {"he", "xavier"} or float, default "he"
        See :func:`init_weight_std`. Biases start at zero.
    reg : float, default 0.0
        L2 regularization strength: adds ``0.5 * reg * sum(W**2)`` per weight.
    loss : {"softmax_cross_entropy", "mse"}, default "softmax_cross_entropy"
        With ``"mse"`` the labels are one-hot encoded and compared with the
        output (after ``output_activation``) by :func:`mnistlab.layers.mse_loss`.
    output_activation : {None, "sigmoid", "softmax"}, default None
        Applied to the last affine output before an ``"mse"`` loss (Nielsen's
        network uses ``"sigmoid"``). Must be None with softmax cross-entropy,
        which includes its own softmax.
    dtype : numpy dtype, default float64
        Of the parameters and the computation. float64 for gradient checks;
        training on MNIST uses float32, which is twice as fast.
    rng : np.random.Generator, int or None
        For the initial weights.

    Attributes
    ----------
    params : dict of str -> ndarray
        ``W1`` (D, H_1), ``b1`` (H_1,), ..., ``WL`` (H_{L-1}, C), ``bL`` (C,).
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        *,
        weight_scale: str | float = "he",
        reg: float = 0.0,
        loss: str = "softmax_cross_entropy",
        output_activation: str | None = None,
        dtype=np.float64,
        rng: np.random.Generator | int | None = None,
    ):
        sizes = [int(s) for s in layer_sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer_sizes needs at least an input and an output size >= 1, got {sizes}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if output_activation not in _OUTPUTS:
            raise ValueError(f"output_activation must be None, 'sigmoid' or 'softmax', got {output_activation!r}")
        if loss == "softmax_cross_entropy" and _OUTPUTS[output_activation] is not None:
            raise ValueError("softmax_cross_entropy already applies softmax: use output_activation=None")
        self.layer_sizes = sizes
        self.activation = activation
        self.reg = float(reg)
        self.loss_name = loss
        self.output_activation = output_activation
        self.dtype = np.dtype(dtype)
        gen = as_generator(rng)
        self.params: dict[str, np.ndarray] = {}
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            std = init_weight_std(weight_scale, fan_in)
            self.params[f"W{i}"] = (std * gen.standard_normal((fan_in, fan_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=self.dtype)

    @property
    def num_layers(self) -> int:
        """Number of affine layers ``L``."""
        return len(self.layer_sizes) - 1

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.layer_sizes))
        return f"{type(self).__name__}({sizes}, {self.activation}, loss={self.loss_name}, dtype={self.dtype})"

    def loss(self, x: np.ndarray, y: np.ndarray | None = None):
        """Scores, or the loss and the gradient of every parameter.

        Chapter 4: Backpropagation.

        Parameters
        ----------
        x : ndarray, shape (N, D) (or (N, 28, 28), flattened)
        y : ndarray, shape (N,) of class ids, or (N, C) one-hot, optional

        Returns
        -------
        scores : ndarray, shape (N, C)
            If ``y`` is None: the last layer's output (before any output
            activation, whose argmax it does not change).
        (loss, grads) : (float, dict of str -> ndarray)
            Otherwise: the mean loss over the batch plus the L2 term, and
            ``grads[k]`` with the shape of ``params[k]``.
        """
        act_forward, act_backward = _ACTIVATIONS[self.activation]
        h = np.asarray(x, dtype=self.dtype)
        caches = []
        for i in range(1, self.num_layers + 1):
            h, affine_cache = layers.affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
            act_cache = None
            if i < self.num_layers:
                h, act_cache = act_forward(h)
            caches.append((affine_cache, act_cache))
        scores = h
        if y is None:
            return scores

        y = np.asarray(y)
        output = _OUTPUTS[self.output_activation]
        if self.loss_name == "softmax_cross_entropy":
            data_loss, dout = layers.softmax_cross_entropy(scores, y)
        else:
            target = y if y.ndim == 2 else one_hot(y, self.layer_sizes[-1], dtype=self.dtype)
            pred, out_cache = output[0](scores) if output else (scores, None)
            data_loss, dout = layers.mse_loss(pred, target.astype(self.dtype, copy=False))
            if output:
                dout = output[1](dout, out_cache)

        grads: dict[str, np.ndarray] = {}
        reg_loss = 0.0
        for i in range(self.num_layers, 0, -1):
            affine_cache, act_cache = caches[i - 1]
            if act_cache is not None:
                dout = act_backward(dout, act_cache)
            dout, dw, db = layers.affine_backward(dout, affine_cache, compute_dx=i > 1)
            w = self.params[f"W{i}"]
            if self.reg:
                dw += self.reg * w
                reg_loss += 0.5 * self.reg * float(np.sum(w * w))
            grads[f"W{i}"], grads[f"b{i}"] = dw, db
        return data_loss + reg_loss, grads

    def predict(self, x: np.ndarray, batch_size: int = 10_000) -> np.ndarray:
        """Predicted class ids.

        Parameters
        ----------
        x : ndarray, shape (N, D)
        batch_size : int, default 10000
            Rows per forward pass, to bound memory on large inputs.

        Returns
        -------
        ndarray, shape (N,), int64
        """
        if len(x) == 0:
            return np.zeros(0, dtype=np.int64)
        chunks = [self.loss(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate([np.argmax(scores, axis=1) for scores in chunks])

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Fraction of ``x`` classified as ``y``.

        Parameters
        ----------
        x : ndarray, shape (N, D)
        y : ndarray, shape (N,) of class ids, or (N, C) one-hot

        Returns
        -------
        float in [0, 1]
        """
        y = np.asarray(y)
        labels = y.argmax(axis=1) if y.ndim == 2 else y
        return float(np.mean(self.predict(x) == labels))


class TwoLayerNet(MLP):
    """affine - ReLU - affine - softmax cross-entropy: the network of chapter 4.

    Chapter 4: Backpropagation.

    Parameters
    ----------
    input_dim : int, default 784
    hidden_dim : int, default 100
    num_classes : int, default 10
    weight_scale : {"he", "xavier"} or float, default "he"
    reg : float, default 0.0
    dtype : numpy dtype, default float64
    rng : np.random.Generator, int or None

    Attributes
    ----------
    params : dict
        ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,).
    """

    def __init__(
        self,
        input_dim: int = 784,
        hidden_dim: int = 100,
        num_classes: int = 10,
        *,
        weight_scale: str | float = "he",
        reg: float = 0.0,
        dtype=np.float64,
        rng: np.random.Generator | int | None = None,
    ):
        super().__init__(
            [input_dim, hidden_dim, num_classes],
            "relu",
            weight_scale=weight_scale,
            reg=reg,
            dtype=dtype,
            rng=rng,
        )
