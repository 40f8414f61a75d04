"""The generated data sets (anynet.data.synthetic)."""

from __future__ import annotations

import numpy as np

import anynet
import anynet.data.images


def test_linear_regression_is_the_stated_problem():
    x, t = anynet.data.linear_regression(n=500, noise=0.0)
    assert x.shape == (500, 2) and t.shape == (500, 1) and x.dtype == np.float32
    w, *_ = np.linalg.lstsq(x.astype(np.float64), t[:, 0].astype(np.float64), rcond=None)
    np.testing.assert_allclose(w, [2.0, -30.0], atol=1e-4)
