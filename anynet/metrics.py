"""Metrics kept as 0-d device arrays (convert with float() once per report)."""

from __future__ import annotations

from typing import Any

from .backend import namespace
from .functional import accumulation_dtype

__all__ = ["accuracy"]


def accuracy(y: Any, t: Any) -> Any:
    """Fraction of score rows y (..., C) whose argmax equals the label t (...) ; t may also be
    one-hot (or probability) rows of y's shape. (N, C) with (N,), or (N, T, C) with (N, T)."""
    xp = namespace(y, t, where="accuracy")
    if t.ndim == y.ndim and tuple(t.shape) == tuple(y.shape):
        t = xp.argmax(t, axis=-1)
    if y.ndim < 2 or tuple(t.shape) != tuple(y.shape[:-1]):
        raise ValueError(f"accuracy: expected scores y (..., C) and labels t (...) or one-hot t like y, "
                         f"got {tuple(y.shape)} and {tuple(t.shape)}")
    predicted = xp.argmax(y, axis=-1)
    hits = predicted == xp.astype(t, predicted.dtype, copy=False)
    # float32 for half-precision scores: a float16 mean of a batch above 2048 loses whole counts
    return xp.mean(xp.astype(hits, accumulation_dtype(xp, y.dtype)))
