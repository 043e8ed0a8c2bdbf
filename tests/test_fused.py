"""The fused training step against the textbook one (``model.loss`` and the update rules)."""

import numpy as np
import pytest

from mnistlab import optim
from mnistlab.fused import FLUSH_EVERY, FusedStep, fused_step_unsupported
from mnistlab.model import MLP
from mnistlab.train import train


def _batches(sizes=(6, 5, 4, 3), n=20, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], n)) for _ in range(5)]


def _textbook_steps(model, rule, config, batches):
    configs = {name: dict(config) for name in model.params}
    losses = []
    for x, y in batches:
        loss, grads = model.loss(x, y)
        for name, w in model.params.items():
            model.params[name], configs[name] = rule(w, grads[name], configs[name])
        losses.append(loss)
    return losses


@pytest.mark.parametrize("rule_name", ["sgd", "sgd_momentum"])
@pytest.mark.parametrize("sizes", [(6, 3), (6, 5, 3), (6, 5, 4, 3)])
def test_fused_steps_give_the_textbook_weights_and_losses(rule_name, sizes):
    batches = _batches(sizes)
    config = {"learning_rate": 0.3, "momentum": 0.8}
    text, fast = MLP(sizes, rng=1), MLP(sizes, rng=1)
    expected = _textbook_steps(text, optim.UPDATE_RULES[rule_name], config, batches)
    step = FusedStep(fast, rule_name, dict(config), batch_size=20)
    got = [step(x, y) for x, y in batches]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    for name in text.params:
        np.testing.assert_allclose(fast.params[name], text.params[name], rtol=1e-11, atol=1e-13)
    assert step.steps_taken == len(batches)


def test_a_short_batch_uses_the_first_rows_of_the_buffers():
    batches = [(x[:7], y[:7]) for x, y in _batches()]  # 7 rows in buffers of 20
    text, fast = MLP((6, 5, 4, 3), rng=2), MLP((6, 5, 4, 3), rng=2)
    expected = _textbook_steps(text, optim.sgd_momentum, {"learning_rate": 0.1}, batches)
    step = FusedStep(fast, "sgd_momentum", {"learning_rate": 0.1}, batch_size=20)
    np.testing.assert_allclose([step(x, y) for x, y in batches], expected, rtol=1e-12)
    for name in text.params:
        np.testing.assert_allclose(fast.params[name], text.params[name], rtol=1e-11, atol=1e-13)


def test_the_parameter_arrays_are_updated_in_place_and_the_learning_rate_read_at_every_step():
    model = MLP((6, 5, 3), rng=0)
    arrays = dict(model.params)
    config = {"learning_rate": 0.1}
    step = FusedStep(model, "sgd", config, batch_size=20)
    (x, y), *_ = _batches((6, 5, 3))
    before = model.params["W2"].copy()
    config["learning_rate"] = 0.0  # as train's lr_decay would change it
    step(x, y)
    np.testing.assert_array_equal(model.params["W2"], before)
    assert all(model.params[k] is arrays[k] for k in arrays)


def test_velocities_never_become_subnormal():
    # Feature 0 is lit in the first batch only: its weights' velocity then decays by 0.9 per step,
    # from about 1e-2 into the subnormal range after some 700 steps, and to 0 after some 850 more.
    rng = np.random.default_rng(0)
    x = rng.random((16, 4)).astype(np.float32)
    x_dark = x.copy()
    x_dark[:, 0] = 0
    y = rng.integers(0, 3, 16)
    model = MLP((4, 3), dtype=np.float32, rng=0)
    step = FusedStep(model, "sgd_momentum", {"learning_rate": 0.1, "momentum": 0.9}, batch_size=16)
    step(x, y)
    v = step.velocity["W1"][0]
    assert np.all(np.abs(v) > 1e-4)
    tiny = np.finfo(np.float32).tiny
    smallest_seen = np.inf
    for _ in range(1_000):
        step(x_dark, y)
        nonzero = np.abs(v[v != 0])
        assert not np.any(nonzero < tiny), f"subnormal velocity after {step.steps_taken} steps"
        smallest_seen = min(smallest_seen, nonzero.min(initial=np.inf))
    assert np.all(v == 0)  # flushed, where without the flush it would still be subnormal
    assert smallest_seen < 1e-35  # the flush comes just before the subnormal range, not earlier


