"""Layers as forward/backward pairs (the CS231n contract).

Chapter 4 (Backpropagation), ``book/04_backprop.md``.

Every layer has ``forward(inputs) -> (out, cache)`` and
``backward(dout, cache) -> gradients``: the forward pass keeps in ``cache``
exactly what the backward pass needs, and the backward pass turns the gradient
of the loss w.r.t. the layer's output (``dout``) into gradients w.r.t. its
inputs and parameters, by the chain rule.
"""

from __future__ import annotations

import numpy as np

from mnistlab.functional import check_class_ids, log_softmax, sigmoid


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """Fully connected layer ``out = x @ w + b``.

    Chapter 4: Backpropagation.

    Parameters
    ----------
    x : ndarray, shape (N, D) or (N, d_1, ..., d_k) with D = d_1 * ... * d_k
        Inputs; anything after the first axis is flattened (28x28 images work).
    w : ndarray, shape (D, H)
    b : ndarray, shape (H,)

    Returns
    -------
    out : ndarray, shape (N, H)
    cache : tuple ``(x, w, b)``
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout: np.ndarray, cache, *, compute_dx: bool = True):
    """Backward pass of :func:`affine_forward`.

    Chapter 4: Backpropagation.

    With ``out = x w + b``: ``dx = dout w^T``, ``dw = x^T dout``, ``db = sum_n dout``.
    Each gradient has the shape of what it is the gradient of, which is the
    quickest check of a transpose in the wrong place.

    Parameters
    ----------
    dout : ndarray, shape (N, H)
        Gradient of the loss w.r.t. ``out``.
    cache : tuple
        From :func:`affine_forward`.
    compute_dx : bool, default True
        ``False`` skips ``dx`` (returned as ``None``). The first layer's input
        is the data, whose gradient nobody uses: skipping it saves a quarter of
        a 784-256-10 network's backward FLOPs.

    Returns
    -------
    dx : ndarray, shape of ``x`` (or None)
    dw : ndarray, shape (D, H)
    db : ndarray, shape (H,)
    """
    x, w, _ = cache
    x2d = x.reshape(x.shape[0], -1)
    dw = x2d.T @ dout
    db = dout.sum(axis=0)
    dx = (dout @ w.T).reshape(x.shape) if compute_dx else None
    return dx, dw, db


def relu_forward(x: np.ndarray):
    """ReLU layer: ``out = max(x, 0)``.

    Chapter 4: Backpropagation.

    Parameters
    ----------
    x : ndarray, any shape

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : ndarray, the input ``x``
    """
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Backward pass of :func:`relu_forward`: the gradient flows where ``x > 0``.

    Chapter 4: Backpropagation.

    At ``x == 0`` ReLU has no derivative; we use 0 (the usual convention, and
    what PyTorch does).

    Parameters
    ----------
    dout : ndarray, shape of ``x``
    cache : ndarray
        The input ``x`` from :func:`relu_forward`.

    Returns
    -------
    dx : ndarray, shape of ``x``
    """
    x = cache
    return dout * (x > 0)


def sigmoid_forward(x: np.ndarray):
    """Sigmoid layer, via the overflow-free :func:`mnistlab.functional.sigmoid`.

    Chapter 4: Backpropagation.

    Parameters
    ----------
    x : ndarray, any shape

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : ndarray, the output ``out`` (its derivative needs only the output)
    """
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Backward pass of :func:`sigmoid_forward`: ``dx = dout * s * (1 - s)``.

    Chapter 4: Backpropagation.

    Parameters
    ----------
    dout : ndarray, shape of ``x``
    cache : ndarray
        The sigmoid output ``s``.

    Returns
    -------
    dx : ndarray, shape of ``x``
    """
    s = cache
    return dout * s * (1 - s)


def softmax_forward(x: np.ndarray):
    """Softmax as a layer (over the last axis), for outputs trained with MSE.

    Chapter 4: Backpropagation.

    Parameters
    ----------
    x : ndarray, shape (N, C)

    Returns
    -------
    out : ndarray, shape (N, C), rows sum to 1
    cache : ndarray, the output ``out``
    """
    out = np.exp(log_softmax(x, axis=-1))
    return out, out


def softmax_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Backward pass of :func:`softmax_forward`.

    Chapter 4: Backpropagation.

    The Jacobian of softmax is ``diag(s) - s s^T``; applied to ``dout`` row by row
    that is ``s * (dout - sum(dout * s))``, without forming the C x C matrix.

    Parameters
    ----------
    dout : ndarray, shape (N, C)
    cache : ndarray, shape (N, C)
        The softmax output ``s``.

    Returns
    -------
    dx : ndarray, shape (N, C)
    """
    s = cache
    return s * (dout - np.sum(dout * s, axis=-1, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray):
    """Mean softmax cross-entropy loss and its gradient w.r.t. the logits.

    Chapter 4: Backpropagation.

    Fusing softmax with cross-entropy makes the gradient simple and stable:
    ``dlogits = (softmax(logits) - onehot(labels)) / N``, where the ``1/N`` is
    there because the loss is the *mean* over the batch.

    Parameters
    ----------
    logits : ndarray, shape (N, C)
    labels : ndarray, shape (N,) of integer class ids, or (N, C) one-hot

    Returns
    -------
    loss : float
    dlogits : ndarray, shape (N, C), dtype of ``logits``
    """
    n, c = logits.shape
    logp = log_softmax(logits, axis=1)
    dlogits = np.exp(logp)
    if labels.ndim == 2:
        if labels.shape != logits.shape:
            raise ValueError(f"one-hot labels have shape {labels.shape}, logits {logits.shape}")
        loss = -np.sum(labels * logp) / n
        dlogits -= labels
    else:
        check_class_ids(labels, n, c)
        rows = np.arange(n)
        loss = -np.sum(logp[rows, labels]) / n
        dlogits[rows, labels] -= 1
    dlogits /= n
    return float(loss), dlogits


def mse_loss(pred: np.ndarray, target: np.ndarray):
    """Quadratic cost ``sum((pred - target)^2) / (2N)`` and its gradient.

    Chapter 4: Backpropagation.

    This is Nielsen's quadratic cost (half the squared error, summed over the
    outputs, averaged over the batch); the 1/2 cancels in the gradient.

    Parameters
    ----------
    pred : ndarray, shape (N, C)
    target : ndarray, shape (N, C)
        E.g. one-hot labels.

    Returns
    -------
    loss : float
    dpred : ndarray, shape (N, C): ``(pred - target) / N``
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {pred.shape} but target has {target.shape}")
    n = pred.shape[0]
    diff = pred - target
    return float(np.sum(diff * diff) / (2 * n)), diff / n
