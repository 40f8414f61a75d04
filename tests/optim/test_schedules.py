"""Learning-rate schedules, and an optimizer asking its schedule (anynet.optim.schedules), on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet.testing import arr, host


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
    with pytest.raises(ValueError, match="StepDecay: step must be an integer >= 1, got 0"):
        anynet.StepDecay(0.1, step=0)
    with pytest.raises(ValueError, match="CosineDecay: lr must be a number > 0.0, got -1.0"):
        anynet.CosineDecay(-1.0, total=10)
    with pytest.raises(ValueError, match=r"CosineDecay: min_lr must be a number in \[0.0, 0.1\], got 0.2"):
        anynet.CosineDecay(0.1, total=10, min_lr=0.2)
    with pytest.raises(ValueError, match="Warmup: steps must be an integer >= 0, got -1"):
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
    with pytest.raises(ValueError, match=r"OneCycle: pct_start must be a number in \(0.0, 1.0\), got 1.0"):
        anynet.OneCycle(0.1, total=10, pct_start=1.0)


def test_a_one_cycle_shorter_than_the_run_is_refused_before_training():
    x, t = anynet.data.spiral()  # 300 samples: 10 batches of 30 an epoch
    model = anynet.MLP(2, [4], 3)
    before = [host(p.data).copy() for p in model.params]
    short = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(anynet.OneCycle(0.1, total=25)), verbose=0)
    with pytest.raises(ValueError, match=r"OneCycle: total=25 updates, but this run makes 30"):
        short.fit((x, t), epochs=3, batch_size=30)
    assert all(np.array_equal(host(p.data), b) for p, b in zip(model.params, before))
    fits = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(anynet.OneCycle(0.1, total=30)), verbose=0)
    fits.fit((x, t), epochs=3, batch_size=30)
    assert fits.optimizer.iterations == 30
