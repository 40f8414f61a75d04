"""Every loss on every backend: closed-form values in float64, gradient checks, reductions,
the pairs that must agree, and the guarded undefined cases."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import losses as L
from anynet.gradcheck import check_loss
from anynet.testing import arr, host

R = np.random.default_rng(7)
N, C = 4, 3


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _away(a, lo=0.1):
    """Push values at least ``lo`` away from 0 (kinks of |.|, max(., 0), sign)."""
    return np.where(a >= 0, a + lo, a - lo)


# Inputs: probabilities strictly inside (0, 1) so no guard or clip is active.
LOGITS = R.standard_normal((N, C))
PROBS = _softmax(LOGITS)
LABELS = np.array([0, 2, 1, 2])
ONE_HOT = np.eye(C)[LABELS]
SOFT = _softmax(R.standard_normal((N, C)))  # probability rows as targets
B_PROBS = R.uniform(0.05, 0.95, (N, C))
B_TARGETS = (R.random((N, C)) > 0.5).astype(np.float64)
PM_ONE = np.where(R.random((N, C)) > 0.5, 1.0, -1.0)
HINGE_Y = PM_ONE * (1.0 - _away(R.uniform(-1.5, 1.5, (N, C))))  # margins >= 0.1 from the kink
Y3, T3 = R.standard_normal((3, 2, 2)), R.standard_normal((3, 2, 2))
Y_ABS, T_ABS = R.standard_normal((N, C)), R.standard_normal((N, C))
Y_ABS = T_ABS + _away(Y_ABS - T_ABS)
T_PCT = _away(R.standard_normal((N, C)), 0.5)
Y_POS, T_POS = R.uniform(0.1, 3.0, (N, C)), R.uniform(0.1, 3.0, (N, C))
COUNTS = R.integers(0, 5, (N, C)).astype(np.float64)


def _xent(t, logp):
    return -(t * logp).sum(axis=1)


def _feature_mean(e):
    return e.reshape(e.shape[0], -1).mean(axis=1)


def _bce(y, t):
    return _feature_mean(-(t * np.log(y) + (1 - t) * np.log(1 - y)))


def _cosine(y, t):
    y, t = y.reshape(len(y), -1), t.reshape(len(t), -1)
    return -(y * t).sum(axis=1) / (np.linalg.norm(y, axis=1) * np.linalg.norm(t, axis=1))


# name -> (loss factory, y, t, per-sample reference written from the formula)
CASES = {
    "CrossEntropy-indices": (L.CrossEntropy, PROBS, LABELS, lambda y, t: -np.log(y[np.arange(N), t] + 1e-7)),
    "CrossEntropy-one-hot": (L.CrossEntropy, PROBS, ONE_HOT, lambda y, t: _xent(t, np.log(y + 1e-7))),
    "CategoricalCrossEntropy": (L.CategoricalCrossEntropy, PROBS, SOFT, lambda y, t: _xent(t, np.log(y))),
    "CategoricalCrossEntropy-logits": (
        lambda **k: L.CategoricalCrossEntropy(from_logits=True, **k), LOGITS, SOFT,
        lambda y, t: _xent(t, np.log(_softmax(y))),
    ),
    "SparseCategoricalCrossEntropy": (
        L.SparseCategoricalCrossEntropy, PROBS, LABELS, lambda y, t: -np.log(y[np.arange(N), t]),
    ),
    "SparseCategoricalCrossEntropy-logits": (
        lambda **k: L.SparseCategoricalCrossEntropy(from_logits=True, **k), LOGITS, LABELS,
        lambda y, t: -np.log(_softmax(y)[np.arange(N), t]),
    ),
    "SoftmaxWithLoss": (L.SoftmaxWithLoss, LOGITS, LABELS, lambda y, t: -np.log(_softmax(y)[np.arange(N), t])),
    "BinaryCrossEntropy": (L.BinaryCrossEntropy, B_PROBS, B_TARGETS, _bce),
    "BinaryCrossEntropy-logits": (
        lambda **k: L.BinaryCrossEntropy(from_logits=True, **k), LOGITS, B_TARGETS,
        lambda y, t: _bce(1 / (1 + np.exp(-y)), t),
    ),
    "SigmoidWithLoss": (L.SigmoidWithLoss, Y3, (T3 > 0).astype(np.float64), lambda y, t: _bce(1 / (1 + np.exp(-y)), t)),
    "Hinge": (L.Hinge, HINGE_Y, PM_ONE, lambda y, t: _feature_mean(np.maximum(1 - t * y, 0))),
    "SquaredHinge": (L.SquaredHinge, HINGE_Y, PM_ONE, lambda y, t: _feature_mean(np.maximum(1 - t * y, 0) ** 2)),
    "MeanSquaredError": (L.MeanSquaredError, Y3, T3, lambda y, t: _feature_mean((y - t) ** 2)),
    "MeanAbsoluteError": (L.MeanAbsoluteError, Y_ABS, T_ABS, lambda y, t: _feature_mean(np.abs(y - t))),
    "MeanAbsolutePercentageError": (
        L.MeanAbsolutePercentageError, Y_ABS, T_PCT, lambda y, t: _feature_mean(100 * np.abs((t - y) / t)),
    ),
    "MeanSquaredLogarithmicError": (
        L.MeanSquaredLogarithmicError, Y_POS, T_POS, lambda y, t: _feature_mean((np.log(1 + y) - np.log(1 + t)) ** 2),
    ),
    "KLDivergence": (L.KLDivergence, PROBS, SOFT, lambda y, t: (t * np.log(t / y)).sum(axis=1)),
    "Poisson": (L.Poisson, Y_POS, COUNTS, lambda y, t: _feature_mean(y - t * np.log(y + 1e-7))),
    "CosineProximity": (L.CosineProximity, Y3, T3, _cosine),
    "SoftmaxWithLoss-smoothing": (
        lambda **k: L.SoftmaxWithLoss(label_smoothing=0.2, **k), LOGITS, LABELS,
        lambda y, t: _xent(0.8 * ONE_HOT + 0.2 / C, np.log(_softmax(y))),
    ),
    "CategoricalCrossEntropy-smoothing": (
        lambda **k: L.CategoricalCrossEntropy(label_smoothing=0.1, **k), PROBS, SOFT,
        lambda y, t: _xent(0.9 * t + 0.1 / C, np.log(y)),
    ),
    "FocalLoss": (
        L.FocalLoss, LOGITS, LABELS,
        lambda y, t: -((1 - _softmax(y)[np.arange(N), t]) ** 2) * np.log(_softmax(y)[np.arange(N), t]),
    ),
    "FocalLoss-gamma0.5": (
        lambda **k: L.FocalLoss(gamma=0.5, **k), LOGITS, LABELS,
        lambda y, t: -((1 - _softmax(y)[np.arange(N), t]) ** 0.5) * np.log(_softmax(y)[np.arange(N), t]),
    ),
    "Huber": (  # both branches: |y - t| on either side of delta = 1, away from the kink
        L.Huber, Y_ABS, T_ABS,
        lambda y, t: _feature_mean(np.where(np.abs(y - t) <= 1, 0.5 * (y - t) ** 2, np.abs(y - t) - 0.5)),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_value_and_gradient(backend, case):
    make, y0, t0, reference = CASES[case]
    y, t = arr(backend, y0), arr(backend, t0)
    loss = make()
    assert tuple(loss.forward(y, t).shape) == ()
    np.testing.assert_allclose(float(loss.forward(y, t)), reference(y0, t0).mean(), rtol=1e-10)
    loss.backward()
    np.testing.assert_array_equal(host(y), y0)  # inputs unchanged
    np.testing.assert_array_equal(host(t), t0)
    check_loss(make(), y, t)


@pytest.mark.parametrize("case", list(CASES))
def test_reductions(backend, case):
    make, y0, t0, reference = CASES[case]
    y, t = arr(backend, y0), arr(backend, t0)
    per_sample = reference(y0, t0)
    total = make(reduction="sum")
    np.testing.assert_allclose(float(total.forward(y, t)), per_sample.sum(), rtol=1e-10)
    mean = make()
    mean.forward(y, t)
    total.forward(y, t)
    np.testing.assert_allclose(host(total.backward()), host(mean.backward()) * len(y0), rtol=1e-12)

    loss = make(reduction="none")
    np.testing.assert_allclose(host(loss.forward(y, t)), per_sample, rtol=1e-10)
    dout0 = R.standard_normal(len(y0))
    dout = arr(backend, dout0)
    dy = loss.backward(dout)
    xp = backend.xp
    numeric = anynet.numerical_gradient(lambda v: xp.sum(make(reduction="none").forward(v, t) * dout), y, 1e-5)
    np.testing.assert_allclose(host(dy), host(numeric), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(host(dout), dout0)


def test_every_loss_is_exported_everywhere():
    for name in L.__all__:
        assert getattr(anynet, name, None) is getattr(L, name) or name == "Loss"


# -- pairs that must agree ----------------------------------------------------


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


# -- guarded undefined cases -----------------------------------------------------


def _finite(*xs):
    for x in xs:
        assert np.all(np.isfinite(host(x))), host(x)


@pytest.fixture
def no_float_errors():
    with np.errstate(all="raise"):  # catches a log(0) or 0/0 on the NumPy leg
        yield


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


def test_mape_zero_targets_divide_by_eps(backend, no_float_errors):
    y, t = arr(backend, [[2.0, 1.0]]), arr(backend, [[0.0, 2.0]])
    loss = L.MeanAbsolutePercentageError()
    assert float(loss.forward(y, t)) == pytest.approx((100 * 2.0 / 1e-7 + 100 * 0.5) / 2)
    np.testing.assert_allclose(host(loss.backward()), [[100 / 1e-7 / 2, -100 / 2.0 / 2]])


def test_msle_clamps_negative_values(backend, no_float_errors):
    y, t = arr(backend, [[-2.0, -0.5, 1.0]]), arr(backend, [[1.0, -3.0, 1.0]])
    loss = L.MeanSquaredLogarithmicError()
    expected = (np.log(2.0) ** 2 + 0.0 + 0.0) / 3  # log1p(max(-2, 0)) = 0 vs log1p(1)
    assert float(loss.forward(y, t)) == pytest.approx(expected)
    np.testing.assert_allclose(host(loss.backward()), [[0.0, 0.0, 0.0]])


def test_kl_divergence_clips_zeros(backend, no_float_errors):
    y, t = arr(backend, [[0.0, 1.0]]), arr(backend, [[0.5, 0.5]])
    loss = L.KLDivergence()
    expected = 0.5 * np.log(0.5 / 1e-7) + 0.5 * np.log(0.5)
    assert float(loss.forward(y, t)) == pytest.approx(expected)
    np.testing.assert_allclose(host(loss.backward()), [[0.0, -0.5]])
    assert float(L.KLDivergence().forward(arr(backend, [[0.5, 0.5]]), arr(backend, [[0.0, 1.0]]))) == pytest.approx(
        1e-7 * np.log(1e-7 / 0.5) + np.log(2.0)
    )


def test_poisson_guards_zero_and_negative_rates(backend, no_float_errors):
    y, t = arr(backend, [[0.0, -1.0]]), arr(backend, [[2.0, 3.0]])
    loss = L.Poisson()
    expected = ((0.0 - 2.0 * np.log(1e-7)) + (-1.0 - 3.0 * np.log(1e-7))) / 2
    assert float(loss.forward(y, t)) == pytest.approx(expected)
    np.testing.assert_allclose(host(loss.backward()), [[(1 - 2.0 / 1e-7) / 2, 0.5]])


def test_cosine_proximity_of_a_zero_vector(backend, no_float_errors):
    y, t = arr(backend, [[0.0, 0.0], [3.0, 4.0]]), arr(backend, [[1.0, 0.0], [6.0, 8.0]])
    loss = L.CosineProximity(reduction="none")
    np.testing.assert_allclose(host(loss.forward(y, t)), [0.0, -1.0], atol=1e-12)
    dy = host(loss.backward(arr(backend, [1.0, 1.0])))
    _finite(dy)
    np.testing.assert_allclose(dy[1], [0.0, 0.0], atol=1e-12)  # at the optimum


def test_hinge_takes_minus_one_plus_one_labels(backend):
    y, t = arr(backend, [[2.0, 0.5, -0.5]]), arr(backend, [[1.0, 1.0, 1.0]])
    assert float(L.Hinge().forward(y, t)) == pytest.approx((0 + 0.5 + 1.5) / 3)
    assert float(L.SquaredHinge().forward(y, t)) == pytest.approx((0 + 0.25 + 2.25) / 3)


# -- errors --------------------------------------------------------------------------


def test_errors_name_the_loss_and_the_shapes(backend):
    y = arr(backend, PROBS)
    with pytest.raises(ValueError, match=r"CategoricalCrossEntropy: expected labels t of shape \(4, 3\), got \(4,\)"):
        L.CategoricalCrossEntropy().forward(y, arr(backend, LABELS))
    msg = r"SparseCategoricalCrossEntropy: expected labels t of shape \(4,\), got \(4, 3\)"
    with pytest.raises(ValueError, match=msg):
        L.SparseCategoricalCrossEntropy().forward(y, arr(backend, ONE_HOT))
    with pytest.raises(ValueError, match=r"CrossEntropy: expected y of shape \(N, C\), got \(4, 3, 1\)"):
        L.CrossEntropy().forward(arr(backend, PROBS[..., None]), arr(backend, LABELS))
    with pytest.raises(ValueError, match=r"Hinge: expected t of shape \(4, 3\) like y, got \(4,\)"):
        L.Hinge().forward(y, arr(backend, np.ones(4)))
    with pytest.raises(RuntimeError, match="Poisson: backward called before forward"):
        L.Poisson().backward()
    with pytest.raises(ValueError, match="KLDivergence: reduction must be one of"):
        L.KLDivergence(reduction="max")
    loss = L.MeanAbsoluteError(reduction="none")
    loss.forward(y, y)
    with pytest.raises(ValueError, match=r"MeanAbsoluteError: with reduction='none', dout must have shape \(4,\)"):
        loss.backward(1.0)


def test_new_losses_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    x = torch.tensor(LOGITS, requires_grad=True)
    ours = L.SoftmaxWithLoss(label_smoothing=0.2)
    value = ours.forward(LOGITS, LABELS)
    ref = torch.nn.functional.cross_entropy(x, torch.tensor(LABELS), label_smoothing=0.2)
    ref.backward()
    np.testing.assert_allclose(value, ref.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.backward(), x.grad.numpy(), rtol=1e-10, atol=1e-14)
    y = torch.tensor(Y_ABS, requires_grad=True)
    huber = L.Huber(delta=0.7)
    ref = torch.nn.functional.huber_loss(y, torch.tensor(T_ABS), delta=0.7)
    ref.backward()
    np.testing.assert_allclose(huber.forward(Y_ABS, T_ABS), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(huber.backward(), y.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_focal_loss_with_gamma_zero_is_softmax_with_loss(backend):
    x, t = arr(backend, LOGITS), arr(backend, LABELS)
    focal, plain = L.FocalLoss(gamma=0), L.SoftmaxWithLoss()
    np.testing.assert_allclose(float(focal.forward(x, t)), float(plain.forward(x, t)), rtol=1e-12)
    np.testing.assert_allclose(host(focal.backward()), host(plain.backward()), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: L.SoftmaxWithLoss(label_smoothing=1.0), r"SoftmaxWithLoss: label_smoothing must lie in \[0, 1\)"),
        (lambda: L.CategoricalCrossEntropy(label_smoothing=-0.1), "CategoricalCrossEntropy: label_smoothing"),
        (lambda: L.FocalLoss(gamma=-1), "FocalLoss: gamma must be a non-negative number, got -1"),
        (lambda: L.Huber(delta=0), "Huber: delta must be a positive number, got 0"),
    ],
)
def test_new_loss_arguments_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()
