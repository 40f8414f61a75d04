"""Activations (anynet.layers.activations) on every backend: gradients, closed-form values, stability,
inputs left unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet.testing import arr, away_from_zero, host, layer_table_tests

LAYERS = {
    "ReLU": lambda: anynet.ReLU(),
    "LeakyReLU": lambda: anynet.LeakyReLU(0.1),
    "ELU": lambda: anynet.ELU(),
    "Sigmoid": lambda: anynet.Sigmoid(),
    "Tanh": lambda: anynet.Tanh(),
    "Softmax": lambda: anynet.Softmax(),
    "LogSoftmax": lambda: anynet.LogSoftmax(),
    "GELU": lambda: anynet.GELU(),
}
SHAPE = (4, 5)


test_gradient, test_inputs_left_unchanged = layer_table_tests(
    {name: (make, SHAPE) for name, make in LAYERS.items()}, away_from_zero
)


def test_activation_values(backend):
    x = arr(backend, [[-2.0, 0.5, 3.0]])
    np.testing.assert_allclose(host(anynet.ReLU().forward(x)), [[0.0, 0.5, 3.0]])
    np.testing.assert_allclose(host(anynet.LeakyReLU(0.1).forward(x)), [[-0.2, 0.5, 3.0]])
    np.testing.assert_allclose(host(anynet.ELU().forward(x)), [[np.expm1(-2.0), 0.5, 3.0]])
    np.testing.assert_allclose(host(anynet.Sigmoid().forward(x)), 1 / (1 + np.exp([[2.0, -0.5, -3.0]])))
    np.testing.assert_allclose(host(anynet.Tanh().forward(x)), np.tanh([[-2.0, 0.5, 3.0]]))
    e = np.exp([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(host(anynet.Softmax().forward(x)), [e / e.sum()])
    np.testing.assert_allclose(host(anynet.LogSoftmax().forward(x)), [np.log(e / e.sum())])


def test_softmax_is_stable_for_large_scores(backend):
    x = arr(backend, [[1000.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(host(anynet.Softmax().forward(x)), [[0.5, 0.5, 0.0]])
    assert np.isfinite(host(anynet.LogSoftmax().forward(x))).all()
    assert np.isfinite(host(anynet.Sigmoid().forward(arr(backend, [-1000.0, 1000.0])))).all()


def test_gelu_closed_form(backend):
    x = [-3.0, -1.0, 0.0, 0.5, 2.0]
    y = host(anynet.GELU().forward(arr(backend, np.array(x))))
    c = math.sqrt(2 / math.pi)
    expected = [0.5 * v * (1 + math.tanh(c * (v + 0.044715 * v ** 3))) for v in x]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
    # the tanh form stays within 5e-4 of the exact x * Phi(x)
    exact = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x]
    np.testing.assert_allclose(y, exact, atol=5e-4)


def test_gelu_agrees_with_torch_tanh_form():
    torch = pytest.importorskip("torch", reason="the comparison with torch's gelu needs torch")
    x0, d0 = 4.0 * np.random.default_rng(0).standard_normal(50), np.random.default_rng(1).standard_normal(50)
    x = torch.tensor(x0, requires_grad=True)
    y = torch.nn.functional.gelu(x, approximate="tanh")
    y.backward(torch.from_numpy(d0))
    layer = anynet.GELU()
    np.testing.assert_allclose(layer.forward(x0), y.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(layer.backward(d0), x.grad.numpy(), rtol=1e-12, atol=1e-14)
