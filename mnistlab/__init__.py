"""mnistlab: a handwritten-digit classifier built from scratch in NumPy.

One package in three parts:

- **the teaching library** (the modules at the top): every function a chapter teaches, once. It imports
  nothing of the other two parts.
- **the checks** (``mnistlab.checks``): what the assignments' test cells call; one module per assignment.
  They import the teaching library only.
- **the grader** (``mnistlab.grader``): what only an instructor runs (``mnistlab grade``), and the
  student's self-check (``mnistlab check``). It may import both other parts.

The teaching library, one concept and one chapter per module:

=================  ==========================================  =========
module             concept                                      chapter
=================  ==========================================  =========
``data``           the IDX format, normalizing, one-hot labels,  1
                   mini-batches, ``load_mnist``
``fetch``          the verified, cached MNIST download           1
``functional``     ReLU, sigmoid, softmax, cross-entropy         2
``gradcheck``      numerical gradients, relative error           3
``layers``         forward/backward of each layer                4
``model``          ``TwoLayerNet`` and the general ``MLP``       4
``optim``          SGD, momentum, Nesterov                       5
``train``          the training loop and its ``History``         5
``metrics``        accuracy and the confusion matrix             6
``plots``          the figures of the book                       all
``bench``          ``mnistlab bench``: epoch time against        5
                   PyTorch and the matmul bound
=================  ==========================================  =========

The import rules between the parts are import-linter contracts (``pyproject.toml``), checked by
``make test``.

Submodules are imported lazily (``mnistlab.layers`` works after
``import mnistlab``) so that ``import mnistlab`` stays cheap, e.g. matplotlib is
only imported by code that draws.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "bench",
    "checks",
    "data",
    "fetch",
    "functional",
    "gradcheck",
    "grader",
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
