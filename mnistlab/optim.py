"""First-order update rules: SGD, momentum, Nesterov momentum.

Chapter 5 (SGD and momentum), ``book/05_sgd_momentum.md``.

Every rule has the contract ``rule(w, dw, config=None) -> (next_w, config)``:
``w`` and ``dw`` are one parameter and its gradient (same shape), and
``config`` is a dict of hyperparameters that also carries the rule's state
(e.g. the velocity) from one step to the next, one dict per parameter. Rules
return a new array and leave ``w`` unchanged.

Each rule also has an in-place form (``sgd_in_place``, ...; :data:`IN_PLACE_RULES`)
with the same contract and the same arithmetic, bit for bit, that writes the
step into ``w`` and the state arrays instead of allocating new ones. It is what
:func:`mnistlab.train.textbook_step` uses for a rule given by name: a (784, 256)
float32 parameter is 0.8 MB, and every new array of that size is another pass
over memory, in a loop that takes 469 steps per epoch. (For ReLU networks,
:class:`mnistlab.fused.FusedStep` goes further: it folds the learning rate into
backpropagation.)
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


def _state_in_place(config: dict, key: str, w: np.ndarray) -> np.ndarray:
    """The rule's state ``config[key]``, stored as zeros of ``w``'s shape on the first step."""
    if config.get(key) is None:
        config[key] = np.zeros_like(w)
    return config[key]


def sgd_in_place(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """:func:`sgd`, written into ``w``: ``w -= learning_rate * dw``.

    Chapter 5: SGD and momentum.

    Parameters
    ----------
    w : ndarray, any shape, writeable
        Updated in place and returned.
    dw : ndarray, shape of ``w``
    config : dict, optional
        As for :func:`sgd`.

    Returns
    -------
    w : ndarray, the same array, now the next weights
    config : dict
    """
    config = _with_defaults(config, learning_rate=1e-2)
    w -= config["learning_rate"] * dw
    return w, config


def sgd_momentum_in_place(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """:func:`sgd_momentum`, written into ``w`` and the velocity: no new (D, H) arrays.

    Chapter 5: SGD and momentum.

    The same formula, ``v = momentum * v - learning_rate * dw; w = w + v``,
    one operation per line, in the same order, so the result is the same bit
    for bit; only the arrays the results are written to differ.

    Parameters
    ----------
    w : ndarray, any shape, writeable
        Updated in place and returned.
    dw : ndarray, shape of ``w``
    config : dict, optional
        As for :func:`sgd_momentum`; ``config["velocity"]`` is updated in place.

    Returns
    -------
    w : ndarray, the same array, now the next weights
    config : dict, with the updated ``velocity``
    """
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9)
    v = _state_in_place(config, "velocity", w)
    v *= config["momentum"]             # v = momentum * v
    v -= config["learning_rate"] * dw   #     - learning_rate * dw
    w += v                              # w = w + v
    return w, config


def sgd_momentum_pytorch_in_place(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """:func:`sgd_momentum_pytorch`, written into ``w`` and the buffer.

    Chapter 5: SGD and momentum.

    Parameters
    ----------
    w : ndarray, any shape, writeable
        Updated in place and returned.
    dw : ndarray, shape of ``w``
    config : dict, optional
        As for :func:`sgd_momentum_pytorch`; ``config["buffer"]`` is updated in place.

    Returns
    -------
    w : ndarray, the same array, now the next weights
    config : dict, with the updated ``buffer``
    """
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9)
    buf = _state_in_place(config, "buffer", w)
    buf *= config["momentum"]           # b = momentum * b
    buf += dw                           #     + dw
    w -= config["learning_rate"] * buf  # w = w - learning_rate * b
    return w, config


def nesterov_momentum_in_place(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """:func:`nesterov_momentum`, written into ``w`` and the velocity.

    Chapter 5: SGD and momentum.

    Parameters
    ----------
    w : ndarray, any shape, writeable
        Updated in place and returned.
    dw : ndarray, shape of ``w``
    config : dict, optional
        As for :func:`nesterov_momentum`; ``config["velocity"]`` is updated in place.

    Returns
    -------
    w : ndarray, the same array, now the next weights
    config : dict, with the updated ``velocity``
    """
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9)
    v = _state_in_place(config, "velocity", w)
    mu = config["momentum"]
    w -= mu * v                         # w = w - momentum * v_old
    v *= mu                             # v_new = momentum * v_old
    v -= config["learning_rate"] * dw   #         - learning_rate * dw
    w += (1 + mu) * v                   #       + (1 + momentum) * v_new
    return w, config


UPDATE_RULES = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "sgd_momentum_pytorch": sgd_momentum_pytorch,
    "nesterov_momentum": nesterov_momentum,
}

#: The in-place form of each rule in :data:`UPDATE_RULES`, under the same name.
IN_PLACE_RULES = {
    "sgd": sgd_in_place,
    "sgd_momentum": sgd_momentum_in_place,
    "sgd_momentum_pytorch": sgd_momentum_pytorch_in_place,
    "nesterov_momentum": nesterov_momentum_in_place,
}
