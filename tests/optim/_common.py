"""What the optimizer test files share: the convex test problem, the base of the hand-written
reference rules, and the checks every optimizer runs (each test file parametrises them over
its own table of rules, ``{name: Rule}``)."""

from __future__ import annotations

import io
import json
from typing import Any, NamedTuple

import numpy as np

import anynet
from anynet.testing import arr, host


class Ref:
    """One published rule: ``step(key, w, g, t, lr)`` -> new w; per-parameter state in ``self.s[key]``; t from 1."""

    def __init__(self, **hyper):
        self.h = hyper
        self.s = {}

    def state(self, key, *names):
        return self.s.setdefault(key, {n: 0.0 for n in names})


class Rule(NamedTuple):
    """An anynet optimizer, its reference rule, the hyper-parameters of both, an lr that converges on the problem."""

    make: Any
    ref: type[Ref]
    hyper: dict[str, Any]
    lr: float


# f(W, b) = 0.5 sum(A (W - C)^2) + 0.5 sum(a (b - c)^2): a fixed convex quadratic, minimum at (C, c)
RNG = np.random.default_rng(3)
A, C = RNG.uniform(0.5, 3.0, (2, 3)), RNG.standard_normal((2, 3))
A_B, C_B = RNG.uniform(0.5, 3.0, (3,)), RNG.standard_normal(3)
W0, B0 = RNG.standard_normal((2, 3)), RNG.standard_normal(3)


def quadratic_params(backend):
    return [anynet.Parameter(arr(backend, W0), "W"), anynet.Parameter(arr(backend, B0), "b")]


def set_quadratic_grads(backend, params):
    for p, a, c in zip(params, (A, A_B), (C, C_B)):
        p.grad = arr(backend, a) * (p.data - arr(backend, c))


def run_reference(rule, lr, steps):
    ref = rule.ref(**rule.hyper)
    w, b = W0.copy(), B0.copy()
    for t in range(1, steps + 1):
        w, b = ref.step("W", w, A * (w - C), t, lr), ref.step("b", b, A_B * (b - C_B), t, lr)
    return w, b


def check_quadratic(backend, rule, flat):
    """Five steps on the quadratic against the reference: on a flat buffer where arrays are writable
    (``flat``), else on the path that assigns new arrays (the only one on JAX)."""
    params = quadratic_params(backend)
    opt = rule.make(lr=rule.lr, **rule.hyper)
    opt.elementwise = opt.elementwise and flat
    given = [(p.data, host(p.data).copy()) for p in params]
    for _ in range(5):
        set_quadratic_grads(backend, params)
        before, state_before = params[0].data, dict(params[0].state)
        old_host = host(before).copy()
        opt.update(params)
        if opt._buffer is None:  # the reference path writes into no array
            np.testing.assert_array_equal(host(before), old_host)
            for key, value in state_before.items():
                assert params[0].state[key] is not value
    for a, h in given:
        np.testing.assert_array_equal(host(a), h)  # the caller's arrays were never written into
    uses_buffer = flat and type(opt).elementwise and backend.writable
    assert (opt._buffer is not None) == uses_buffer
    w, b = run_reference(rule, rule.lr, 5)
    np.testing.assert_allclose(host(params[0].data), w, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(host(params[1].data), b, rtol=1e-10, atol=1e-13)
    assert opt.iterations == 5


def _tanh_net_grads(W1, b1, W2, b2, x, t):
    """The gradients of mean((tanh(x W1 + b1) W2 + b2 - t)^2), written out by hand."""
    h = np.tanh(x @ W1 + b1)
    y = h @ W2 + b2
    dy = 2 * (y - t) / y.size
    dh = dy @ W2.T * (1 - h**2)
    return [x.T @ dh, dh.sum(axis=0), h.T @ dy, dy.sum(axis=0)]


def check_small_net(backend, rule):
    """Three steps of a 3-4-2 tanh net against the reference on hand-written gradients."""
    net = anynet.Sequential(anynet.Affine(3, 4, dtype="float64"), anynet.Tanh(), anynet.Affine(4, 2, dtype="float64"))
    x0, t0 = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 2))
    x, t = arr(backend, x0), arr(backend, t0)
    weights = [host(p.data).copy() for p in net.params]
    opt, ref, loss = rule.make(lr=rule.lr, **rule.hyper), rule.ref(**rule.hyper), anynet.MeanSquaredError()
    for step in range(1, 4):
        loss.forward(net.forward(x), t)
        net.backward(loss.backward())
        opt.update(net.params)
        grads = _tanh_net_grads(*weights, x0, t0)
        weights = [ref.step(i, w, g, step, rule.lr) for i, (w, g) in enumerate(zip(weights, grads))]
    for p, w in zip(net.params, weights):
        np.testing.assert_allclose(host(p.data), w, rtol=1e-9, atol=1e-12)


