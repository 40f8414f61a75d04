"""Residual and GlobalAvgPool (anynet.layers.residual, anynet.layers.global_pool) on every backend: gradient
checks through residual blocks, the definitions, parameter order and state, errors."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.layers import GlobalAvgPool, Residual
from anynet.models import BasicBlock, Bottleneck
from anynet.testing import arr, host, layer_table_tests, tie_free
from anynet.testing.gradcheck import check_layer

F64 = "float64"


def _identity_block(C=1):
    body = anynet.Sequential(anynet.Conv(C, C, 3, pad=1, dtype=F64), anynet.Tanh(), anynet.Conv(C, C, 1, dtype=F64))
    return Residual(body)


def _projection_block(C=1):
    body = anynet.Sequential(anynet.Conv(C, 2, 3, stride=2, pad=1, dtype=F64), anynet.BatchNorm(2, dtype=F64))
    shortcut = anynet.Sequential(anynet.Conv(C, 2, 1, stride=2, dtype=F64), anynet.BatchNorm(2, dtype=F64))
    return Residual(body, shortcut, anynet.Tanh())


# name -> (layer factory (float64), input shape[, train]); element by element, so kept tiny
LAYERS = {
    "Residual-identity": (_identity_block, (2, 1, 3, 3)),
    "Residual-projection": (_projection_block, (2, 1, 3, 3), True),
    "BasicBlock-eval": (lambda: BasicBlock(1, 1, dtype=F64), (2, 1, 3, 3), False),
    "GlobalAvgPool": (GlobalAvgPool, (2, 3, 3, 2)),
}

test_gradient, test_inputs_left_unchanged = layer_table_tests(LAYERS)


# The ResNet blocks in training mode (batch statistics, a strided projection shortcut), along a few
# random directions: every part of them is also checked element by element above.
@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_training_block_gradient(backend, block):
    layer = BasicBlock(2, 3, stride=2, dtype=F64) if block == "basic" else Bottleneck(2, 1, stride=2, dtype=F64)
    check_layer(layer, arr(backend, tie_free((3, 2, 5, 4), np.random.default_rng(5))), tol=1e-6, train=True,
                directions=3)


def test_residual_is_body_plus_shortcut(backend):
    block = _projection_block(2)
    x0 = np.random.default_rng(0).standard_normal((2, 2, 5, 4))
    x = arr(backend, x0)
    y = host(block.forward(x, train=False))
    f = host(block.body.forward(x, train=False)) + host(block.shortcut.forward(x, train=False))
    np.testing.assert_allclose(y, np.tanh(f), rtol=1e-12)
    identity = _identity_block(2)
    np.testing.assert_allclose(host(identity.forward(x[:, :, :4, :])),
                               host(identity.body.forward(x[:, :, :4, :])) + x0[:, :, :4, :], rtol=1e-12)


def test_the_gradient_splits_and_sums(backend):
    """Backward of an identity block is dout through the body plus dout itself."""
    block = _identity_block(2)
    rng = np.random.default_rng(1)
    x, dout = arr(backend, rng.standard_normal((2, 2, 4, 4))), arr(backend, rng.standard_normal((2, 2, 4, 4)))
    block.forward(x)
    dx = host(block.backward(dout))
    block.body.forward(x)
    np.testing.assert_allclose(dx, host(block.body.backward(dout)) + host(dout), rtol=1e-12)


def test_global_avg_pool_closed_form(backend):
    x0 = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    pool = GlobalAvgPool()
    np.testing.assert_array_equal(host(pool.forward(arr(backend, x0))), x0.mean(axis=(2, 3)))
    dx = host(pool.backward(arr(backend, np.ones((2, 3)))))
    np.testing.assert_array_equal(dx, np.full((2, 3, 2, 2), 0.25))
    assert pool.output_shape((3, 2, 2)) == (3,) and pool.params == []


def test_parameters_and_state_names():
    block = BasicBlock(4, 8, stride=2)
    assert [p.name for p in block.params] == ["W", "b", "gamma", "beta", "W", "b", "gamma", "beta",
                                              "W", "b", "gamma", "beta"]
    keys = list(block.state_dict())
    assert keys[:4] == ["body.0.W", "body.0.b", "body.1.gamma", "body.1.beta"]
    assert "shortcut.0.W" in keys and "shortcut.1.running_var" in keys
    assert BasicBlock(4, 4).shortcut is None and len(BasicBlock(4, 4).params) == 8
    assert Bottleneck(8, 2).shortcut is None and Bottleneck(4, 2).shortcut is not None
    other = BasicBlock(4, 8, stride=2)
    other.load_state_dict(block.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(other.forward(x, train=False), block.forward(x, train=False))


def test_zero_init_starts_as_the_shortcut():
    block = BasicBlock(3, 3, zero_init=True)
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(block.forward(x, train=True), np.maximum(x, 0.0))


def test_errors_name_the_layer_and_change_nothing():
    with pytest.raises(TypeError, match="Residual: body must be a Layer, got int"):
        Residual(3)
    with pytest.raises(TypeError, match="Residual: shortcut must be a Layer or None, got str"):
        Residual(anynet.ReLU(), "conv")
    block = Residual(anynet.Conv(2, 3, 3, pad=1))
    with pytest.raises(ValueError, match=r"Residual: the body maps x of shape \(1, 2, 4, 4\) to \(1, 3, 4, 4\) "
                                         r"and the identity to \(1, 2, 4, 4\)"):
        block.forward(np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(RuntimeError, match="Residual: backward called before forward"):
        block.backward(np.zeros((1, 3, 4, 4), np.float32))
    ok = Residual(anynet.Conv(2, 2, 3, pad=1))
    ok.forward(np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"Residual: expected dout of shape \(1, 2, 4, 4\), got \(1, 2, 4, 3\)"):
        ok.backward(np.zeros((1, 2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"GlobalAvgPool: expected x of shape \(N, C, H, W\), got \(2, 3\)"):
        GlobalAvgPool().forward(np.zeros((2, 3), np.float32))


def test_a_refused_forward_changes_nothing():
    block = Residual(anynet.Sequential(anynet.Conv(2, 3, 3, pad=1), anynet.BatchNorm(3)))
    before = {k: np.array(v) for k, v in block.state_dict().items()}
    with pytest.raises(ValueError, match="Residual: the body maps"):
        block.forward(np.ones((2, 2, 4, 4), np.float32), train=True)
    for key, value in block.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    assert block.body[0].x is None and block.out_shape is None
