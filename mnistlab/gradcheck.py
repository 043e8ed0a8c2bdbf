"""Numerical gradients by central differences, and how to compare gradients.

Chapter 3 (Numerical gradients), ``book/03_numerical_gradients.md``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from mnistlab._rng import as_generator


def _f_at_plus_minus(f: Callable[[np.ndarray], object], x: np.ndarray, ix: tuple, h: float):
    """Return ``(f(x + h e_ix), f(x - h e_ix))``, restoring ``x[ix]`` even if ``f`` raises.

    Results are copied to float64 arrays because ``f`` may return a view of
    ``x`` (an identity layer does), which the next perturbation would change.
    """
    old = x[ix].copy()
    try:
        x[ix] = old + h
        f_plus = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        f_minus = np.array(f(x), dtype=np.float64, copy=True)
    finally:
        x[ix] = old
    return f_plus, f_minus


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function by central differences.

    Chapter 3: Numerical gradients.

    ``df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)``, whose error is O(h^2)
    (forward differences are only O(h)). ``x`` is changed in place, one entry at
    a time, because ``f`` usually closes over it (a model's weights); every entry
    is restored afterwards, even if ``f`` raises.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. Called ``2 * x.size`` times.
    x : ndarray, any shape, floating point
        The point at which to differentiate. Use float64: in float32 the
        round-off error ``eps / h`` swamps the result.
    h : float, default 1e-5
        The step.

    Returns
    -------
    ndarray, same shape as ``x``
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        f_plus, f_minus = _f_at_plus_minus(f, x, it.multi_index, h)
        grad[it.multi_index] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Numerical gradient of an array-valued function, contracted with ``dout``.

    Chapter 3: Numerical gradients.

    This is what a layer's backward pass computes: ``dx_i = sum_j dout_j *
    d f(x)_j / d x_i``, i.e. the gradient of the scalar ``sum(f(x) * dout)``.
    ``x`` is restored afterwards, as in :func:`numerical_gradient`.

    Parameters
    ----------
    f : callable
        ``f(x) -> ndarray`` of the shape of ``dout``.
    x : ndarray, any shape, floating point
    dout : ndarray, shape of ``f(x)``
        Upstream gradient.
    h : float, default 1e-5

    Returns
    -------
    ndarray, same shape as ``x``
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        pos, neg = _f_at_plus_minus(f, x, it.multi_index, h)
        grad[it.multi_index] = np.sum((pos - neg) * dout) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative error ``|a - b| / max(1e-8, |a| + |b|)``.

    Chapter 3: Numerical gradients.

    Relative, so that it means the same for tiny and huge gradients; the floor
    ``1e-8`` keeps it finite where both are zero. Rule of thumb for float64
    gradient checks: below 1e-7 is right, around 1e-2 or above is a bug.

    Parameters
    ----------
    a, b : ndarray, same shape (or broadcastable)

    Returns
    -------
    float
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs arrays of one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def grad_check_sparse(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    analytic_grad: np.ndarray,
    num_checks: int = 10,
    h: float = 1e-5,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Compare ``analytic_grad`` with central differences at a few random entries.

    Chapter 3: Numerical gradients.

    A full numerical gradient of a 784x100 weight matrix costs 156,800 loss
    evaluations; a handful of random entries catches almost every bug for the
    price of ``2 * num_checks``.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray, any shape
        Restored after each check.
    analytic_grad : ndarray, same shape as ``x``
    num_checks : int, default 10
    h : float, default 1e-5
    rng : np.random.Generator, int or None
        Chooses the entries.

    Returns
    -------
    ndarray, shape (num_checks,)
        The relative error at each checked entry.
    """
    if analytic_grad.shape != x.shape:
        raise ValueError(f"analytic_grad has shape {analytic_grad.shape}, x has {x.shape}")
    gen = as_generator(rng)
    errors = np.empty(num_checks)
    for k in range(num_checks):
        ix = tuple(int(gen.integers(n)) for n in x.shape)
        f_plus, f_minus = _f_at_plus_minus(f, x, ix, h)
        numeric = (f_plus - f_minus) / (2 * h)
        errors[k] = rel_error(np.array(numeric), np.array(analytic_grad[ix]))
    return errors
