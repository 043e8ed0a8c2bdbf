"""Accuracy and the confusion matrix.

Chapter 6 (Putting it together), ``book/06_putting_it_together.md``.
"""

from __future__ import annotations

import numpy as np


def _class_ids(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y


def accuracy_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of predictions equal to the true labels.

    Chapter 6: Putting it together.

    Parameters
    ----------
    y_true, y_pred : ndarray, shape (N,) of class ids, or (N, C) one-hot/scores

    Returns
    -------
    float in [0, 1]
    """
    t, p = _class_ids(y_true), _class_ids(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} labels but y_pred has {p.shape[0]}")
    return float(np.mean(t == p)) if t.size else 0.0


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Count of samples of true class ``i`` predicted as class ``j``.

    Chapter 6: Putting it together.

    Parameters
    ----------
    y_true, y_pred : ndarray, shape (N,) of class ids, or (N, C) one-hot/scores
    num_classes : int, default 10

    Returns
    -------
    ndarray, shape (C, C), int64
        Rows are true classes, columns predictions; the diagonal counts the
        correct ones and every row sums to that class's number of samples.
    """
    t, p = _class_ids(y_true), _class_ids(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} labels but y_pred has {p.shape[0]}")
    # One bincount over the flattened (true, predicted) pair index.
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)