def check_against_torch(torch, rule, make_torch):
    """20 steps on the quadratic beside ``make_torch(params, lr)``, a torch.optim optimizer."""
    # torch keeps scalar state (NAdam's mu_product) in the default dtype: make it float64
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        params = quadratic_params(anynet.as_device("cpu"))
        tw = [torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)]
        ours, theirs = rule.make(lr=rule.lr, **rule.hyper), make_torch(tw, rule.lr)
        for _ in range(20):
            set_quadratic_grads(anynet.as_device("cpu"), params)
            ours.update(params)
            theirs.zero_grad()
            (0.5 * (torch.tensor(A) * (tw[0] - torch.tensor(C)) ** 2).sum()
             + 0.5 * (torch.tensor(A_B) * (tw[1] - torch.tensor(C_B)) ** 2).sum()).backward()
            theirs.step()
        for p, q in zip(params, tw):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-13)
    finally:
        torch.set_default_dtype(previous)


def check_converges(backend, rule, lr, changed):
    """400 updates with ``lr`` and the ``changed`` hyper-parameters reach the quadratic's minimum."""
    params = quadratic_params(backend)
    opt = rule.make(lr=lr, **{**rule.hyper, **changed})
    for _ in range(400):
        set_quadratic_grads(backend, params)
        opt.update(params)
    np.testing.assert_allclose(host(params[0].data), C, atol=1e-4)
    np.testing.assert_allclose(host(params[1].data), C_B, atol=1e-4)


def check_state_placement(backend, rule):
    """One float32 update: the parameter and every state array stay float32 on the parameter's device."""
    p = anynet.Parameter(arr(backend, W0, "float32"), "W")
    p.grad = arr(backend, A, "float32")
    rule.make(lr=rule.lr, **rule.hyper).update([p])
    assert p.data.dtype == backend.xp.float32
    assert anynet.device_of(p.data) == backend
    for value in p.state.values():
        assert value.dtype == backend.xp.float32 and anynet.device_of(value) == backend


def save_and_load(state):
    """Through the files a checkpoint writes: arrays in .npz, Python numbers in JSON."""
    arrays = {k: anynet.to_numpy(v) for k, v in state.items() if k.startswith("state.")}
    numbers = json.dumps({k: v for k, v in state.items() if not k.startswith("state.")})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        return {**json.loads(numbers), **{k: npz[k] for k in npz.files}}


def check_resume(rule, schedule):
    """12 updates straight equal 5, a save and load through a checkpoint's files, and 7 more, bit for bit."""
    lr = anynet.Warmup(anynet.CosineDecay(rule.lr, total=8), steps=3) if schedule else rule.lr
    cpu = anynet.as_device("cpu")

    def make_opt():
        return rule.make(lr=lr, hooks=[anynet.ClipByNorm(2.0)], **rule.hyper)

    straight, opt = quadratic_params(cpu), make_opt()
    for _ in range(12):
        set_quadratic_grads(cpu, straight)
        opt.update(straight)

    first, opt = quadratic_params(cpu), make_opt()
    for _ in range(5):
        set_quadratic_grads(cpu, first)
        opt.update(first)
    saved = save_and_load(opt.state_dict(first))
    resumed = [anynet.Parameter(p.data.copy(), p.name) for p in first]
    opt = make_opt()
    opt.load_state_dict(saved, resumed)
    assert opt.iterations == 5
    for _ in range(7):
        set_quadratic_grads(cpu, resumed)
        opt.update(resumed)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def rule_table_tests(rules: dict[str, Any], converge: dict[str, tuple]) -> tuple[Any, Any, Any]:
    """The tests every optimizer of a table runs (as ``anynet.testing.layer_table_tests`` does for
    layers): convergence on a convex problem, state on the parameter's device in its dtype, and a
    bit-identical stop and resume. Assign them in a test module::

        test_converges, test_state_placement, test_resume = rule_table_tests(RULES, CONVERGE)
    """
    import pytest

    @pytest.mark.parametrize("name", list(rules))
    def test_converges_to_the_minimum_of_a_convex_problem(backend, name):
        check_converges(backend, rules[name], *converge[name])

    @pytest.mark.parametrize("name", list(rules))
    def test_state_lives_on_the_parameters_device_in_its_dtype(backend, name):
        check_state_placement(backend, rules[name])

    @pytest.mark.parametrize("schedule", [False, True])
    @pytest.mark.parametrize("name", list(rules))
    def test_stopping_and_resuming_is_bit_identical(name, schedule):
        check_resume(rules[name], schedule)

    return (test_converges_to_the_minimum_of_a_convex_problem, test_state_lives_on_the_parameters_device_in_its_dtype,
            test_stopping_and_resuming_is_bit_identical)
