"""Sequential (anynet.layers.containers) on every backend: a gradient check through it, train/eval for every layer,
and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import arr, away_from_zero, check_inputs_unchanged, host
from anynet.testing.gradcheck import check_layer

F64 = "float64"


def _net():
    return anynet.Sequential(anynet.Affine(3, 4, dtype=F64), anynet.Tanh(), anynet.Affine(4, 2, dtype=F64))


def test_gradient(backend):
    layer = _net()
    x = arr(backend, away_from_zero((5, 3), np.random.default_rng(0)))
    for p in layer.params:  # check every parameter, not one per layer only
        assert p.data.dtype == x.dtype
    check_layer(layer, x)


def test_inputs_left_unchanged(backend):
    check_inputs_unchanged(backend, _net(), away_from_zero((5, 3), np.random.default_rng(1)))


def test_container_train_eval_switches_every_layer(backend):
    net = anynet.MLP(4, [8], 2, dropout=0.5, batchnorm=True)
    net.eval()
    assert all(not layer.training for layer in net)
    x = arr(backend, np.ones((3, 4)), "float32")
    np.testing.assert_array_equal(host(net.forward(x)), host(net.predict(x)))
    net.train()
    assert all(layer.training for layer in net)


def test_a_cell_in_a_sequential_says_to_use_the_time_layer():
    with pytest.raises(TypeError, match="LSTM: a cell takes its state.*use TimeLSTM"):
        anynet.Sequential(anynet.LSTM(3, 4))
