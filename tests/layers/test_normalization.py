"""LayerNorm (anynet.layers.normalization) on every backend: gradients, closed form, inputs unchanged,
agreement with torch.nn.LayerNorm."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet.testing import arr, check_inputs_unchanged, host
from anynet.testing.gradcheck import check_layer

F64 = "float64"


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _layer_norm(D, seed=3):
    """A LayerNorm with gamma and beta away from 1 and 0, so their gradients are tested too."""
    layer = anynet.LayerNorm(D, dtype=F64)
    dev = anynet.current_device()
    layer.gamma.data = dev.from_numpy(1.0 + 0.5 * randn((D,), seed))
    layer.beta.data = dev.from_numpy(randn((D,), seed + 1))
    return layer


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)])
def test_layer_norm_gradient(backend, shape):
    check_layer(_layer_norm(shape[-1]), arr(backend, randn(shape)))


def test_layer_norm_closed_form(backend):
    layer = anynet.LayerNorm(4, eps=0.0, dtype=F64)
    y = host(layer.forward(arr(backend, [[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 6.0]])))
    # row 1: mean 2.5, var 1.25; row 2: mean 3, var 3
    s1, s2 = math.sqrt(1.25), math.sqrt(3.0)
    expected = [[-1.5 / s1, -0.5 / s1, 0.5 / s1, 1.5 / s1], [-1 / s2, -1 / s2, -1 / s2, 3 / s2]]
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_layer_norm_parameters():
    layer = anynet.LayerNorm(3)
    assert [p.name for p in layer.params] == ["gamma", "beta"]
    assert layer.gamma.dtype == np.float32
    np.testing.assert_array_equal(host(layer.gamma.data), np.ones(3))


def test_layer_norm_inputs_unchanged(backend):
    check_inputs_unchanged(backend, _layer_norm(5), randn((2, 3, 5)))


def test_layer_norm_errors():
    layer = anynet.LayerNorm(4)
    with pytest.raises(ValueError, match=r"LayerNorm: expected x of shape \(\.\.\., 4\), got \(2, 3\)"):
        layer.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="LayerNorm: expected x of dtype float32"):
        layer.forward(np.zeros((2, 4), np.float64))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((2, 4), np.float32))


# -- against PyTorch --------------------------------------------------------------


def test_layer_norm_agrees_with_torch():
    torch = pytest.importorskip("torch", reason="the comparison with torch.nn.LayerNorm needs torch")
    x0, d0 = randn((3, 4, 6)), randn((3, 4, 6), seed=1)
    ours = _layer_norm(6)
    theirs = torch.nn.LayerNorm(6, eps=ours.eps, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(host(ours.gamma.data)))
        theirs.bias.copy_(torch.from_numpy(host(ours.beta.data)))
    x = torch.tensor(x0, requires_grad=True)
    y = theirs(x)
    y.backward(torch.from_numpy(d0))
    np.testing.assert_allclose(ours.forward(x0), y.detach().numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(ours.backward(d0), x.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours.gamma.grad, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours.beta.grad, theirs.bias.grad.numpy(), rtol=1e-12, atol=1e-13)
