"""SoftmaxWithLoss, SigmoidWithLoss, MeanSquaredError on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.gradcheck import check_loss
from anynet.testing import arr, host


def _logits(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_softmax_with_loss_value_and_gradient(backend):
    x0 = _logits((4, 3))
    t0 = np.array([0, 2, 1, 2])
    x, t = arr(backend, x0), arr(backend, t0)
    loss = anynet.SoftmaxWithLoss()
    logp = x0 - np.log(np.exp(x0).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(float(loss.forward(x, t)), -logp[np.arange(4), t0].mean())
    p = np.exp(logp)
    np.testing.assert_allclose(host(loss.backward()), (p - np.eye(3)[t0]) / 4)
    check_loss(anynet.SoftmaxWithLoss(), x, t)


def test_softmax_with_loss_one_hot_equals_indices(backend):
    x0, t0 = _logits((5, 4), 1), np.array([3, 0, 1, 1, 2])
    a, b = anynet.SoftmaxWithLoss(), anynet.SoftmaxWithLoss()
    la = float(a.forward(arr(backend, x0), arr(backend, t0)))
    lb = float(b.forward(arr(backend, x0), arr(backend, np.eye(4)[t0])))
    assert la == pytest.approx(lb)
    np.testing.assert_allclose(host(a.backward()), host(b.backward()))
    check_loss(anynet.SoftmaxWithLoss(), arr(backend, x0), arr(backend, np.eye(4)[t0]))


def test_softmax_with_loss_is_stable(backend):
    x = arr(backend, [[1000.0, -1000.0], [-1000.0, 1000.0]])
    value = float(anynet.SoftmaxWithLoss().forward(x, arr(backend, [0, 1])))
    assert value == pytest.approx(0.0)


def test_sigmoid_with_loss(backend):
    x0 = _logits((6, 2), 2)
    t0 = (np.random.default_rng(3).random((6, 2)) > 0.5).astype(np.float64)
    s = 1 / (1 + np.exp(-x0))
    expected = -(t0 * np.log(s) + (1 - t0) * np.log(1 - s)).mean()
    loss = anynet.SigmoidWithLoss()
    assert float(loss.forward(arr(backend, x0), arr(backend, t0))) == pytest.approx(expected)
    check_loss(anynet.SigmoidWithLoss(), arr(backend, x0), arr(backend, t0))


def test_mean_squared_error(backend):
    y0, t0 = _logits((5, 3), 4), _logits((5, 3), 5)
    loss = anynet.MeanSquaredError()
    assert float(loss.forward(arr(backend, y0), arr(backend, t0))) == pytest.approx(((y0 - t0) ** 2).mean())
    check_loss(anynet.MeanSquaredError(), arr(backend, y0), arr(backend, t0))


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_reductions(backend, reduction):
    y0, t0 = _logits((4, 2), 6), _logits((4, 2), 7)
    loss = anynet.MeanSquaredError(reduction=reduction)
    value = host(loss.forward(arr(backend, y0), arr(backend, t0)))
    per_sample = ((y0 - t0) ** 2).mean(axis=1)
    np.testing.assert_allclose(value, per_sample.sum() if reduction == "sum" else per_sample)
    dout = arr(backend, np.ones(4)) if reduction == "none" else 1.0
    np.testing.assert_allclose(host(loss.backward(dout)), (y0 - t0))  # 2 * diff / 2 features


@pytest.mark.parametrize("label_dtype", ["int32", "uint8"])
def test_narrow_integer_labels(backend, label_dtype):
    x0, t0 = _logits((3, 4), 8), np.array([3, 0, 2])
    a = float(anynet.SoftmaxWithLoss().forward(arr(backend, x0), arr(backend, t0)))
    b = float(anynet.SoftmaxWithLoss().forward(arr(backend, x0), arr(backend, t0, label_dtype)))
    assert a == b


def test_one_hot_of_narrow_labels_does_not_wrap_around(backend):
    from anynet.functional import one_hot

    t = arr(backend, [1, 200, 5], "uint8")
    h = host(one_hot(t, 300, backend.xp.float64))
    np.testing.assert_array_equal(h, np.eye(300)[[1, 200, 5]])
