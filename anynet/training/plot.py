"""Learning curves with matplotlib (the optional extra ``plot``)."""

from __future__ import annotations

import os

from ..files import atomic_write

__all__ = ["plot_history"]


def plot_history(history: dict[str, list[float]], path: str | os.PathLike, title: str = "") -> str:
    """Write loss and accuracy per epoch (train and validation) to the PNG ``path``; returns it.

    Raises ImportError with an install hint when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plotting needs matplotlib: pip install 'anynet[plot]'") from err
    panels = [m for m in ("loss", "accuracy") if m in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        epochs = range(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_write(path) as f:
            fig.savefig(f, dpi=100, format="png")
    finally:
        plt.close(fig)
    return os.fspath(path)
