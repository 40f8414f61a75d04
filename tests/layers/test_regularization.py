"""Dropout and BatchNorm (anynet.layers.regularization) on every backend: gradients, statistics,
train and eval modes, seeded masks, inputs left unchanged."""

from __future__ import annotations

import numpy as np

import anynet
from anynet.testing import arr, away_from_zero, host, layer_table_tests, tie_free

F64 = "float64"

# name -> (layer factory (float64), input shape, train flag, reseed, input maker)
LAYERS = {
    "Dropout": (lambda: anynet.Dropout(0.3), (4, 5), True, 7, away_from_zero),
    "BatchNorm-train": (lambda: anynet.BatchNorm(3, dtype=F64), (6, 3), True, None, away_from_zero),
    "BatchNorm-eval": (lambda: anynet.BatchNorm(3, dtype=F64), (6, 3), False, None, away_from_zero),
    "BatchNorm-4d": (lambda: anynet.BatchNorm(2, dtype=F64), (3, 2, 2, 3), True, None, away_from_zero),
    "BatchNorm-4d-train": (lambda: anynet.BatchNorm(3, dtype=F64), (4, 3, 2, 3), True, None, tie_free),
    "BatchNorm-4d-eval": (lambda: anynet.BatchNorm(3, dtype=F64), (4, 3, 2, 3), False, None, tie_free),
}


test_gradient, test_inputs_left_unchanged = layer_table_tests(LAYERS)


def test_dropout_train_and_eval(backend):
    layer = anynet.Dropout(0.5)
    x = arr(backend, np.ones((200, 50)), "float32")
    y = host(layer.forward(x, train=True))
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6  # inverted: kept units are scaled by 1/(1-0.5)
    np.testing.assert_array_equal(host(layer.forward(x, train=False)), host(x))
    layer.eval()
    np.testing.assert_array_equal(host(layer.forward(x)), host(x))


def test_dropout_masks_repeat_with_the_seed(backend):
    x = arr(backend, np.ones((10, 10)), "float32")
    anynet.seed(3)
    a = host(anynet.Dropout(0.5).forward(x, train=True))
    anynet.seed(3)
    b = host(anynet.Dropout(0.5).forward(x, train=True))
    np.testing.assert_array_equal(a, b)


def test_batchnorm_normalises_and_tracks_running_statistics(backend):
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((64, 3)) * [1.0, 2.0, 3.0] + [5.0, -1.0, 0.0]
    bn = anynet.BatchNorm(3, momentum=0.5, dtype=F64)
    y = host(bn.forward(arr(backend, x0), train=True))
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=1e-3)
    np.testing.assert_allclose(host(bn.running_mean), 0.5 * x0.mean(axis=0))
    np.testing.assert_allclose(host(bn.running_var), 0.5 + 0.5 * x0.var(axis=0))
    y_eval = host(bn.forward(arr(backend, x0), train=False))
    expected = (x0 - host(bn.running_mean)) / np.sqrt(host(bn.running_var) + bn.eps)
    np.testing.assert_allclose(y_eval, expected)


def test_batchnorm_4d_normalises_per_channel(backend):
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((8, 3, 4, 4)) * np.array([1.0, 2.0, 3.0])[:, None, None] + 5.0
    y = host(anynet.BatchNorm(3, dtype=F64).forward(arr(backend, x0), train=True))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1.0, atol=1e-3)
