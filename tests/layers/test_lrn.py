"""LRN (anynet.layers.lrn) on every backend: gradients, the closed form, inputs left unchanged."""

from __future__ import annotations

import numpy as np

import anynet
from anynet.testing import arr, host, layer_table_tests

F64 = "float64"

# name -> (layer factory, input shape)
LAYERS = {
    "LRN": (lambda: anynet.LRN(size=3, alpha=0.5, beta=0.75, k=1.0), (2, 5, 2, 3)),
    "LRN-even": (lambda: anynet.LRN(size=4, alpha=0.3, beta=0.6, k=2.0), (2, 5, 2, 2)),
}


test_gradient, test_inputs_left_unchanged = layer_table_tests(LAYERS)


def test_lrn_closed_form(backend):
    rng = np.random.default_rng(6)
    x0 = rng.standard_normal((2, 6, 2, 2))
    size, alpha, beta, k = 5, 1e-2, 0.75, 2.0
    y = host(anynet.LRN(size, alpha, beta, k).forward(arr(backend, x0, F64)))
    expected = np.empty_like(x0)
    for c in range(6):
        lo, hi = max(0, c - size // 2), min(6, c + (size - 1) // 2 + 1)
        expected[:, c] = x0[:, c] / (k + alpha / size * np.sum(x0[:, lo:hi] ** 2, axis=1)) ** beta
    np.testing.assert_allclose(y, expected, rtol=1e-12)