def test_the_flush_threshold_depends_on_the_momentum():
    model = MLP((2, 3), dtype=np.float32, rng=0)
    step = FusedStep(model, "sgd_momentum", {"momentum": 0.9}, batch_size=4)
    v = step.velocity["W1"]
    limit = np.finfo(np.float32).tiny / 0.9 ** FLUSH_EVERY  # 2.3e-36: subnormal within FLUSH_EVERY steps
    v[:] = [[1e-37, -2e-36, 3e-36], [-1e-30, 1.0, 0.0]]
    step.flush_subnormal_velocities()
    np.testing.assert_array_equal(v, np.array([[0, 0, 3e-36], [-1e-30, 1.0, 0.0]], np.float32))
    assert 2e-36 < limit < 3e-36
    step.config["momentum"] = 0.01  # small momentum: capped at sqrt(tiny) ~ 1.1e-19, not 1e62
    v[:] = [[1e-20, 1e-18, -1e-3], [0.5, 0, 1e-25]]
    step.flush_subnormal_velocities()
    np.testing.assert_array_equal(v, np.array([[0, 1e-18, -1e-3], [0.5, 0, 0]], np.float32))


@pytest.mark.parametrize("model_kwargs, rule, x_dtype, labels, reason", [
    ({}, optim.sgd_momentum, np.float64, "ids", "the update rule is a function"),
    ({}, "nesterov_momentum", np.float64, "ids", "'nesterov_momentum' is not fused"),
    ({"activation": "sigmoid"}, "sgd", np.float64, "ids", "not a ReLU network"),
    ({"loss": "mse"}, "sgd", np.float64, "ids", "not a ReLU network"),
    ({"reg": 1e-3}, "sgd", np.float64, "ids", "no L2 term"),
    ({}, "sgd", np.float32, "ids", "the images are float32, the model float64"),
    ({}, "sgd", np.float64, "one-hot", "the labels are one-hot"),
])
def test_what_the_fused_step_does_not_do_is_named(model_kwargs, rule, x_dtype, labels, reason):
    model = MLP((4, 3, 2), **model_kwargs)
    x = np.zeros((5, 4), x_dtype)
    y = np.zeros(5, int) if labels == "ids" else np.eye(2)[np.zeros(5, int)]
    assert reason in fused_step_unsupported(model, rule, x, y)
    if isinstance(rule, str) and "images" not in reason and "labels" not in reason:  # (data: train's check)
        with pytest.raises(ValueError, match="FusedStep cannot train this model"):
            FusedStep(model, rule, {}, 8)
    assert fused_step_unsupported(MLP((4, 3, 2)), "sgd", np.zeros((5, 4)), np.zeros(5, int)) is None


def test_a_model_with_its_own_loss_is_trained_by_the_textbook_step():
    class Student(MLP):
        def loss(self, x, y=None):
            return super().loss(x, y)

    assert "not an MLP with its own loss" in fused_step_unsupported(Student((4, 2)), "sgd")


def _blobs32(n=400, d=8, c=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((c, d)) * 4
    y = rng.integers(0, c, size=n)
    x = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return (x[: n // 2], y[: n // 2]), (x[n // 2 :], y[n // 2 :])


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum"])
def test_train_with_the_fused_step_ends_where_the_textbook_step_does(rule):
    runs = {}
    for fused in (True, False):
        model = MLP([8, 16, 3], dtype=np.float32, rng=2)
        history = train(model, _blobs32(), update_rule=rule, optim_config={"learning_rate": 0.05},
                        batch_size=32, epochs=3, lr_decay=0.5, rng=5, progress=False, fused=fused)
        runs[fused] = (model, history)
    (fast, h_fast), (text, h_text) = runs[True], runs[False]
    assert h_fast.step == "fused" and h_text.step == "textbook (fused=False)"
    for key in text.params:
        np.testing.assert_allclose(fast.params[key], text.params[key], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h_fast.batch_loss, h_text.batch_loss, rtol=1e-4)
    assert h_fast.val_acc == h_text.val_acc


def test_train_checks_the_labels_once_for_the_fused_step():
    (x, y), val = _blobs32()
    y = y.copy()
    y[7] = 3  # 3 classes: ids 0, 1, 2
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 3\)"):
        train(MLP([8, 3], dtype=np.float32), ((x, y), val), progress=False)


def test_a_diverging_fused_run_stops_with_the_learning_rate_error():
    model = MLP([8, 16, 3], dtype=np.float32, rng=0)
    with pytest.raises(FloatingPointError, match="learning rate"):
        with np.errstate(all="ignore"):
            train(model, _blobs32(), optim_config={"learning_rate": 1e30}, epochs=2, progress=False)
