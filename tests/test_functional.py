"""mnistlab.functional against hand-worked values and invariants (chapter 2)."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mnistlab.functional import cross_entropy, log_softmax, relu, sigmoid, softmax
from mnistlab.tolerances import REF_ATOL, REF_RTOL

finite_scores = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    elements=st.floats(-1e4, 1e4, allow_nan=False),
)


def test_relu_hand_worked_and_dtype():
    x = np.array([-2.0, -0.0, 0.0, 0.5, 3.0], dtype=np.float32)
    out = relu(x)
    np.testing.assert_array_equal(out, [0, 0, 0, 0.5, 3])
    assert out.dtype == np.float32
    assert x[0] == -2.0, "relu must not modify its input"


def test_sigmoid_hand_worked_values():
    x = np.array([0.0, math.log(3.0), -math.log(3.0)])
    np.testing.assert_allclose(sigmoid(x), [0.5, 0.75, 0.25], rtol=REF_RTOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_extreme_inputs_no_warning(dtype):
    x = np.array([-1e5, -800.0, -50.0, 50.0, 800.0, 1e5], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning fails the test
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
            out = sigmoid(x)
    assert out.dtype == dtype
    assert np.all((out >= 0) & (out <= 1))
    assert out[0] == 0.0 and out[-1] == 1.0
    # sigmoid(-x) = 1 - sigmoid(x): symmetric pairs
    np.testing.assert_allclose(out[::-1], 1 - out, atol=1e-7)


def test_softmax_hand_worked():
    z = np.array([[0.0, math.log(2.0)], [1.0, 1.0]])
    np.testing.assert_allclose(softmax(z), [[1 / 3, 2 / 3], [0.5, 0.5]], rtol=REF_RTOL)


def test_softmax_and_log_softmax_stable_for_huge_scores():
    z = np.array([[1e4, 1e4 - math.log(3.0)], [-1e4, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        p = softmax(z)
        logp = log_softmax(z)
    np.testing.assert_allclose(p[0], [0.75, 0.25], rtol=REF_RTOL)
    np.testing.assert_allclose(logp[0], [math.log(0.75), math.log(0.25)], rtol=REF_RTOL)
    # exp(-1e4) underflows to 0 in softmax, but log_softmax keeps the exact finite value
    assert logp[1, 0] == pytest.approx(-1e4)
    assert logp[1, 1] == pytest.approx(0.0, abs=1e-12)


def test_softmax_axis_argument():
    z = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(softmax(z, axis=0), softmax(z.T, axis=1).T, rtol=REF_RTOL)
    np.testing.assert_allclose(softmax(z, axis=0).sum(axis=0), 1.0, rtol=REF_RTOL)


@settings(max_examples=60, deadline=None)
@given(finite_scores, st.floats(-1e3, 1e3))
def test_softmax_properties(z, shift):
    p = softmax(z)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    # invariant to adding the same constant to every score of a row
    np.testing.assert_allclose(softmax(z + shift), p, atol=1e-9)
    logp = log_softmax(z)
    assert np.all(logp <= 1e-12)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, rtol=1e-12)
    # the largest probability goes to a largest score (ties within round-off allowed)
    chosen = np.take_along_axis(z, np.argmax(logp, axis=1)[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(chosen, z.max(axis=1), atol=1e-9)


def test_cross_entropy_hand_worked():
    logits = np.array([[0.0, math.log(3.0)], [0.0, 0.0]])
    labels = np.array([1, 0])
    expected = -(math.log(0.75) + math.log(0.5)) / 2
    assert cross_entropy(logits, labels) == pytest.approx(expected, rel=REF_RTOL)
    assert cross_entropy(logits, np.eye(2)[labels]) == pytest.approx(expected, rel=REF_RTOL)


def test_cross_entropy_uniform_is_log_c():
    assert cross_entropy(np.zeros((5, 10)), np.arange(5)) == pytest.approx(math.log(10))


def test_cross_entropy_confident_wrong_is_large_and_finite():
    loss = cross_entropy(np.array([[1e4, -1e4]]), np.array([1]))
    assert loss == pytest.approx(2e4)


@settings(max_examples=40, deadline=None)
@given(finite_scores, st.data())
def test_cross_entropy_int_and_one_hot_agree(z, data):
    n, c = z.shape
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    a = cross_entropy(z, labels)
    b = cross_entropy(z, np.eye(c)[labels])
    assert a >= 0
    assert a == pytest.approx(b, rel=1e-9, abs=REF_ATOL)


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0, 1, 2]), "shape"),
        (np.array([0.0, 1.0]), "integers"),
        (np.array([0, 5]), r"\[0, 3\)"),
        (np.zeros((2, 4)), "one-hot"),
    ],
)
def test_cross_entropy_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        cross_entropy(np.zeros((2, 3)), labels)
