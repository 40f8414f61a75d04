"""TimeSoftmaxWithLoss (anynet.losses.time) on every backend: padding ignored, gradients, reductions, errors."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import arr, host
from anynet.testing.gradcheck import check_loss

F64 = "float64"
N, T, D, H = 2, 3, 3, 4


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _labels():
    return np.array([[0, 2, -1], [1, -1, 3]])


def test_time_softmax_loss_value_ignores_padding(backend):
    x0 = randn((2, 3, 4))
    t0 = _labels()
    loss = anynet.TimeSoftmaxWithLoss()
    value = loss.forward(arr(backend, x0), arr(backend, t0))
    logp = x0 - np.log(np.exp(x0).sum(axis=2, keepdims=True))
    keep = t0 != -1
    expected = -np.mean([logp[n, t, t0[n, t]] for n, t in zip(*np.nonzero(keep))])
    np.testing.assert_allclose(float(value), expected, rtol=1e-12)
    dx = host(loss.backward())
    np.testing.assert_array_equal(dx[~keep], 0.0)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_time_softmax_loss_gradient(backend, reduction):
    check_loss(anynet.TimeSoftmaxWithLoss(reduction=reduction), arr(backend, randn((2, 3, 4))),
               arr(backend, _labels()))


def test_time_softmax_loss_none_reduction(backend):
    x0, t0 = randn((2, 3, 4)), _labels()
    loss = anynet.TimeSoftmaxWithLoss(reduction="none")
    per = host(loss.forward(arr(backend, x0), arr(backend, t0)))
    assert per.shape == (2, 3) and per[0, 2] == 0.0 and per[1, 1] == 0.0
    total = anynet.TimeSoftmaxWithLoss(reduction="sum")
    np.testing.assert_allclose(per.sum(), float(total.forward(arr(backend, x0), arr(backend, t0))), rtol=1e-12)
    dout = arr(backend, np.ones((2, 3)))
    np.testing.assert_allclose(host(loss.backward(dout)), host(total.backward()), rtol=1e-12)


def test_time_softmax_loss_errors():
    loss = anynet.TimeSoftmaxWithLoss()
    with pytest.raises(ValueError, match=r"expected labels t of shape \(2, 3\), got \(2,\)"):
        loss.forward(np.zeros((2, 3, 4)), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="labels must lie"):
        loss.forward(np.zeros((1, 2, 4)), np.array([[0, 4]]))
