"""Data sets generated on the host, needing no files."""

from __future__ import annotations

import numpy as np

__all__ = ["spiral"]


def spiral(points_per_class: int = 100, classes: int = 3, seed: int = 1984, one_hot: bool = False):
    """The book's spiral: ``classes`` interleaved arms of 2-D points.

    Returns host arrays x (N, 2) float32 and t, (N,) int64 labels or (N, classes)
    float32 one-hot, with N = points_per_class * classes.
    """
    rng = np.random.default_rng(seed)
    x = np.empty((points_per_class * classes, 2), dtype=np.float32)
    t = np.empty(points_per_class * classes, dtype=np.int64)
    for j in range(classes):
        rate = np.arange(points_per_class) / points_per_class
        radius = 1.0 * rate
        theta = j * 4.0 + 4.0 * rate + rng.standard_normal(points_per_class) * 0.2
        rows = slice(j * points_per_class, (j + 1) * points_per_class)
        x[rows, 0] = radius * np.sin(theta)
        x[rows, 1] = radius * np.cos(theta)
        t[rows] = j
    if one_hot:
        return x, np.eye(classes, dtype=np.float32)[t]
    return x, t
