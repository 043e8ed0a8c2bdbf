"""mnistlab.gradcheck against analytic derivatives (chapter 3)."""

import numpy as np
import pytest

from mnistlab.gradcheck import grad_check_sparse, numerical_gradient, numerical_gradient_array, rel_error
from mnistlab.tolerances import FD_STEP, GRAD_REL_TOL


def test_numerical_gradient_of_cubic_matches_calculus():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    before = x.copy()
    grad = numerical_gradient(lambda v: float(np.sum(v**3)), x, h=FD_STEP)
    assert grad.shape == x.shape
    assert rel_error(grad, 3 * before**2) < GRAD_REL_TOL
    np.testing.assert_array_equal(x, before)  # restored bit for bit


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 2:
            raise RuntimeError("boom")
        return float(v.sum())

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    # it really perturbed x: +h then -h on the first entry
    assert calls[0][0] == pytest.approx(1.0 + 1e-5) and calls[1][0] == pytest.approx(1.0 - 1e-5)


def test_central_differences_are_second_order():
    # f = exp: the error of central differences shrinks ~100x when h shrinks 10x
    x = np.array([0.3])
    exact = np.exp(0.3)
    e1 = abs(numerical_gradient(lambda v: float(np.exp(v[0])), x, h=1e-2)[0] - exact)
    e2 = abs(numerical_gradient(lambda v: float(np.exp(v[0])), x, h=1e-3)[0] - exact)
    assert 50 < e1 / e2 < 200


def test_numerical_gradient_array_contracts_with_dout():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3))
    dout = rng.standard_normal((2, 3))
    grad = numerical_gradient_array(lambda v: v**2, x, dout)
    assert rel_error(grad, 2 * x * dout) < GRAD_REL_TOL


def test_numerical_gradient_array_copes_with_views_of_x():
    # f returns x itself (a view): the result must still be the identity's gradient
    x = np.array([1.0, -2.0, 3.0])
    dout = np.array([0.5, 1.0, -1.0])
    np.testing.assert_allclose(numerical_gradient_array(lambda v: v, x, dout), dout, rtol=1e-8)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([1.0], [1.0], 0.0),
        ([1.0], [3.0], 0.5),  # |1-3| / (1+3)
        ([0.0, 2.0], [0.0, -2.0], 1.0),  # opposite signs: the worst case
        ([0.0], [0.0], 0.0),  # the 1e-8 floor keeps 0/0 away
        ([1e-9], [0.0], 1e-9 / 1e-8),
    ],
)
def test_rel_error_hand_worked(a, b, expected):
    assert rel_error(np.array(a), np.array(b)) == pytest.approx(expected)


def test_rel_error_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        rel_error(np.zeros(2), np.zeros(3))


def test_grad_check_sparse_flags_wrong_gradient_and_restores_x():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 4))
    before = x.copy()
    f = lambda v: float(np.sum(np.sin(v)))  # noqa: E731
    good = grad_check_sparse(f, x, np.cos(x), num_checks=8, rng=0)
    bad = grad_check_sparse(f, x, -np.cos(x), num_checks=8, rng=0)
    assert good.shape == (8,)
    assert good.max() < GRAD_REL_TOL
    assert bad.min() > 0.99
    np.testing.assert_array_equal(x, before)
