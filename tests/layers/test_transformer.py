"""Positional encodings and TransformerBlock (anynet.layers.transformer) on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet.testing import arr, check_inputs_unchanged, host
from anynet.testing.gradcheck import check_layer

from .test_attention import WithPadding

F64 = "float64"
N, T, D = 2, 3, 4


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# -- positional encodings --------------------------------------------------------------


@pytest.mark.parametrize("width", [6, 5])
def test_sinusoids_closed_form(backend, width):
    y = host(anynet.PositionalEncoding(8, width, dtype=F64).forward(arr(backend, np.zeros((1, 3, width)))))
    for t in range(3):
        for j in range(width):
            angle = t / 10000 ** (2 * (j // 2) / width)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            np.testing.assert_allclose(y[0, t, j], expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("learned", [False, True])
def test_positional_encoding_gradient(backend, learned):
    check_layer(anynet.PositionalEncoding(5, D, learned=learned, weight_init=0.5, dtype=F64),
                arr(backend, randn((N, T, D))))


def test_learned_positions_closed_form(backend):
    layer = anynet.PositionalEncoding(4, 2, learned=True, dtype=F64)
    table = randn((4, 2))
    layer.load_state_dict({"P": arr(backend, table)})
    x0 = randn((2, 3, 2))
    np.testing.assert_allclose(host(layer.forward(arr(backend, x0))), x0 + table[:3], rtol=1e-12)
    layer.backward(arr(backend, np.ones((2, 3, 2))))
    np.testing.assert_array_equal(host(layer.P.grad), [[2, 2], [2, 2], [2, 2], [0, 0]])


def test_positional_encoding_errors():
    layer = anynet.PositionalEncoding(2, 4)
    with pytest.raises(ValueError, match="PositionalEncoding: x has 3 steps, more than max_len=2"):
        layer.forward(np.zeros((1, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"PositionalEncoding: expected x of shape \(N, T, 4\), got \(1, 2, 3\)"):
        layer.forward(np.zeros((1, 2, 3), np.float32))


# -- TransformerBlock ------------------------------------------------------------------


def _block(causal=False, dropout=0.0):
    block = anynet.TransformerBlock(D, 2, hidden_size=6, causal=causal, dropout=dropout, dtype=F64)
    dev = anynet.current_device()
    for i, p in enumerate(block.params):  # every parameter away from its initial 0 or 1
        p.data = p.data + dev.from_numpy(0.2 * randn(p.shape, seed=40 + i))
    return block


@pytest.mark.parametrize("causal", [False, True])
def test_block_gradient(backend, causal):
    check_layer(_block(causal), arr(backend, randn((N, T, D))))


def test_block_gradient_with_padding_and_dropout(backend):
    layer = WithPadding(_block(causal=True, dropout=0.2), arr(backend, np.array([3, 2])))
    check_layer(layer, arr(backend, randn((N, T, D))), train=True, reseed=11)


def test_block_is_the_sum_of_its_parts(backend):
    block = _block()
    x0 = randn((N, T, D))
    x = arr(backend, x0)
    y = host(block.forward(x))
    h = x0 + host(block.attn.forward(block.ln1.forward(x)))
    f = host(block.ff2.forward(block.act.forward(block.ff1.forward(block.ln2.forward(arr(backend, h))))))
    np.testing.assert_allclose(y, h + f, rtol=1e-12)


def test_block_inputs_unchanged(backend):
    check_inputs_unchanged(backend, _block(causal=True, dropout=0.3), randn((N, T, D)), train=True)


def test_block_parameters_and_state():
    block = anynet.TransformerBlock(8, 2)
    assert [p.name for p in block.params] == ["gamma", "beta", "Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo",
                                              "gamma", "beta", "W", "b", "W", "b"]
    assert block.ff1.W.shape == (8, 32) and block.params[0].dtype == np.float32
    other = anynet.TransformerBlock(8, 2)
    other.load_state_dict(block.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    np.testing.assert_array_equal(other.forward(x), block.forward(x))
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({"ln1.gamma": block.ln1.gamma.data})
