"""Confusion matrix by hand, and that every figure draws headless with titles and labels."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mnistlab import plots
from mnistlab.metrics import accuracy_score, confusion_matrix
from mnistlab.train import History


def test_confusion_matrix_hand_worked():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(y_true, y_pred, num_classes=3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y_true))
    assert accuracy_score(y_true, y_pred) == pytest.approx(4 / 6)
    assert accuracy_score(np.eye(3)[y_true], y_pred) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="labels"):
        confusion_matrix(y_true, y_pred[:-1], 3)


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)] + (
        [fig._suptitle.get_text()] if fig._suptitle else []
    )


def test_figures_have_titles_and_labels():
    rng = np.random.default_rng(0)
    fig = plots.show_digits(rng.random((12, 784)), labels=np.arange(12) % 10, predictions=np.zeros(12, int))
    assert len(fig.axes) == 20 and "0 \u2192 0" in _texts(fig)
    history = History(loss=[1.0, 0.5], train_acc=[0.8, 0.9], val_acc=[0.79, 0.88], epoch_time=[1, 1])
    texts = _texts(plots.plot_history(history))
    assert "epoch" in texts and "accuracy" in texts and "Loss" in texts
    legend = plots.plot_history(history, val_label="test").axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["train", "test"]
    texts = _texts(plots.plot_confusion_matrix(np.arange(100).reshape(10, 10)))
    assert "predicted class" in texts and "true class" in texts
    fig = plots.show_weights(rng.standard_normal((784, 20)), ncols=5)
    assert len(fig.axes) == 20 and "20 hidden units" in _texts(fig)[-1]
