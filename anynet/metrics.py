"""Metrics kept as 0-d device arrays (convert with float() once per report)."""

from __future__ import annotations

from typing import Any

from .backend import namespace

__all__ = ["accuracy"]


def accuracy(y: Any, t: Any) -> Any:
    """Fraction of rows of scores ``y`` (N, C) whose argmax equals ``t`` ((N,) labels or (N, C) one-hot)."""
    xp = namespace(y, t, where="accuracy")
    if t.ndim == 2:
        t = xp.argmax(t, axis=1)
    if tuple(t.shape) != (y.shape[0],) or y.ndim != 2:
        raise ValueError(f"accuracy: expected y (N, C) and t (N,) or (N, C), got {tuple(y.shape)} and {tuple(t.shape)}")
    predicted = xp.argmax(y, axis=1)
    hits = predicted == xp.astype(t, predicted.dtype)
    return xp.mean(xp.astype(hits, y.dtype))
