"""Every backward pass of mnistlab.layers against central differences in float64 (chapter 4)."""

import math

import numpy as np
import pytest

from mnistlab import layers
from mnistlab.functional import cross_entropy
from mnistlab.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from mnistlab.tolerances import GRAD_REL_TOL, REF_RTOL

rng = np.random.default_rng(1234)


def test_affine_forward_hand_worked():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.array([[1.0, 0.0, -1.0], [0.5, 1.0, 2.0]])
    b = np.array([0.0, 1.0, -1.0])
    out, _ = layers.affine_forward(x, w, b)
    np.testing.assert_allclose(out, [[2.0, 3.0, 2.0], [5.0, 5.0, 4.0]])


def test_affine_backward_matches_numerical_and_flattens_images():
    x = rng.standard_normal((4, 3, 5))  # (N, d1, d2): flattened to D = 15
    w = rng.standard_normal((15, 6))
    b = rng.standard_normal(6)
    dout = rng.standard_normal((4, 6))
    _, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert rel_error(dx, numerical_gradient_array(lambda v: layers.affine_forward(v, w, b)[0], x, dout)) < GRAD_REL_TOL
    assert rel_error(dw, numerical_gradient_array(lambda v: layers.affine_forward(x, v, b)[0], w, dout)) < GRAD_REL_TOL
    assert rel_error(db, numerical_gradient_array(lambda v: layers.affine_forward(x, w, v)[0], b, dout)) < GRAD_REL_TOL


def test_affine_backward_can_skip_dx():
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), np.zeros(2)
    _, cache = layers.affine_forward(x, w, b)
    dout = rng.standard_normal((3, 2))
    dx, dw, db = layers.affine_backward(dout, cache, compute_dx=False)
    assert dx is None
    full = layers.affine_backward(dout, cache)
    np.testing.assert_array_equal(dw, full[1])
    np.testing.assert_array_equal(db, full[2])


@pytest.mark.parametrize(
    "forward, backward",
    [
        (layers.relu_forward, layers.relu_backward),
        (layers.sigmoid_forward, layers.sigmoid_backward),
        (layers.softmax_forward, layers.softmax_backward),
    ],
)
def test_activation_backward_matches_numerical(forward, backward):
    # keep ReLU inputs away from its kink at 0, where the derivative is undefined
    x = rng.standard_normal((5, 7))
    x[np.abs(x) < 1e-3] = 0.5
    dout = rng.standard_normal((5, 7))
    _, cache = forward(x)
    dx = backward(dout, cache)
    assert dx.shape == x.shape
    assert rel_error(dx, numerical_gradient_array(lambda v: forward(v)[0], x, dout)) < GRAD_REL_TOL


def test_relu_backward_hand_worked_kink_convention():
    x = np.array([[-1.0, 0.0, 2.0]])
    _, cache = layers.relu_forward(x)
    np.testing.assert_array_equal(layers.relu_backward(np.array([[5.0, 5.0, 5.0]]), cache), [[0.0, 0.0, 5.0]])


def test_sigmoid_backward_hand_worked():
    _, cache = layers.sigmoid_forward(np.array([0.0]))
    np.testing.assert_allclose(layers.sigmoid_backward(np.array([1.0]), cache), [0.25])


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_cross_entropy_loss_and_gradient(one_hot):
    n, c = 6, 4
    logits = rng.standard_normal((n, c))
    y = rng.integers(0, c, size=n)
    labels = np.eye(c)[y] if one_hot else y
    loss, dlogits = layers.softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(cross_entropy(logits, y), rel=REF_RTOL)
    numeric = numerical_gradient(lambda v: layers.softmax_cross_entropy(v, labels)[0], logits)
    assert rel_error(dlogits, numeric) < GRAD_REL_TOL
    # each row of the gradient sums to zero (softmax minus one-hot, both sum to 1)
    np.testing.assert_allclose(dlogits.sum(axis=1), 0.0, atol=1e-12)


def test_softmax_cross_entropy_hand_worked_and_dtype_kept():
    logits = np.zeros((2, 10), dtype=np.float32)
    loss, dlogits = layers.softmax_cross_entropy(logits, np.array([3, 7]))
    assert loss == pytest.approx(math.log(10), rel=1e-6)
    assert dlogits.dtype == np.float32
    assert dlogits[0, 3] == pytest.approx((0.1 - 1) / 2) and dlogits[0, 0] == pytest.approx(0.1 / 2)


def test_softmax_cross_entropy_extreme_logits_finite():
    loss, dlogits = layers.softmax_cross_entropy(np.array([[1e4, -1e4, 0.0]]), np.array([1]))
    assert loss == pytest.approx(2e4)
    assert np.all(np.isfinite(dlogits))


def test_mse_loss_hand_worked_and_gradient():
    pred = np.array([[1.0, 2.0], [0.0, 0.0]])
    target = np.array([[0.0, 0.0], [0.0, 1.0]])
    loss, dpred = layers.mse_loss(pred, target)
    assert loss == pytest.approx((1 + 4 + 0 + 1) / (2 * 2))
    numeric = numerical_gradient(lambda v: layers.mse_loss(v, target)[0], pred.copy())
    assert rel_error(dpred, numeric) < GRAD_REL_TOL
    with pytest.raises(ValueError, match="shape"):
        layers.mse_loss(pred, target[:1])
