"""First-order update rules: SGD, momentum, Nesterov momentum.

Chapter 5 (SGD and momentum), ``book/05_sgd_momentum.md``.

Every rule has the contract ``rule(w, dw, config=None) -> (next_w, config)``:
``w`` and ``dw`` are one parameter and its gradient (same shape), and
``config`` is a dict of hyperparameters that also carries the rule's state
(e.g. the velocity) from one step to the next, one dict per parameter. Rules
return a new array and leave ``w`` unchanged.
"""

from __future__ import annotations

import numpy as np


def _with_defaults(config: dict | None, **defaults) -> dict:
    """The rule's config dict (a new one if None) with missing hyperparameters filled in."""
    config = {} if config is None else config
    for key, value in defaults.items():
        config.setdefault(key, value)
    return config


def _state(config: dict, key: str, w: np.ndarray) -> np.ndarray:
    """The rule's state ``config[key]``, zeros of ``w``'s shape on the first step."""
    state = config.get(key)
    return np.zeros_like(w) if state is None else state


def sgd(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    Chapter 5: SGD and momentum.

    Parameters
    ----------
    w : ndarray, any shape
    dw : ndarray, shape of ``w``
    config : dict, optional
        ``learning_rate`` (default 1e-2).

    Returns
    -------
    next_w : ndarray, shape of ``w``
    config : dict
    """
    config = _with_defaults(config, learning_rate=1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; next_w = w + v``.

    Chapter 5: SGD and momentum.

    The velocity ``v`` is a decaying sum of past steps, so directions in which
    the gradient keeps its sign speed up (by up to ``1 / (1 - momentum)``, 10x
    for 0.9) and directions in which it oscillates cancel out.

    Parameters
    ----------
    w : ndarray, any shape
    dw : ndarray, shape of ``w``
    config : dict, optional
        ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9) and the
        state ``velocity`` (default zeros, shape of ``w``).

    Returns
    -------
    next_w : ndarray, shape of ``w``
    config : dict, with the updated ``velocity``
    """
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9)
    v = _state(config, "velocity", w)
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def sgd_momentum_pytorch(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """Momentum as PyTorch writes it: ``b = momentum * b + dw; next_w = w - learning_rate * b``.

    Chapter 5: SGD and momentum.

    With a constant learning rate this is :func:`sgd_momentum` exactly:
    ``v = -learning_rate * b`` satisfies the same recursion. They differ only
    when the learning rate changes, because here the new rate scales the whole
    accumulated buffer at once.

    Parameters
    ----------
    w : ndarray, any shape
    dw : ndarray, shape of ``w``
    config : dict, optional
        ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9) and the
        state ``buffer`` (default zeros, shape of ``w``).

    Returns
    -------
    next_w : ndarray, shape of ``w``
    config : dict, with the updated ``buffer``
    """
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9)
    buf = _state(config, "buffer", w)
    buf = config["momentum"] * buf + dw
    config["buffer"] = buf
    return w - config["learning_rate"] * buf, config


def nesterov_momentum(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """Nesterov accelerated gradient, in the form that needs the gradient at ``w`` only.

    Chapter 5: SGD and momentum.

    Nesterov evaluates the gradient at the look-ahead point ``w + momentum * v``.
    Tracking the look-ahead point instead of ``w`` turns that into
    ``v_new = momentum * v - learning_rate * dw`` and
    ``next_w = w - momentum * v + (1 + momentum) * v_new``.

    Parameters
    ----------
    w : ndarray, any shape
    dw : ndarray, shape of ``w``
    config : dict, optional
        ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9) and the
        state ``velocity`` (default zeros, shape of ``w``).

    Returns
    -------
    next_w : ndarray, shape of ``w``
    config : dict, with the updated ``velocity``
    """
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9)
    v = _state(config, "velocity", w)
    mu = config["momentum"]
    v_new = mu * v - config["learning_rate"] * dw
    config["velocity"] = v_new
    return w - mu * v + (1 + mu) * v_new, config


UPDATE_RULES = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "sgd_momentum_pytorch": sgd_momentum_pytorch,
    "nesterov_momentum": nesterov_momentum,
}
