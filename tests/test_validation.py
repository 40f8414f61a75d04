"""Bad input gets a clear error naming the layer, what was expected and what came (anynet.validation
and the checks that call it). Messages of one module are also pinned in that module's tests."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import arr


def test_wrong_shape_names_layer_and_shapes(backend):
    layer = anynet.Affine(784, 10)
    with pytest.raises(ValueError, match=r"Affine: expected x of shape \(N, 784\), got \(32, 28, 28\)"):
        layer.forward(arr(backend, np.zeros((32, 28, 28)), "float32"))
    with pytest.raises(ValueError, match=r"Affine: expected x of shape \(N, 784\), got \(32, 783\)"):
        layer.forward(arr(backend, np.zeros((32, 783)), "float32"))


def test_integers_into_affine(backend):
    with pytest.raises(TypeError, match=r"Affine: expected x of a floating dtype, got .*int.* \(2, 3\)"):
        anynet.Affine(3, 2).forward(arr(backend, np.ones((2, 3), dtype=np.int64)))


def test_dtype_must_match_the_parameters(backend):
    with pytest.raises(TypeError, match=r"Affine: expected x of dtype .*float32.*got .*float64"):
        anynet.Affine(3, 2).forward(arr(backend, np.ones((2, 3))))


def test_empty_batch(backend):
    with pytest.raises(ValueError, match=r"Affine: empty batch: x has shape \(0, 3\)"):
        anynet.Affine(3, 2).forward(arr(backend, np.ones((0, 3)), "float32"))
    with pytest.raises(ValueError, match=r"ReLU: empty batch"):
        anynet.ReLU().forward(arr(backend, np.ones((0, 3)), "float32"))


def test_labels_out_of_range(backend):
    x = arr(backend, np.zeros((3, 4)), "float32")
    with anynet.debug():
        with pytest.raises(ValueError, match=r"SoftmaxWithLoss: labels must lie in \[0, 4\).*\[0, 4\]"):
            anynet.SoftmaxWithLoss().forward(x, arr(backend, [0, 4, 1]))
        with pytest.raises(ValueError, match=r"SoftmaxWithLoss: labels must lie in"):
            anynet.SoftmaxWithLoss().forward(x, arr(backend, [0, -1, 1]))


def test_label_shape_and_dtype(backend):
    x = arr(backend, np.zeros((3, 4)), "float32")
    with pytest.raises(ValueError, match=r"SoftmaxWithLoss: expected labels t of shape \(3,\) or \(3, 4\), got \(2,\)"):
        anynet.SoftmaxWithLoss().forward(x, arr(backend, [0, 1]))
    with pytest.raises(ValueError, match=r"MeanSquaredError: expected t of shape \(3, 4\) like y, got \(3,\)"):
        anynet.MeanSquaredError().forward(x, arr(backend, np.zeros(3), "float32"))


def test_nan_in_input(backend):
    x = arr(backend, [[1.0, np.nan, 0.0]], "float32")
    with anynet.debug():
        with pytest.raises(ValueError, match=r"ReLU: x of shape \(1, 3\) holds 1 NaN or Inf"):
            anynet.ReLU().forward(x)
        with pytest.raises(ValueError, match=r"MLP: x of shape \(1, 3\) holds 1 NaN"):
            anynet.MLP(3, [2], 2).forward(x)


def test_value_checks_are_on_by_default_for_numpy_only():
    x = np.array([[1.0, np.nan]], dtype=np.float32)
    with pytest.raises(ValueError, match="NaN"):
        anynet.ReLU().forward(x)
    with anynet.debug(False):
        anynet.ReLU().forward(x)  # off when asked


def test_dout_shape_and_order(backend):
    layer = anynet.Affine(3, 2)
    with pytest.raises(RuntimeError, match="Affine: backward called before forward"):
        layer.backward(arr(backend, np.ones((1, 2)), "float32"))
    layer.forward(arr(backend, np.ones((4, 3)), "float32"))
    with pytest.raises(ValueError, match=r"Affine: expected dout of shape \(4, 2\), got \(4, 3\)"):
        layer.backward(arr(backend, np.ones((4, 3)), "float32"))


def test_state_that_does_not_fit(backend):
    layer = anynet.Affine(3, 2)
    with pytest.raises(ValueError, match=r"Affine: W has shape \(3, 2\), the state gives \(2, 2\)"):
        layer.load_state_dict({"W": arr(backend, np.ones((2, 2)), "float32"), "b": layer.b.data})
    with pytest.raises(ValueError, match="missing"):
        layer.load_state_dict({"W": layer.W.data})
