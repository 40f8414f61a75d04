"""MatMul, Affine and Flatten (anynet.layers.core) on every backend: gradients, closed form, inputs left unchanged."""

from __future__ import annotations

import numpy as np

import anynet
from anynet.testing import arr, away_from_zero, host, layer_table_tests

F64 = "float64"

# name -> (layer factory (float64), input shape)
LAYERS = {
    "MatMul": (lambda: anynet.MatMul(4, 3, dtype=F64), (5, 4)),
    "Affine": (lambda: anynet.Affine(4, 3, dtype=F64), (5, 4)),
    "Flatten": (lambda: anynet.Flatten(), (2, 3, 2, 2)),
}


test_gradient, test_inputs_left_unchanged = layer_table_tests(LAYERS, away_from_zero)


def test_affine_forward_closed_form(backend):
    layer = anynet.Affine(2, 2, dtype=F64)
    layer.load_state_dict({"W": arr(backend, [[1.0, 2.0], [3.0, 4.0]]), "b": arr(backend, [0.5, -0.5])})
    y = layer.forward(arr(backend, [[1.0, 1.0], [0.0, 2.0]]))
    np.testing.assert_allclose(host(y), [[4.5, 5.5], [6.5, 7.5]])
    assert len(layer.params) == 2 and [p.name for p in layer.params] == ["W", "b"]
    assert layer.W.shape == (2, 2) and layer.b.shape == (2,)
