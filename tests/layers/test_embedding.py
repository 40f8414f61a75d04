"""Embedding and TimeEmbedding (anynet.layers.embedding) on every backend: lookup, gradients with
repeated ids, errors."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import arr, host
from anynet.testing.gradcheck import check_backward

F64 = "float64"
N, T, D, H = 2, 3, 3, 4


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("time", [False, True])
def test_embedding_repeated_ids(backend, time):
    V, E = 5, 3
    ids0 = np.array([[1, 3, 1], [1, 0, 3]]) if time else np.array([2, 4, 2, 2, 0])
    layer = (anynet.TimeEmbedding if time else anynet.Embedding)(V, E, dtype=F64)
    W = host(layer.W.data)
    ids = arr(backend, ids0)
    out = layer.forward(ids)
    np.testing.assert_array_equal(host(out), W[ids0])
    d0 = randn(ids0.shape + (E,), seed=2)
    dout = arr(backend, d0)
    assert layer.backward(dout) is None
    expected = np.zeros((V, E))
    np.add.at(expected, ids0.reshape(-1), d0.reshape(-1, E))
    np.testing.assert_allclose(host(layer.W.grad), expected, rtol=1e-12)
    np.testing.assert_array_equal(host(ids), ids0)
    np.testing.assert_array_equal(host(dout), d0)
    # and against numerical gradients of sum(out * dout) in W; the integer ids get no gradient
    assert check_backward(layer.forward, layer.backward, (ids,), dout, layer.params, tol=1e-7).keys() == {"0:W"}


def test_embedding_errors():
    layer = anynet.TimeEmbedding(5, 3)
    with pytest.raises(ValueError, match=r"TimeEmbedding: expected ids of shape \(N, T\), got \(4,\)"):
        layer.forward(np.array([1, 2, 3, 4]))
    with pytest.raises(TypeError, match="integer ids"):
        layer.forward(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\)"):
        layer.forward(np.array([[1, 5]]))
