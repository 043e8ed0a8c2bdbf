"""mnistlab: a handwritten-digit classifier built from scratch in NumPy.

The reference library of the mnistlab course. Each module is one concept and
one chapter of the book:

=================  ==========================================  =========
module             concept                                      chapter
=================  ==========================================  =========
``data``           the IDX format, MNIST download, mini-batches  1
``functional``     ReLU, sigmoid, softmax, cross-entropy         2
``gradcheck``      numerical gradients, relative error           3
``layers``         forward/backward of each layer                4
``model``          ``TwoLayerNet`` and the general ``MLP``       4
``optim``          SGD, momentum, Nesterov                       5
``train``          the training loop and its ``History``         5
``metrics``        accuracy and the confusion matrix             6
``plots``          the figures of the book                       all
``grading``        the autograder's checks                       all
=================  ==========================================  =========

Submodules are imported lazily (``mnistlab.layers`` works after
``import mnistlab``) so that ``import mnistlab`` stays cheap, e.g. matplotlib is
only imported by code that draws.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "bench",
    "data",
    "functional",
    "gradcheck",
    "grading",
    "layers",
    "metrics",
    "model",
    "optim",
    "plots",
    "tolerances",
    "train",
}

__all__ = sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")


def __dir__():
    return __all__
