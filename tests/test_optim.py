"""Update rules against hand-worked steps and their defining properties (chapter 5)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mnistlab import optim


def test_sgd_hand_worked_and_input_kept():
    w = np.array([1.0, -2.0])
    next_w, config = optim.sgd(w, np.array([2.0, 4.0]), {"learning_rate": 0.1})
    np.testing.assert_allclose(next_w, [0.8, -2.4])
    np.testing.assert_array_equal(w, [1.0, -2.0])
    assert config["learning_rate"] == 0.1


def test_sgd_momentum_two_steps_by_hand():
    w = np.array([1.0])
    config = {"learning_rate": 0.1, "momentum": 0.9}
    w1, config = optim.sgd_momentum(w, np.array([2.0]), config)  # v = -0.2
    np.testing.assert_allclose(config["velocity"], [-0.2])
    np.testing.assert_allclose(w1, [0.8])
    w2, config = optim.sgd_momentum(w1, np.array([1.0]), config)  # v = 0.9*-0.2 - 0.1 = -0.28
    np.testing.assert_allclose(config["velocity"], [-0.28])
    np.testing.assert_allclose(w2, [0.52])


def test_defaults_are_filled_in():
    _, config = optim.sgd_momentum(np.zeros(3), np.ones(3))
    assert config["learning_rate"] == 1e-2 and config["momentum"] == 0.9
    assert config["velocity"].shape == (3,)


def test_nesterov_first_step_by_hand():
    w = np.array([1.0])
    next_w, config = optim.nesterov_momentum(w, np.array([2.0]), {"learning_rate": 0.1, "momentum": 0.9})
    # v0 = 0, v1 = -0.2, next = w - 0.9*0 + 1.9*(-0.2)
    np.testing.assert_allclose(next_w, [1.0 - 0.38])


@settings(max_examples=30, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 5), elements=st.floats(-10, 10)),
    st.lists(hnp.arrays(np.float64, 5, elements=st.floats(-10, 10)), min_size=1, max_size=8),
    st.floats(1e-4, 1.0),
    st.floats(0.0, 0.99),
)
def test_two_momentum_forms_agree_at_constant_learning_rate(w0, grads, lr, mu):
    size = w0.shape[0]
    a = b = w0
    ca = {"learning_rate": lr, "momentum": mu}
    cb = dict(ca)
    for g in grads:
        a, ca = optim.sgd_momentum(a, g[:size], ca)
        b, cb = optim.sgd_momentum_pytorch(b, g[:size], cb)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ca["velocity"], -lr * cb["buffer"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rule", [optim.sgd, optim.sgd_momentum, optim.nesterov_momentum])
def test_rules_minimize_a_quadratic(rule):
    # f(w) = 0.5 * w^T A w with an ill-conditioned A: every rule must approach 0
    a = np.diag([1.0, 10.0])
    w = np.array([1.0, 1.0])
    config = {"learning_rate": 0.05}
    for _ in range(300):
        w, config = rule(w, a @ w, config)
    assert np.linalg.norm(w) < 1e-3


def test_momentum_beats_sgd_on_ill_conditioned_quadratic():
    a = np.diag([0.01, 1.0])
    results = {}
    for rule in (optim.sgd, optim.sgd_momentum, optim.nesterov_momentum):
        w, config = np.array([1.0, 1.0]), {"learning_rate": 0.5, "momentum": 0.9}
        for _ in range(100):
            w, config = rule(w, a @ w, config)
        results[rule.__name__] = np.linalg.norm(w)
    assert results["sgd_momentum"] < results["sgd"] / 10
    assert results["nesterov_momentum"] < results["sgd"] / 10


def test_float32_stays_float32():
    w = np.ones(4, dtype=np.float32)
    for rule in optim.UPDATE_RULES.values():
        next_w, config = rule(w, np.ones(4, dtype=np.float32), {"learning_rate": 0.1})
        assert next_w.dtype == np.float32, rule.__name__


# ---------------------------------------------------------------------------
# The in-place forms: the same arithmetic as the textbook rules, bit for bit


def test_every_rule_has_an_in_place_form():
    assert set(optim.IN_PLACE_RULES) == set(optim.UPDATE_RULES)


def test_sgd_momentum_in_place_two_steps_by_hand():
    w = np.array([1.0])
    config = {"learning_rate": 0.1, "momentum": 0.9}
    w1, config = optim.sgd_momentum_in_place(w, np.array([2.0]), config)  # v = -0.2
    assert w1 is w  # written into w
    np.testing.assert_allclose(config["velocity"], [-0.2])
    np.testing.assert_allclose(w, [0.8])
    velocity = config["velocity"]
    w2, config = optim.sgd_momentum_in_place(w1, np.array([1.0]), config)  # v = 0.9*-0.2 - 0.1 = -0.28
    assert config["velocity"] is velocity  # and into the velocity
    np.testing.assert_allclose(config["velocity"], [-0.28])
    np.testing.assert_allclose(w2, [0.52])


def test_sgd_in_place_hand_worked_and_gradient_kept():
    w, dw = np.array([1.0, -2.0]), np.array([2.0, 4.0])
    next_w, _ = optim.sgd_in_place(w, dw, {"learning_rate": 0.1})
    assert next_w is w
    np.testing.assert_allclose(w, [0.8, -2.4])
    np.testing.assert_array_equal(dw, [2.0, 4.0])


@pytest.mark.parametrize("name", sorted(optim.UPDATE_RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_form_equals_the_textbook_rule_bit_for_bit(name, dtype):
    gen = np.random.default_rng(17)
    w_text = gen.standard_normal((7, 5)).astype(dtype)
    w_fast = w_text.copy()
    cfg_text = {"learning_rate": 0.05, "momentum": 0.8}
    cfg_fast = dict(cfg_text)
    for _ in range(6):
        dw = gen.standard_normal((7, 5)).astype(dtype)
        kept = dw.copy()
        w_text, cfg_text = optim.UPDATE_RULES[name](w_text, dw, cfg_text)
        w_fast, cfg_fast = optim.IN_PLACE_RULES[name](w_fast, dw, cfg_fast)
        np.testing.assert_array_equal(w_fast, w_text)
        np.testing.assert_array_equal(dw, kept)  # the gradient is never written to
        assert w_fast.dtype == dtype
    for key in ("velocity", "buffer"):
        if key in cfg_text:
            np.testing.assert_array_equal(cfg_fast[key], cfg_text[key])
