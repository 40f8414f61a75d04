"""Data sets generated on the host, needing no files."""

from __future__ import annotations

import numpy as np

__all__ = ["linear_regression", "spiral"]


def spiral(points_per_class: int = 100, classes: int = 3, seed: int = 1984, one_hot: bool = False):
    """The book's spiral: ``classes`` interleaved arms of 2-D points.

    **Arguments:**

    - ``points_per_class``: the points of each arm.
    - ``classes``: the number of arms.
    - ``seed``: the generator's seed (another seed: another draw, e.g. a held-out set).
    - ``one_hot``: labels as one-hot rows instead of class indices.

    **Returns:** host arrays x (N, 2) float32 and t, (N,) int64 labels or (N, classes) float32
    one-hot, with N = points_per_class * classes.
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


def linear_regression(n: int = 200, weights=(2.0, -30.0), bias: float = 0.0, noise: float = 0.1,
                      seed: int = 0):
    """Toy regression data y = x @ weights + bias + noise, with x uniform in [-1, 1).

    The default is the problem y = 2*x0 - 30*x1. Returns host float32 arrays
    x (n, len(weights)) and t (n, 1).
    """
    rng = np.random.default_rng(seed)
    w = np.asarray(weights, dtype=np.float64)
    x = rng.uniform(-1.0, 1.0, size=(n, w.shape[0]))
    t = x @ w + bias + noise * rng.standard_normal(n)
    return x.astype(np.float32), t.astype(np.float32)[:, None]
