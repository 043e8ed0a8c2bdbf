"""The figures of the book, each returning its matplotlib Figure.

Used by every chapter. Nothing here calls ``plt.show()``: the book's executed
cells display the returned figure, and tests can draw without a screen.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _pyplot():
    # Imported here so that ``import mnistlab`` does not pull in matplotlib.
    # Without a display matplotlib falls back to the Agg backend by itself.
    import matplotlib.pyplot as plt

    return plt


def _image_grid(count: int, ncols: int, size: float, height_ratio: float = 1.0):
    """A figure with ``count`` image panels in rows of ``ncols``, ``size`` inches each, no ticks."""
    plt = _pyplot()
    ncols = max(1, min(ncols, count))
    nrows = max(1, -(-count // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * height_ratio), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= count:
            ax.axis("off")
    return fig, axes.flat[:count]


def show_digits(
    images: np.ndarray,
    labels: Sequence[int] | None = None,
    predictions: Sequence[int] | None = None,
    *,
    ncols: int = 10,
    size: float = 1.2,
    title: str | None = None,
):
    """A grid of digit images, each titled with its label (and prediction).

    Chapter 1: Data loading.

    Parameters
    ----------
    images : ndarray, shape (N, 784) or (N, 28, 28)
    labels : sequence of int, length N, optional
    predictions : sequence of int, length N, optional
        Shown as ``label -> prediction`` and in red where they differ.
    ncols : int, default 10
    size : float, default 1.2
        Inches per digit, so digits stay readable however many there are.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = np.asarray(images)
    n = len(images)
    side = int(round(np.sqrt(images[0].size))) if n else 28
    # 15% taller panels leave room for each digit's title
    vmax = float(images.max()) if n else 1.0  # one scale for all: uint8 (255) or normalized (1)
    fig, axes = _image_grid(n, ncols, size, height_ratio=1.15)
    for k, ax in enumerate(axes):
        ax.imshow(images[k].reshape(side, side), cmap="gray_r", vmin=0, vmax=vmax or 1.0)
        parts, color = [], "black"
        if labels is not None:
            parts.append(str(int(labels[k])))
        if predictions is not None:
            parts.append(str(int(predictions[k])))
            if labels is not None and int(labels[k]) != int(predictions[k]):
                color = "red"
        if parts:
            ax.set_title(" \u2192 ".join(parts), fontsize=10, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history, *, title: str | None = None, val_label: str = "validation"):
    """Training loss and accuracy per epoch, side by side.

    Chapter 5: SGD and momentum.

    Parameters
    ----------
    history : mnistlab.train.History
        Or any object with ``loss``, ``train_acc`` and ``val_acc`` lists.
    title : str, optional
    val_label : str, default "validation"
        Legend of the second accuracy curve (e.g. "test" when the held-out
        set passed to :func:`mnistlab.train.train` is the test set).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    epochs = np.arange(1, len(history.loss) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_loss.plot(epochs, history.loss, marker="o")
    ax_loss.set(xlabel="epoch", ylabel="mean training loss", title="Loss")
    ax_acc.plot(epochs, history.train_acc, marker="o", label="train")
    ax_acc.plot(epochs, history.val_acc, marker="s", label=val_label)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: np.ndarray, *, class_names: Sequence[str] | None = None, title: str = "Confusion matrix"):
    """A confusion matrix as a heat map with the counts written in.

    Chapter 6: Putting it together.

    Parameters
    ----------
    cm : ndarray, shape (C, C)
        From :func:`mnistlab.metrics.confusion_matrix` (rows: true class).
    class_names : sequence of str, optional
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    cm = np.asarray(cm)
    c = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(c)]
    fig, ax = plt.subplots(figsize=(0.6 * c + 2, 0.6 * c + 1.5))
    # Log-scaled colours: the diagonal (~1000) would otherwise hide the errors (~10).
    im = ax.imshow(np.log1p(cm), cmap="Blues")
    threshold = np.log1p(cm).max() / 2
    for i in range(c):
        for j in range(c):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if np.log1p(cm[i, j]) > threshold else "black")
    ax.set_xticks(range(c), names)
    ax.set_yticks(range(c), names)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.colorbar(im, ax=ax, label="log(1 + count)")
    fig.tight_layout()
    return fig


def show_weights(w: np.ndarray, *, ncols: int = 16, max_units: int = 64, size: float = 0.9, title: str | None = None):
    """First-layer weights, one 28x28 image per hidden unit.

    Chapter 6: Putting it together.

    Parameters
    ----------
    w : ndarray, shape (784, H)
        ``params["W1"]``.
    ncols : int, default 16
    max_units : int, default 64
        Show at most this many units (the first ones).
    size : float, default 0.9
        Inches per image.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    w = np.asarray(w)
    side = int(round(np.sqrt(w.shape[0])))
    units = min(w.shape[1], max_units)
    fig, axes = _image_grid(units, ncols, size)
    for k, ax in enumerate(axes):
        img = w[:, k].reshape(side, side)
        # A symmetric colour scale per unit: blue is negative, red positive, white zero.
        lim = float(np.abs(img).max()) or 1.0
        ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.suptitle(title or f"First-layer weights of {units} hidden units (red +, blue -)")
    fig.tight_layout()
    return fig
