"""MaxPool and AvgPool (anynet.layers.pooling) on every backend, with the fast kernels and under
the reference: gradients, closed forms, ties, inputs left unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import arr, host, layer_table_tests

F64 = "float64"

# name -> (layer factory, input shape); tie-free inputs keep each window's maximum under a small step
LAYERS = {
    "MaxPool": (lambda: anynet.MaxPool(2), (2, 2, 4, 4)),
    "MaxPool-overlap-pad": (lambda: anynet.MaxPool(3, stride=2, pad=1), (2, 2, 5, 5)),
    "MaxPool-remainder": (lambda: anynet.MaxPool((2, 3)), (1, 2, 5, 7)),
    "AvgPool": (lambda: anynet.AvgPool(2), (2, 2, 4, 4)),
    "AvgPool-overlap-pad": (lambda: anynet.AvgPool(3, stride=2, pad=1), (2, 2, 5, 5)),
}


test_gradient, test_inputs_left_unchanged = layer_table_tests(LAYERS)
KERNELS = pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradient_of_the_reference(backend, name):
    with anynet.kernels.reference():
        test_gradient(backend, name)


@KERNELS
def test_maxpool_closed_form_and_ties(backend, reference):
    x0 = np.array([[[[1.0, 3.0, 2.0, 2.0], [0.0, -1.0, 2.0, 2.0]]]])
    pool = anynet.MaxPool(2)
    with anynet.kernels.reference(reference):
        y = pool.forward(arr(backend, x0, F64))
    np.testing.assert_array_equal(host(y), [[[[3.0, 2.0]]]])
    dx = pool.backward(arr(backend, [[[[10.0, 20.0]]]], F64))  # the kernels forward chose, whatever the context
    # the tie of four 2s gives its gradient once, to the first (row-major), like argmax
    np.testing.assert_array_equal(host(dx), [[[[0.0, 10.0, 20.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])


@KERNELS
def test_avgpool_closed_form(backend, reference):
    x0 = np.arange(16.0).reshape(1, 1, 4, 4)
    with anynet.kernels.reference(reference):
        y = anynet.AvgPool(2).forward(arr(backend, x0, F64))
    np.testing.assert_allclose(host(y), [[[[2.5, 4.5], [10.5, 12.5]]]])
