"""Activations and the softmax cross-entropy loss, written to be numerically safe.

Chapter 2 (ReLU and softmax), ``book/02_relu_softmax.md``. Each function here is
the forward computation only; their gradients live in :mod:`mnistlab.layers`.
"""

from __future__ import annotations

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit, elementwise ``max(x, 0)``.

    Chapter 2: ReLU and softmax.

    Parameters
    ----------
    x : ndarray, any shape

    Returns
    -------
    ndarray, same shape and dtype as ``x``
        A new array; ``x`` is not modified.
    """
    x = np.asarray(x)
    # np.maximum keeps the dtype (float32 stays float32) and propagates NaN.
    return np.maximum(x, 0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))`` without overflow for large ``|x|``.

    Chapter 2: ReLU and softmax.

    The textbook formula overflows in ``exp(-x)`` for ``x < -709`` (float64) and
    NumPy warns. Writing it with ``z = exp(-|x|)``, which is always in (0, 1],
    gives ``1 / (1 + z)`` for ``x >= 0`` and ``z / (1 + z)`` for ``x < 0``: the
    same function, and nothing ever overflows.

    Parameters
    ----------
    x : ndarray, any shape

    Returns
    -------
    ndarray, same shape as ``x``, values in [0, 1]
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z)).astype(x.dtype, copy=False)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``: ``exp(z) / sum(exp(z))``, stable for ``|z| ~ 1e4``.

    Chapter 2: ReLU and softmax.

    Subtracting the maximum first changes nothing mathematically (softmax is
    invariant to adding a constant to every score) but keeps every exponent
    ``<= 0``, so ``exp`` cannot overflow and the largest term is exactly 1.

    Parameters
    ----------
    z : ndarray, shape (N, C) or any shape
        Scores (logits).
    axis : int, default -1
        The class axis.

    Returns
    -------
    ndarray, same shape as ``z``
        Non-negative, summing to 1 along ``axis``.
    """
    z = np.asarray(z)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / np.sum(exp, axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Logarithm of :func:`softmax`, computed without ever forming ``log(0)``.

    Chapter 2: ReLU and softmax.

    ``log softmax(z)_i = z_i - m - log(sum_j exp(z_j - m))`` with ``m = max(z)``
    (the log-sum-exp trick). ``np.log(softmax(z))`` would give ``-inf`` as soon
    as a probability underflows to 0, even though the true value is finite.

    Parameters
    ----------
    z : ndarray, shape (N, C) or any shape
        Scores (logits).
    axis : int, default -1
        The class axis.

    Returns
    -------
    ndarray, same shape as ``z``
        All entries ``<= 0``; ``exp`` of them sums to 1 along ``axis``.
    """
    z = np.asarray(z)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy between ``softmax(logits)`` and the labels.

    Chapter 2: ReLU and softmax.

    Computed from the logits through :func:`log_softmax`, never as
    ``-log(softmax(...))``, so a confident wrong prediction gives a large finite
    loss instead of ``inf``.

    Parameters
    ----------
    logits : ndarray, shape (N, C)
        Unnormalized scores.
    labels : ndarray, shape (N,) of integer class ids in [0, C), or shape (N, C)
        Either class ids or one-hot rows (any rows of probabilities work).

    Returns
    -------
    float
        ``-(1/N) sum_n log p[n, y_n]``; ``ln C`` for uniform predictions.

    Raises
    ------
    ValueError
        If the shapes do not match or class ids are out of range.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got shape {logits.shape}")
    n, c = logits.shape
    logp = log_softmax(logits, axis=1)
    if labels.ndim == 2:
        if labels.shape != logits.shape:
            raise ValueError(
                f"one-hot labels must have the logits' shape {logits.shape}, got {labels.shape}"
            )
        return float(-np.sum(labels * logp) / n)
    check_class_ids(labels, n, c)
    return float(-np.mean(logp[np.arange(n), labels]))


def check_class_ids(labels: np.ndarray, n: int, num_classes: int) -> None:
    """Raise ``ValueError`` unless ``labels`` is ``n`` integer ids in ``[0, num_classes)``.

    Parameters
    ----------
    labels : ndarray, shape (N,)
    n : int
        Expected number of labels (the batch size).
    num_classes : int
        ``C``.
    """
    if labels.shape != (n,):
        raise ValueError(
            f"labels must be class ids of shape ({n},) or one-hot of shape ({n}, {num_classes}), "
            f"got shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"class-id labels must be integers, got dtype {labels.dtype}; "
            "convert with labels.astype(int) or pass one-hot rows"
        )
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"class ids must be in [0, {num_classes}), got min {labels.min()} and max {labels.max()}"
        )
