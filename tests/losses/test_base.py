"""Every loss honours the Loss contract (anynet.losses.base) on every backend: closed-form values in
float64, gradient checks, the three reductions, inputs left unchanged, exports, error messages.
Loss-specific cases: test_classification.py, test_regression.py, test_time.py."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import losses as L
from anynet.testing import arr, host
from anynet.testing.gradcheck import check_loss

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


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: L.SoftmaxWithLoss(label_smoothing=1.0),
         r"SoftmaxWithLoss: label_smoothing must be a number in \[0.0, 1.0\), got 1.0"),
        (lambda: L.CategoricalCrossEntropy(label_smoothing=-0.1), "CategoricalCrossEntropy: label_smoothing"),
        (lambda: L.FocalLoss(gamma=-1), "FocalLoss: gamma must be a number >= 0.0, got -1"),
        (lambda: L.Huber(delta=0), "Huber: delta must be a number > 0.0, got 0"),
    ],
)
def test_new_loss_arguments_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()
