"""Optimizer hooks (weight decay, clipping) and learning-rate schedules, on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet.hooks import global_norm
from anynet.testing import arr, host

W0 = np.array([[1.0, -2.0], [0.5, 3.0]])
G0 = np.array([[3.0, -4.0], [0.0, 12.0]])
B0, GB0 = np.array([2.0, -1.0]), np.array([0.0, -3.0])  # global norm of (G0, GB0): sqrt(169 + 9) = sqrt(178)


def _params(backend):
    w, b = anynet.Parameter(arr(backend, W0), "W"), anynet.Parameter(arr(backend, B0), "b")
    w.grad, b.grad = arr(backend, G0), arr(backend, GB0)
    return [w, b]


def _sgd_with(backend, hooks, lr=0.1):
    params = _params(backend)
    anynet.SGD(lr=lr, hooks=hooks).update(params)
    np.testing.assert_array_equal(host(params[0].grad), G0)  # hooks never rewrite p.grad
    return [host(p.data) for p in params]


def test_weight_decay_adds_rate_times_w(backend):
    w, b = _sgd_with(backend, [anynet.WeightDecay(0.5, only_weights=False)])
    np.testing.assert_allclose(w, W0 - 0.1 * (G0 + 0.5 * W0))
    np.testing.assert_allclose(b, B0 - 0.1 * (GB0 + 0.5 * B0))


def test_weight_decay_spares_biases_by_default_like_the_book(backend):
    w, b = _sgd_with(backend, [anynet.WeightDecay(0.5)])
    np.testing.assert_allclose(w, W0 - 0.1 * (G0 + 0.5 * W0))
    np.testing.assert_allclose(b, B0 - 0.1 * GB0)


def test_clip_by_norm_scales_all_gradients_together(backend):
    assert float(global_norm([arr(backend, G0), arr(backend, GB0)])) == pytest.approx(math.sqrt(178))
    w, b = _sgd_with(backend, [anynet.ClipByNorm(2.0)], lr=1.0)
    rate = 2.0 / (math.sqrt(178) + 1e-6)
    np.testing.assert_allclose(w, W0 - rate * G0, rtol=1e-12)
    np.testing.assert_allclose(b, B0 - rate * GB0, rtol=1e-12)
    assert math.hypot(*(W0 - w).ravel(), *(B0 - b).ravel()) == pytest.approx(2.0, rel=1e-6)
    w, b = _sgd_with(backend, [anynet.ClipByNorm(100.0)], lr=1.0)  # under the limit: unchanged
    np.testing.assert_allclose(w, W0 - G0, rtol=1e-12)


def test_clip_by_value(backend):
    w, b = _sgd_with(backend, [anynet.ClipByValue(3.5)], lr=1.0)
    np.testing.assert_allclose(w, W0 - np.clip(G0, -3.5, 3.5))
    np.testing.assert_allclose(b, B0 - np.array([0.0, -3.0]))


def test_hooks_run_in_order(backend):
    clip_then_decay = _sgd_with(backend, [anynet.ClipByValue(1.0), anynet.WeightDecay(1.0)], lr=1.0)[0]
    decay_then_clip = _sgd_with(backend, [anynet.WeightDecay(1.0), anynet.ClipByValue(1.0)], lr=1.0)[0]
    np.testing.assert_allclose(clip_then_decay, W0 - (np.clip(G0, -1, 1) + W0))
    np.testing.assert_allclose(decay_then_clip, W0 - np.clip(G0 + W0, -1, 1))


def test_hooks_with_an_adaptive_optimizer(backend):
    params = _params(backend)
    anynet.Adam(lr=0.1, hooks=[anynet.ClipByValue(1.0)]).update(params)
    # Adam's first step is lr * sign(g) (up to eps) whatever the clip, except where g is 0
    np.testing.assert_allclose(host(params[0].data), W0 - 0.1 * np.sign(G0), atol=1e-7)


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match="ClipByNorm: max_norm must be positive"):
        anynet.ClipByNorm(0.0)
    with pytest.raises(ValueError, match="ClipByValue: limit must be positive and finite"):
        anynet.ClipByValue(math.inf)


# -- schedules ------------------------------------------------------------------------------


def test_step_decay():
    s = anynet.StepDecay(0.1, step=10, gamma=0.5)
    assert [s(i) for i in (0, 9, 10, 19, 20, 35)] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]


def test_cosine_decay():
    s = anynet.CosineDecay(1.0, total=100, min_lr=0.1)
    assert s(0) == 1.0
    assert s(50) == pytest.approx(0.55)
    assert s(25) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert s(100) == s(1000) == 0.1
    assert all(s(i) >= s(i + 1) for i in range(120))


def test_warmup_ramps_then_hands_over():
    s = anynet.Warmup(anynet.StepDecay(0.4, step=2, gamma=0.5), steps=3)
    assert [s(i) for i in range(7)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.2, 0.2])
    assert anynet.Warmup(0.5, steps=0)(0) == 0.5


def test_schedule_arguments_are_checked():
    with pytest.raises(ValueError, match="StepDecay: step must be a positive integer"):
        anynet.StepDecay(0.1, step=0)
    with pytest.raises(ValueError, match="CosineDecay: lr must be positive"):
        anynet.CosineDecay(-1.0, total=10)
    with pytest.raises(ValueError, match=r"CosineDecay: min_lr must lie in \[0, lr=0.1\]"):
        anynet.CosineDecay(0.1, total=10, min_lr=0.2)
    with pytest.raises(ValueError, match="Warmup: steps must be a non-negative integer"):
        anynet.Warmup(0.1, steps=-1)


def test_the_optimizer_asks_the_schedule_once_per_update(backend):
    p = anynet.Parameter(arr(backend, [1.0]), "w")
    opt = anynet.SGD(lr=anynet.StepDecay(0.1, step=2, gamma=0.5))
    seen = []
    for _ in range(5):
        seen.append(opt.current_lr)
        p.grad = arr(backend, [1.0])
        opt.update([p])
    assert seen == [0.1, 0.1, 0.05, 0.05, 0.025]
    np.testing.assert_allclose(host(p.data), [1.0 - sum(seen)])


def test_any_callable_is_a_schedule(backend):
    p = anynet.Parameter(arr(backend, [0.0, 0.0]), "w")
    opt = anynet.Momentum(lr=lambda i: 0.1 / (1 + i), momentum=0.5)
    v = np.zeros(2)
    w = np.zeros(2)
    for i in range(4):
        p.grad = arr(backend, [1.0, -2.0])
        opt.update([p])
        v = 0.5 * v - 0.1 / (1 + i) * np.array([1.0, -2.0])
        w = w + v
    np.testing.assert_allclose(host(p.data), w, rtol=1e-12)


def test_a_schedule_resumes_from_the_iteration_count():
    opt = anynet.Adam(lr=anynet.CosineDecay(0.1, total=10))
    opt.iterations = 7
    state = opt.state_dict([])
    assert "lr" not in state  # a schedule is a function of iterations, nothing else to keep
    fresh = anynet.Adam(lr=anynet.CosineDecay(0.1, total=10))
    fresh.load_state_dict(state, [])
    assert fresh.current_lr == anynet.CosineDecay(0.1, total=10)(7)


def test_one_cycle_matches_pytorch():
    torch = pytest.importorskip("torch")
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=50, pct_start=0.25, cycle_momentum=False)
    ours = anynet.OneCycle(0.1, total=50, pct_start=0.25)
    for i in range(50):
        assert ours(i) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        opt.step()
        ref.step()
    assert ours(0) == pytest.approx(0.1 / 25)
    assert 0.099 < max(ours(i) for i in range(50)) <= 0.1


def test_one_cycle_arguments_are_checked():
    with pytest.raises(ValueError, match="OneCycle: total must be an integer >= 2"):
        anynet.OneCycle(0.1, total=1)
    with pytest.raises(ValueError, match=r"OneCycle: pct_start must lie in \(0, 1\)"):
        anynet.OneCycle(0.1, total=10, pct_start=1.0)
