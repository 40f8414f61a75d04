"""Learning curves with matplotlib (the optional extra ``plot``)."""

from __future__ import annotations

import os
from typing import Any

from ..files import atomic_write

__all__ = ["history_figure", "plot_history"]

# up to this many epochs each one gets a marker: a run of one or a few epochs is points, not a bare line
MARKED_EPOCHS = 30


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plotting needs matplotlib: pip install 'anynet[plot]'") from err
    return plt


def history_figure(history: dict[str, list[float]], title: str = "") -> Any:
    """A matplotlib figure of loss and accuracy per epoch, train and validation, one panel each.

    The epochs are whole numbers on the x axis, from 1; each epoch is marked when there are at most
    30 of them, so a run of one epoch shows its point.

    **Arguments:**

    - ``history``: ``Trainer.history``, lists of per-epoch values under ``loss``, ``accuracy``,
      ``val_loss``, ``val_accuracy`` (those present are drawn).
    - ``title``: the figure's title.

    **Returns:** the ``matplotlib.figure.Figure``; close it with ``matplotlib.pyplot.close``.
    Raises ImportError with an install hint when matplotlib is missing.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    panels = [m for m in ("loss", "accuracy") if m in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        n = len(history[metric])
        epochs = range(1, n + 1)
        marker = "o" if n <= MARKED_EPOCHS else None
        ax.plot(epochs, history[metric], label="train", marker=marker)
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label="validation", marker=marker)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(0.5, max(n, 1) + 0.5)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: dict[str, list[float]], path: str | os.PathLike, title: str = "") -> str:
    """Write the learning curves of ``history_figure`` to the PNG ``path``, atomically.

    **Arguments:**

    - ``history``: ``Trainer.history`` (per-epoch lists).
    - ``path``: the PNG file to write.
    - ``title``: the figure's title.

    **Returns:** ``path`` as a string. Raises ImportError with an install hint when matplotlib is missing.
    """
    fig = history_figure(history, title)
    try:
        with atomic_write(path) as f:
            fig.savefig(f, dpi=100, format="png")
    finally:
        _pyplot().close(fig)
    return os.fspath(path)
