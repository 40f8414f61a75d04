"""The classification losses (anynet.losses.classification) on every backend: the fused pairs agree with
their chains, guarded undefined cases, label forms and dtypes. Values, gradients and reductions of every
loss: test_base.py."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import losses as L
from anynet.testing import arr, host

R = np.random.default_rng(7)
N, C = 4, 3
LOGITS = R.standard_normal((N, C))
LABELS = np.array([0, 2, 1, 2])
ONE_HOT = np.eye(C)[LABELS]
Y3, T3 = R.standard_normal((3, 2, 2)), R.standard_normal((3, 2, 2))


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _logits(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


PROBS = _softmax(LOGITS)


def test_softmax_with_loss_is_log_softmax_then_sparse_cross_entropy(backend):
    x, t = arr(backend, LOGITS), arr(backend, LABELS)
    fused = L.SoftmaxWithLoss()
    value = float(fused.forward(x, t))
    dx = host(fused.backward())

    log_softmax, sparse = anynet.LogSoftmax(), L.SparseCategoricalCrossEntropy()
    logp = log_softmax.forward(x)
    p = backend.xp.exp(logp)
    assert float(sparse.forward(p, t)) == pytest.approx(value, rel=1e-12)
    chained = log_softmax.backward(sparse.backward() * p)  # d exp(z)/dz = exp(z)
    np.testing.assert_allclose(host(chained), dx, rtol=1e-9, atol=1e-12)

    softmax = anynet.Softmax()
    p = softmax.forward(x)
    assert float(sparse.forward(p, t)) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(host(softmax.backward(sparse.backward())), dx, rtol=1e-9, atol=1e-12)

    from_logits = L.SparseCategoricalCrossEntropy(from_logits=True)
    assert float(from_logits.forward(x, t)) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(host(from_logits.backward()), dx, rtol=1e-12, atol=1e-15)

    book = L.CrossEntropy()
    assert float(book.forward(arr(backend, PROBS), t)) == pytest.approx(value, rel=1e-6)  # up to delta


def test_sigmoid_with_loss_is_sigmoid_then_binary_cross_entropy(backend):
    x, t = arr(backend, Y3), arr(backend, (T3 > 0).astype(np.float64))
    fused = L.SigmoidWithLoss()
    value = float(fused.forward(x, t))
    dx = host(fused.backward())
    sigmoid, bce = anynet.Sigmoid(), L.BinaryCrossEntropy()
    s = sigmoid.forward(x)
    assert float(bce.forward(s, t)) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(host(sigmoid.backward(bce.backward())), dx, rtol=1e-9, atol=1e-12)
    from_logits = L.BinaryCrossEntropy(from_logits=True)
    assert float(from_logits.forward(x, t)) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(host(from_logits.backward()), dx, rtol=1e-12)


def test_one_hot_and_index_targets_agree(backend):
    a, b = L.CrossEntropy(), L.CrossEntropy()
    y = arr(backend, PROBS)
    assert float(a.forward(y, arr(backend, LABELS))) == pytest.approx(float(b.forward(y, arr(backend, ONE_HOT))))
    np.testing.assert_allclose(host(a.backward()), host(b.backward()))
    c, d = L.CategoricalCrossEntropy(), L.SparseCategoricalCrossEntropy()
    assert float(c.forward(y, arr(backend, ONE_HOT))) == pytest.approx(float(d.forward(y, arr(backend, LABELS))))
    np.testing.assert_allclose(host(c.backward()), host(d.backward()))


def test_cross_entropy_guards_zero_and_negative_probabilities(backend, no_float_errors):
    y, t = arr(backend, [[0.0, 1.0], [-0.5, 1.5]]), arr(backend, [0, 0])
    loss = L.CrossEntropy()
    value = float(loss.forward(y, t))
    assert value == pytest.approx(-np.log(1e-7))  # both rows: log(max(y, 0) + delta) = log(1e-7)
    dy = host(loss.backward())
    assert dy[0, 0] == pytest.approx(-1 / 1e-7 / 2) and dy[1, 0] == 0.0
    for make in (L.CategoricalCrossEntropy, L.SparseCategoricalCrossEntropy):
        loss = make()
        target = arr(backend, np.eye(2)[[0, 0]]) if make is L.CategoricalCrossEntropy else t
        assert float(loss.forward(y, target)) == pytest.approx(-np.log(1e-7))  # clipped to eps
        np.testing.assert_array_equal(host(loss.backward())[:, 0], 0.0)  # the clip is active: no gradient


def test_binary_cross_entropy_guards_zero_and_one(backend, no_float_errors):
    y, t = arr(backend, [[0.0, 1.0, 1.2]]), arr(backend, [[1.0, 0.0, 0.0]])
    loss = L.BinaryCrossEntropy()
    expected = -(np.log(1e-7) + np.log(1e-7) + np.log(1e-7)) / 3
    assert float(loss.forward(y, t)) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_array_equal(host(loss.backward()), 0.0)


def test_hinge_takes_minus_one_plus_one_labels(backend):
    y, t = arr(backend, [[2.0, 0.5, -0.5]]), arr(backend, [[1.0, 1.0, 1.0]])
    assert float(L.Hinge().forward(y, t)) == pytest.approx((0 + 0.5 + 1.5) / 3)
    assert float(L.SquaredHinge().forward(y, t)) == pytest.approx((0 + 0.25 + 2.25) / 3)


def test_softmax_with_loss_is_stable(backend):
    x = arr(backend, [[1000.0, -1000.0], [-1000.0, 1000.0]])
    value = float(anynet.SoftmaxWithLoss().forward(x, arr(backend, [0, 1])))
    assert value == pytest.approx(0.0)


@pytest.mark.parametrize("label_dtype", ["int32", "uint8"])
def test_narrow_integer_labels(backend, label_dtype):
    x0, t0 = _logits((3, 4), 8), np.array([3, 0, 2])
    a = float(anynet.SoftmaxWithLoss().forward(arr(backend, x0), arr(backend, t0)))
    b = float(anynet.SoftmaxWithLoss().forward(arr(backend, x0), arr(backend, t0, label_dtype)))
    assert a == b


def test_focal_loss_with_gamma_zero_is_softmax_with_loss(backend):
    x, t = arr(backend, LOGITS), arr(backend, LABELS)
    focal, plain = L.FocalLoss(gamma=0), L.SoftmaxWithLoss()
    np.testing.assert_allclose(float(focal.forward(x, t)), float(plain.forward(x, t)), rtol=1e-12)
    np.testing.assert_allclose(host(focal.backward()), host(plain.backward()), rtol=1e-10, atol=1e-14)
