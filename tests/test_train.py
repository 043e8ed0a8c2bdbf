"""The training loop on small synthetic problems (chapter 5)."""

import numpy as np
import pytest

from mnistlab.model import MLP
from mnistlab.train import History, train


def _blobs(n=400, d=8, c=3, seed=0):
    """Well-separated Gaussian blobs: any working trainer gets ~100%."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((c, d)) * 4
    y = rng.integers(0, c, size=n)
    x = centers[y] + rng.standard_normal((n, d))
    return (x[: n // 2], y[: n // 2]), (x[n // 2 :], y[n // 2 :])


def test_training_learns_and_records_history():
    data = _blobs()
    model = MLP([8, 16, 3], rng=0)
    history = train(model, data, optim_config={"learning_rate": 0.05}, batch_size=32, epochs=5, rng=0, progress=False)
    assert isinstance(history, History)
    assert history.epochs == 5
    assert len(history.batch_loss) == 5 * 7  # ceil(200 / 32) batches per epoch
    assert history.loss[-1] < history.loss[0]
    assert history.val_acc[-1] > 0.95
    assert all(t > 0 for t in history.epoch_time)
    assert "epoch  5" in history.summary()


def test_training_is_reproducible_with_a_seed():
    runs = []
    for _ in range(2):
        model = MLP([8, 16, 3], rng=1)
        runs.append(train(model, _blobs(), epochs=2, rng=7, progress=False).batch_loss)
    assert runs[0] == runs[1]


def test_custom_update_rule_and_lr_decay():
    seen = []

    def my_sgd(w, dw, config):
        seen.append(config["learning_rate"])
        return w - config["learning_rate"] * dw, config

    model = MLP([8, 4, 3], rng=0)
    history = train(model, _blobs(n=64), update_rule=my_sgd, optim_config={"learning_rate": 1.0},
                    batch_size=32, epochs=2, lr_decay=0.5, rng=0, progress=False)
    assert seen[0] == 1.0 and seen[-1] == 0.5
    assert history.step == "textbook (the update rule is a function)"  # a student's rule is called as given


def test_diverging_loss_raises_a_clear_error():
    # linear with squared error: each step multiplies the error by ~(1 - lr * |x|^2), so it explodes
    model = MLP([8, 3], loss="mse", rng=0)
    with pytest.raises(FloatingPointError, match="learning rate"):
        with np.errstate(all="ignore"):
            train(model, _blobs(), update_rule="sgd", optim_config={"learning_rate": 1e30}, epochs=3, progress=False)


def test_misaligned_data_rejected():
    (x, y), val = _blobs()
    with pytest.raises(ValueError, match="differ in length"):
        train(MLP([8, 3]), ((x, y[:-1]), val), progress=False)


def test_unknown_rule_rejected():
    with pytest.raises(ValueError, match="unknown update_rule"):
        train(MLP([8, 3]), _blobs(), update_rule="adam", progress=False)


def test_progress_bar_writes_epoch_lines(capsys):
    train(MLP([8, 3], rng=0), _blobs(n=64), epochs=2, rng=0, progress=True)
    err = capsys.readouterr()
    assert "epoch  2" in err.out + err.err


@pytest.mark.parametrize("name", ["sgd", "sgd_momentum", "nesterov_momentum"])
def test_a_rule_by_name_trains_exactly_like_the_textbook_function(name):
    # By name (and with the textbook step), train uses the in-place form; given the function, it
    # calls it as a student's. (The fused step is compared with the textbook one in test_fused.py.)
    from mnistlab import optim

    models = {}
    for rule in (name, optim.UPDATE_RULES[name]):
        model = MLP([8, 16, 3], dtype=np.float32, rng=2)
        history = train(model, _blobs(), update_rule=rule, optim_config={"learning_rate": 0.05, "momentum": 0.9},
                        batch_size=32, epochs=2, rng=5, progress=False, fused=False)
        assert history.step.startswith("textbook")
        models[callable(rule)] = (model, history)
    (fast, h_fast), (text, h_text) = models[False], models[True]
    for key in text.params:
        np.testing.assert_array_equal(fast.params[key], text.params[key])
    assert h_fast.batch_loss == h_text.batch_loss


def test_a_pure_students_rule_leaves_the_models_old_arrays_alone():
    # The a5 training run passes a student's function: it must be called as given (new arrays).
    model = MLP([8, 4, 3], rng=0)
    before = dict(model.params)
    kept = {k: v.copy() for k, v in before.items()}
    train(model, _blobs(n=64), update_rule=lambda w, dw, c: (w - 0.1 * dw, c), batch_size=32, epochs=1,
          rng=0, progress=False)
    for key in kept:
        np.testing.assert_array_equal(before[key], kept[key])
        assert model.params[key] is not before[key]


def test_subset_accuracy_counts_right_answers_chunk_by_chunk():
    from mnistlab.train import subset_accuracy

    class Sign:  # predicts class 1 where the first feature is positive: accuracy is hand-countable
        def accuracy(self, x, y):
            return float(np.mean((x[:, 0] > 0).astype(int) == y))

    x = np.array([[1.0], [-1.0], [2.0], [-3.0], [4.0], [5.0], [-6.0]])
    y = np.array([1, 1, 1, 0, 0, 1, 0])  # right: rows 0, 2, 3, 5, 6
    rows = np.array([0, 1, 2, 3, 4, 5, 6])
    assert subset_accuracy(Sign(), x, y, rows, chunk=3) == 5 / 7
    assert subset_accuracy(Sign(), x, y, np.array([1, 4]), chunk=1) == 0.0
    model = MLP([8, 4, 3], rng=0)
    (xb, yb), _ = _blobs()
    picked = np.array([5, 3, 99, 17, 42])
    assert subset_accuracy(model, xb, yb, picked, chunk=2) == model.accuracy(xb[picked], yb[picked])
