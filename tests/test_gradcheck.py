"""Numerical gradients and the backward checkers (anynet.gradcheck), on every backend."""

from __future__ import annotations

import numpy as np

import anynet
from anynet.testing import arr, host


def test_numerical_gradient_like_the_book(backend):
    x = arr(backend, [3.0, 4.0])
    grad = anynet.numerical_gradient(lambda v: backend.xp.sum(v * v), x)
    np.testing.assert_allclose(host(grad), [6.0, 8.0], rtol=1e-6)
    np.testing.assert_array_equal(host(x), [3.0, 4.0])
