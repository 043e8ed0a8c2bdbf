"""MLP and TwoLayerNet: gradients against central differences, shapes, dtypes (chapter 4)."""

import math

import numpy as np
import pytest

from mnistlab.gradcheck import numerical_gradient, rel_error
from mnistlab.model import MLP, TwoLayerNet, init_weight_std
from mnistlab.tolerances import GRAD_REL_TOL, GRAD_REL_TOL_LOOSE


def _check_all_gradients(model, x, y, tol):
    loss, grads = model.loss(x, y)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        assert grads[name].shape == param.shape, name
        numeric = numerical_gradient(lambda _: model.loss(x, y)[0], param)
        err = rel_error(grads[name], numeric)
        assert err < tol, f"{name}: relative error {err:.2e}"
    return loss


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_gradients(reg):
    rng = np.random.default_rng(0)
    model = TwoLayerNet(5, 4, 3, weight_scale=0.5, reg=reg, rng=1)
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 3, size=6)
    _check_all_gradients(model, x, y, GRAD_REL_TOL_LOOSE)  # ReLU kinks: the looser tolerance


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(activation="sigmoid"),
        dict(activation="sigmoid", loss="mse", output_activation="sigmoid"),
        dict(activation="relu", loss="mse"),
        dict(activation="sigmoid", loss="mse", output_activation="softmax", reg=0.1),
    ],
)
def test_deeper_mlp_gradients(kwargs):
    rng = np.random.default_rng(3)
    model = MLP([4, 5, 3, 3], weight_scale=0.8, rng=2, **kwargs)
    x = rng.standard_normal((5, 4))
    y = rng.integers(0, 3, size=5)
    tol = GRAD_REL_TOL if kwargs["activation"] == "sigmoid" else GRAD_REL_TOL_LOOSE
    _check_all_gradients(model, x, y, tol)


def test_loss_at_small_init_is_log_num_classes():
    rng = np.random.default_rng(5)
    model = TwoLayerNet(784, 50, 10, weight_scale=1e-4, rng=0)
    x = rng.random((100, 784))
    loss, _ = model.loss(x, rng.integers(0, 10, size=100))
    assert loss == pytest.approx(math.log(10), rel=1e-3)


def test_scores_shape_predict_accuracy():
    model = MLP([784, 16, 10], rng=0)
    x = np.random.default_rng(0).random((7, 28, 28))
    scores = model.loss(x)
    assert scores.shape == (7, 10)
    pred = model.predict(x.reshape(7, -1), batch_size=3)
    np.testing.assert_array_equal(pred, scores.argmax(axis=1))
    assert model.accuracy(x.reshape(7, -1), pred) == 1.0
    assert model.accuracy(x.reshape(7, -1), np.eye(10)[pred]) == 1.0
    assert model.predict(np.zeros((0, 784))).shape == (0,)


def test_float32_model_stays_float32():
    model = MLP([784, 32, 10], dtype=np.float32, rng=0)
    x = np.random.default_rng(0).random((8, 784), dtype=np.float32)
    loss, grads = model.loss(x, np.arange(8))
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert all(g.dtype == np.float32 for g in grads.values()), {k: g.dtype for k, g in grads.items()}


def test_he_init_statistics_and_seeds():
    model = MLP([784, 1000, 10], rng=0)
    assert model.params["W1"].std() == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    assert np.all(model.params["b1"] == 0)
    same = MLP([784, 1000, 10], rng=0)
    np.testing.assert_array_equal(model.params["W1"], same.params["W1"])
    assert init_weight_std("xavier", 100) == pytest.approx(0.1)
    assert init_weight_std(0.01, 100) == 0.01


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layer_sizes=[784]), "at least"),
        (dict(layer_sizes=[784, 10], activation="tanh"), "activation"),
        (dict(layer_sizes=[784, 10], loss="hinge"), "loss"),
        (dict(layer_sizes=[784, 10], output_activation="sigmoid"), "already applies softmax"),
        (dict(layer_sizes=[784, 10], weight_scale="big"), "weight_scale"),
    ],
)
def test_bad_arguments_explain_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)
