"""NumPy and the reference functions as they were when the checks were imported.

The notebooks import the checks in their first, read-only cell, so reassigning ``np.allclose`` or
``mnistlab.functional.relu`` later does not change what the checks compare with.
"""

from __future__ import annotations

import types

import numpy as np

from mnistlab import data as _data
from mnistlab import functional as _functional
from mnistlab import gradcheck as _gradcheck
from mnistlab import layers as _layers
from mnistlab import model as _model
from mnistlab import optim as _optim


# ---------------------------------------------------------------------------
# References taken at import time
# ---------------------------------------------------------------------------

NUMPY = types.SimpleNamespace(
    **{
        name: getattr(np, name)
        for name in (
            "abs", "all", "allclose", "arange", "argmax", "array", "array2string", "array_equal",
            "asarray", "concatenate", "cos", "empty", "errstate", "exp", "eye",
            "float32", "float64", "floating", "full", "int8", "int16", "int32", "int64", "integer",
            "isclose", "isfinite", "isnan", "issubdtype", "log", "max", "maximum", "mean", "min",
            "ndarray", "number", "ones", "prod", "shares_memory", "sin", "sort", "sqrt", "sum",
            "uint8", "unravel_index", "where", "zeros", "zeros_like", "bool_",
        )
    }
)
NUMPY.default_rng = np.random.default_rng

REFERENCE = types.SimpleNamespace(
    idx_bytes=_data.idx_bytes,
    read_idx=_data.read_idx,
    one_hot=_data.one_hot,
    normalize=_data.normalize,
    relu=_functional.relu,
    sigmoid=_functional.sigmoid,
    softmax=_functional.softmax,
    log_softmax=_functional.log_softmax,
    cross_entropy=_functional.cross_entropy,
    numerical_gradient=_gradcheck.numerical_gradient,
    rel_error=_gradcheck.rel_error,
    affine_forward=_layers.affine_forward,
    affine_backward=_layers.affine_backward,
    relu_forward=_layers.relu_forward,
    relu_backward=_layers.relu_backward,
    softmax_cross_entropy=_layers.softmax_cross_entropy,
    TwoLayerNet=_model.TwoLayerNet,
    sgd=_optim.sgd,
    sgd_momentum=_optim.sgd_momentum,
)


#: The exception ``read_idx`` raises for malformed data (the notebooks import it too).
IDXFormatError = _data.IDXFormatError
