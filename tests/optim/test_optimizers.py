"""Every optimizer on every backend against its published update rule written out here in
NumPy, against PyTorch's torch.optim, on a convex problem, and saved and resumed bit for bit."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

import anynet
from anynet import optim as O
from anynet.testing import arr, host

# -- the published rules, by hand in NumPy (float64), independent of anynet ------


class Ref:
    """One rule: ``step(key, w, g, t, lr)`` -> new w; per-parameter state in ``self.s[key]``; t from 1."""

    def __init__(self, **hyper):
        self.h = hyper
        self.s = {}

    def state(self, key, *names):
        return self.s.setdefault(key, {n: 0.0 for n in names})


class RefSGD(Ref):
    """W <- W - lr g (Robbins & Monro 1951)."""

    def step(self, key, w, g, t, lr):
        return w - lr * g


class RefMomentum(Ref):
    """v <- mu v - lr g; W <- W + v (Polyak 1964; the book's Momentum)."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "v")
        s["v"] = self.h["momentum"] * s["v"] - lr * g
        return w + s["v"]


class RefNesterov(Ref):
    """Sutskever et al. 2013, eq. (3)-(4): v <- mu v - lr grad(W + mu v); W <- W + v, rewritten
    in the variable W' = W + mu v (Bengio et al. 2013, arXiv:1212.0901): W' <- W' + mu^2 v - (1 + mu) lr g(W')."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "v")
        mu, v = self.h["momentum"], s["v"]
        s["v"] = mu * v - lr * g
        return w + mu * mu * v - (1 + mu) * lr * g


class RefAdaGrad(Ref):
    """Duchi et al. 2011: h <- h + g^2; W <- W - lr g / (sqrt(h) + eps)."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "h")
        s["h"] = s["h"] + g**2
        return w - lr * g / (np.sqrt(s["h"]) + self.h["eps"])


class RefRMSProp(Ref):
    """Tieleman & Hinton 2012: h <- rho h + (1 - rho) g^2; W <- W - lr g / (sqrt(h) + eps)."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "h")
        s["h"] = self.h["decay"] * s["h"] + (1 - self.h["decay"]) * g**2
        return w - lr * g / (np.sqrt(s["h"]) + self.h["eps"])


class RefAdaDelta(Ref):
    """Zeiler 2012 (arXiv:1212.5701), Algorithm 1, the step scaled by lr."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "eg2", "edx2")
        rho, eps = self.h["rho"], self.h["eps"]
        s["eg2"] = rho * s["eg2"] + (1 - rho) * g**2
        dx = -np.sqrt(s["edx2"] + eps) / np.sqrt(s["eg2"] + eps) * g
        s["edx2"] = rho * s["edx2"] + (1 - rho) * dx**2
        return w + lr * dx


class RefAdam(Ref):
    """Kingma & Ba 2015 (arXiv:1412.6980), Algorithm 1; AdamW (arXiv:1711.05101) decays W first."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "m", "v")
        b1, b2 = self.h["beta1"], self.h["beta2"]
        w = w * (1 - lr * self.h.get("weight_decay", 0.0))
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g**2
        m_hat, v_hat = s["m"] / (1 - b1**t), s["v"] / (1 - b2**t)
        return w - lr * m_hat / (np.sqrt(v_hat) + self.h["eps"])


class RefNadam(Ref):
    """Dozat 2016, Algorithm 2 with the schedule mu_t = b1 (1 - 0.5 * 0.96^(0.004 t))."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "m", "v")
        b1, b2, eps = self.h["beta1"], self.h["beta2"], self.h["eps"]
        mu = [b1 * (1 - 0.5 * 0.96 ** (0.004 * i)) for i in range(t + 2)]
        prod_t, prod_next = np.prod(mu[1 : t + 1]), np.prod(mu[1 : t + 2])
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g**2
        m_bar = (1 - mu[t]) * g / (1 - prod_t) + mu[t + 1] * s["m"] / (1 - prod_next)
        return w - lr * m_bar / (np.sqrt(s["v"] / (1 - b2**t)) + eps)


class RefRAdam(Ref):
    """Liu et al. 2020 (arXiv:1908.03265), Algorithm 2: Adam's moments, rectified once rho_t > 5."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "m", "v")
        b1, b2 = self.h["beta1"], self.h["beta2"]
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g**2
        m_hat = s["m"] / (1 - b1**t)
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho <= 5:
            return w - lr * m_hat
        r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        return w - lr * r * m_hat * np.sqrt(1 - b2**t) / (np.sqrt(s["v"]) + self.h["eps"])


class RefLion(Ref):
    """Chen et al. 2023 (arXiv:2302.06675), Program 1."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "m")
        b1, b2 = self.h["beta1"], self.h["beta2"]
        update = np.sign(b1 * s["m"] + (1 - b1) * g) + self.h["weight_decay"] * w
        s["m"] = b2 * s["m"] + (1 - b2) * g
        return w - lr * update


class RefLAMB(Ref):
    """You et al. 2020 (arXiv:1904.00962), Algorithm 2, with Adam's bias correction; phi = identity."""

    def step(self, key, w, g, t, lr):
        s = self.state(key, "m", "v")
        b1, b2 = self.h["beta1"], self.h["beta2"]
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g**2
        u = (s["m"] / (1 - b1**t)) / (np.sqrt(s["v"] / (1 - b2**t)) + self.h["eps"]) + self.h["weight_decay"] * w
        w_norm, u_norm = np.linalg.norm(w), np.linalg.norm(u)
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        return w - lr * ratio * u


ADAM = dict(beta1=0.9, beta2=0.999, eps=1e-8)
# name -> (anynet optimizer, reference, hyper-parameters, lr that converges on the test problem)
RULES = {
    "GD": (O.GD, RefSGD, {}, 0.1),
    "SGD": (O.SGD, RefSGD, {}, 0.1),
    "Momentum": (O.Momentum, RefMomentum, dict(momentum=0.9), 0.05),
    "Nesterov": (O.Nesterov, RefNesterov, dict(momentum=0.9), 0.05),
    "AdaGrad": (O.AdaGrad, RefAdaGrad, dict(eps=1e-7), 0.5),
    "RMSProp": (O.RMSProp, RefRMSProp, dict(decay=0.99, eps=1e-7), 0.01),
    "AdaDelta": (O.AdaDelta, RefAdaDelta, dict(rho=0.95, eps=1e-6), 1.0),
    "Adam": (O.Adam, RefAdam, ADAM, 0.05),
    "AdamW": (O.AdamW, RefAdam, dict(ADAM, weight_decay=0.01), 0.05),
    "Nadam": (O.Nadam, RefNadam, ADAM, 0.05),
    "RAdam": (O.RAdam, RefRAdam, ADAM, 0.05),
    "Lion": (O.Lion, RefLion, dict(beta1=0.9, beta2=0.99, weight_decay=0.01), 0.01),
    "LAMB": (O.LAMB, RefLAMB, dict(ADAM, eps=1e-6, weight_decay=0.01), 0.05),
}

# f(W, b) = 0.5 sum(A (W - C)^2) + 0.5 sum(a (b - c)^2): a fixed convex quadratic, minimum at (C, c)
RNG = np.random.default_rng(3)
A, C = RNG.uniform(0.5, 3.0, (2, 3)), RNG.standard_normal((2, 3))
A_B, C_B = RNG.uniform(0.5, 3.0, (3,)), RNG.standard_normal(3)
W0, B0 = RNG.standard_normal((2, 3)), RNG.standard_normal(3)


def _quadratic_params(backend):
    return [anynet.Parameter(arr(backend, W0), "W"), anynet.Parameter(arr(backend, B0), "b")]


def _set_quadratic_grads(backend, params):
    for p, a, c in zip(params, (A, A_B), (C, C_B)):
        p.grad = arr(backend, a) * (p.data - arr(backend, c))


def _run_reference(name, lr, steps):
    _, ref_cls, hyper, _ = RULES[name]
    ref = ref_cls(**hyper)
    w, b = W0.copy(), B0.copy()
    for t in range(1, steps + 1):
        w, b = ref.step("W", w, A * (w - C), t, lr), ref.step("b", b, A_B * (b - C_B), t, lr)
    return w, b


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "assign"])
@pytest.mark.parametrize("name", list(RULES))
def test_steps_on_a_quadratic_follow_the_published_rule(backend, name, flat):
    """Both paths: one step on a flat buffer where arrays are writable, and the reference
    path that assigns new arrays (the only one on JAX)."""
    make, _, hyper, lr = RULES[name]
    params = _quadratic_params(backend)
    opt = make(lr=lr, **hyper)
    opt.elementwise = opt.elementwise and flat
    given = [(p.data, host(p.data).copy()) for p in params]
    for _ in range(5):
        _set_quadratic_grads(backend, params)
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
    w, b = _run_reference(name, lr, 5)
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


@pytest.mark.parametrize("name", list(RULES))
def test_steps_on_a_small_net_follow_the_published_rule(backend, name):
    make, ref_cls, hyper, lr = RULES[name]
    net = anynet.Sequential(anynet.Affine(3, 4, dtype="float64"), anynet.Tanh(), anynet.Affine(4, 2, dtype="float64"))
    x0, t0 = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 2))
    x, t = arr(backend, x0), arr(backend, t0)
    weights = [host(p.data).copy() for p in net.params]
    opt, ref, loss = make(lr=lr, **hyper), ref_cls(**hyper), anynet.MeanSquaredError()
    for step in range(1, 4):
        loss.forward(net.forward(x), t)
        net.backward(loss.backward())
        opt.update(net.params)
        grads = _tanh_net_grads(*weights, x0, t0)
        weights = [ref.step(i, w, g, step, lr) for i, (w, g) in enumerate(zip(weights, grads))]
    for p, w in zip(net.params, weights):
        np.testing.assert_allclose(host(p.data), w, rtol=1e-9, atol=1e-12)


# -- an independent implementation: PyTorch's torch.optim ------------------------------


def _torch_optimizer(torch, name, params, lr):
    o = torch.optim
    return {
        "GD": lambda: o.SGD(params, lr=lr),
        "SGD": lambda: o.SGD(params, lr=lr),
        "Momentum": lambda: o.SGD(params, lr=lr, momentum=0.9),
        "Nesterov": lambda: o.SGD(params, lr=lr, momentum=0.9, nesterov=True),
        "AdaGrad": lambda: o.Adagrad(params, lr=lr, eps=1e-7),
        "RMSProp": lambda: o.RMSprop(params, lr=lr, alpha=0.99, eps=1e-7),
        "AdaDelta": lambda: o.Adadelta(params, lr=lr, rho=0.95, eps=1e-6),
        "Adam": lambda: o.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8),
        "AdamW": lambda: o.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
        "Nadam": lambda: o.NAdam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3),
        "RAdam": lambda: o.RAdam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8),
    }[name]()


TORCH_HAS = {"GD", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam", "AdamW", "Nadam", "RAdam"}


@pytest.mark.parametrize("name", list(RULES))
def test_agrees_with_torch_optim(name):
    torch = pytest.importorskip("torch")
    if name not in TORCH_HAS:
        pytest.skip(f"torch.optim has no {name}: the published-rule tests cover it")
    # torch keeps scalar state (NAdam's mu_product) in the default dtype: make it float64
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _compare_with_torch(torch, name)
    finally:
        torch.set_default_dtype(previous)


def _compare_with_torch(torch, name):
    make, _, hyper, lr = RULES[name]
    params = _quadratic_params(anynet.as_device("cpu"))
    tw = [torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)]
    ours, theirs = make(lr=lr, **hyper), _torch_optimizer(torch, name, tw, lr)
    for _ in range(20):
        _set_quadratic_grads(anynet.as_device("cpu"), params)
        ours.update(params)
        theirs.zero_grad()
        (0.5 * (torch.tensor(A) * (tw[0] - torch.tensor(C)) ** 2).sum()
         + 0.5 * (torch.tensor(A_B) * (tw[1] - torch.tensor(C_B)) ** 2).sum()).backward()
        theirs.step()
    for p, q in zip(params, tw):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-13)


# -- convergence -----------------------------------------------------------------------


# lr (a number or a schedule) and changed hyper-parameters that reach the minimum in 400 updates.
# The adaptive methods take steps of about lr even near the minimum: a cosine decay lets them land.
# AdamW runs without decay here: decoupled decay has no fixed point at the loss's minimum (its
# decay is checked by the rule tests and test_adamw_decay_is_decoupled).
CONVERGE = {
    "GD": (0.1, {}),
    "SGD": (0.1, {}),
    "Momentum": (0.05, {}),
    "Nesterov": (0.05, {}),
    "AdaGrad": (0.5, {}),
    "RMSProp": (anynet.CosineDecay(0.1, total=400), {}),
    "AdaDelta": (1.0, dict(eps=1e-4)),
    "Adam": (anynet.CosineDecay(0.1, total=400), {}),
    "AdamW": (anynet.CosineDecay(0.1, total=400), dict(weight_decay=0.0)),
    "Nadam": (anynet.CosineDecay(0.1, total=400), {}),
    "RAdam": (anynet.CosineDecay(0.2, total=400), {}),  # its early SGD-like steps start slowly
    "Lion": (anynet.CosineDecay(0.05, total=400), dict(weight_decay=0.0)),
    "LAMB": (anynet.CosineDecay(0.05, total=400), dict(weight_decay=0.0)),
}


@pytest.mark.parametrize("name", list(RULES))
def test_converges_to_the_minimum_of_a_convex_problem(backend, name):
    make, _, hyper, _ = RULES[name]
    lr, changed = CONVERGE[name]
    params = _quadratic_params(backend)
    opt = make(lr=lr, **{**hyper, **changed})
    for _ in range(400):
        _set_quadratic_grads(backend, params)
        opt.update(params)
    np.testing.assert_allclose(host(params[0].data), C, atol=1e-4)
    np.testing.assert_allclose(host(params[1].data), C_B, atol=1e-4)


def test_adamw_decay_is_decoupled(backend):
    p = anynet.Parameter(arr(backend, W0), "W")
    opt = anynet.AdamW(lr=0.1, weight_decay=0.5)
    for _ in range(3):
        p.grad = arr(backend, np.zeros_like(W0))  # no gradient: only the decay acts, as W (1 - lr wd)
        opt.update([p])
    np.testing.assert_allclose(host(p.data), W0 * 0.95**3, rtol=1e-12)


# -- state: where it lives, saving, resuming -------------------------------------------


@pytest.mark.parametrize("name", list(RULES))
def test_state_lives_on_the_parameters_device_in_its_dtype(backend, name):
    make, _, hyper, lr = RULES[name]
    p = anynet.Parameter(arr(backend, W0, "float32"), "W")
    p.grad = arr(backend, A, "float32")
    make(lr=lr, **hyper).update([p])
    assert p.data.dtype == backend.xp.float32
    assert anynet.device_of(p.data) == backend
    for value in p.state.values():
        assert value.dtype == backend.xp.float32 and anynet.device_of(value) == backend


def _save_and_load(state):
    """Through the files a checkpoint writes: arrays in .npz, Python numbers in JSON."""
    arrays = {k: anynet.to_numpy(v) for k, v in state.items() if k.startswith("state.")}
    numbers = json.dumps({k: v for k, v in state.items() if not k.startswith("state.")})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        return {**json.loads(numbers), **{k: npz[k] for k in npz.files}}


@pytest.mark.parametrize("schedule", [False, True])
@pytest.mark.parametrize("name", list(RULES))
def test_stopping_and_resuming_is_bit_identical(name, schedule):
    make, _, hyper, lr = RULES[name]
    lr = anynet.Warmup(anynet.CosineDecay(lr, total=8), steps=3) if schedule else lr
    cpu = anynet.as_device("cpu")

    def make_opt():
        return make(lr=lr, hooks=[anynet.ClipByNorm(2.0)], **hyper)

    straight, opt = _quadratic_params(cpu), make_opt()
    for _ in range(12):
        _set_quadratic_grads(cpu, straight)
        opt.update(straight)

    first, opt = _quadratic_params(cpu), make_opt()
    for _ in range(5):
        _set_quadratic_grads(cpu, first)
        opt.update(first)
    saved = _save_and_load(opt.state_dict(first))
    resumed = [anynet.Parameter(p.data.copy(), p.name) for p in first]
    opt = make_opt()
    opt.load_state_dict(saved, resumed)
    assert opt.iterations == 5
    for _ in range(7):
        _set_quadratic_grads(cpu, resumed)
        opt.update(resumed)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_follows_the_model_to_another_device(backend):
    x, t = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 2))

    def run(move):
        anynet.seed(0)
        net = anynet.Affine(3, 2, dtype="float64")
        opt, loss = anynet.Adam(lr=0.1), anynet.MeanSquaredError()
        for step in range(4):
            if move and step == 2:
                net.to(backend)
                assert all(anynet.device_of(v) == backend for p in net.params for v in p.state.values())
            dev = net.device
            loss.forward(net.forward(dev.from_numpy(x)), dev.from_numpy(t))
            net.backward(loss.backward())
            opt.update(net.params)
        return [host(p.data) for p in net.params]

    for a, b in zip(run(False), run(True)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_load_state_dict_places_state_on_the_parameters_device(backend):
    cpu_params = _quadratic_params(anynet.as_device("cpu"))
    _set_quadratic_grads(anynet.as_device("cpu"), cpu_params)
    opt = anynet.Adam(lr=0.1)
    opt.update(cpu_params)
    params = _quadratic_params(backend)
    fresh = anynet.Adam(lr=0.1)
    fresh.load_state_dict(opt.state_dict(cpu_params), params)
    for p, q in zip(params, cpu_params):
        assert set(p.state) == {"m", "v"}
        for key in p.state:
            assert anynet.device_of(p.state[key]) == backend
            np.testing.assert_array_equal(host(p.state[key]), q.state[key])


def test_state_errors():
    params = _quadratic_params(anynet.as_device("cpu"))
    with pytest.raises(ValueError, match=r"Nadam: the state lacks \['mu_product'\]"):
        anynet.Nadam().load_state_dict({"iterations": 3}, params)
    with pytest.raises(ValueError, match=r"Adam: state m of parameter 1 has shape \(2, 3\), the parameter \(3,\)"):
        anynet.Adam().load_state_dict({"iterations": 1, "state.1.m": np.zeros((2, 3))}, params)
    with pytest.raises(ValueError, match="state names parameter 5, but there are 2"):
        anynet.SGD().load_state_dict({"iterations": 1, "state.5.v": np.zeros(3)}, params)


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match=r"SGD: lr must be a number > 0.0, got 0.0"):
        anynet.SGD(lr=0.0)
    with pytest.raises(ValueError, match=r"Momentum: momentum must be a number in \[0.0, 1.0\), got 1.5"):
        anynet.Momentum(momentum=1.5)
    with pytest.raises(ValueError, match=r"Adam: beta2 must be a number in \[0.0, 1.0\), got 1.0"):
        anynet.Adam(beta2=1.0)
    with pytest.raises(ValueError, match=r"AdamW: weight_decay must be a number >= 0.0, got -1.0"):
        anynet.AdamW(weight_decay=-1.0)


def test_every_optimizer_is_exported_and_takes_lr_first():
    for name in RULES:
        cls = getattr(anynet, name)
        assert cls is getattr(O, name)
        opt = cls(0.5)
        assert opt.lr == 0.5 and math.isclose(opt.current_lr, 0.5)
    assert issubclass(anynet.GD, anynet.SGD) and anynet.GD is not anynet.SGD


def test_sgd_step_by_hand(backend):
    p = anynet.Parameter(arr(backend, [1.0, -2.0]), "w")
    shared = p.data
    p.grad = arr(backend, [0.5, 0.5])
    opt = anynet.SGD(lr=0.1)
    opt.update([p])
    opt.update([p])
    np.testing.assert_allclose(host(p.data), [0.9, -2.1])
    np.testing.assert_array_equal(host(shared), [1.0, -2.0])  # the old array is never written into


def test_sgd_skips_parameters_without_gradients(backend):
    p = anynet.Parameter(arr(backend, [1.0]), "w")
    anynet.SGD(lr=0.1).update([p])
    np.testing.assert_array_equal(host(p.data), [1.0])


def test_flat_buffer_views_gathers_and_rebinds(backend):
    """A FlatBuffer's parameters are views of one array; gradients and state lie end to end; a
    parameter assigned anew (load_state_dict) unbinds it and the optimizer builds a new one."""
    net = anynet.MLP(3, [4], 2, dtype="float64")
    if not backend.writable:
        assert not anynet.parameter.FlatBuffer.supports(net.params)
        with pytest.raises(ValueError, match="FlatBuffer"):
            net.flatten_params()
        return
    values = [host(p.data).copy() for p in net.params]
    buffer = net.flatten_params()
    assert buffer.size == sum(v.size for v in values) and buffer.bound()
    np.testing.assert_array_equal(host(buffer.data), np.concatenate([v.ravel() for v in values]))
    for p, v in zip(net.params, values):
        np.testing.assert_array_equal(host(p.data), v)
        p.grad = arr(backend, np.full(v.shape, float(v.size)))
    sizes = [v.size for v in values]
    np.testing.assert_array_equal(host(buffer.gather_grads()), np.repeat(sizes, sizes))
    opt = anynet.Adam(lr=0.1)
    opt.update(buffer)
    assert opt._buffer is buffer and buffer.bound()
    np.testing.assert_array_equal(host(buffer.data), np.concatenate([host(p.data).ravel() for p in net.params]))
    m_parts = [host(p.state["m"]).ravel() for p in net.params]
    np.testing.assert_array_equal(host(buffer.state("m")), np.concatenate(m_parts))
    saved = {k: host(v).copy() for k, v in net.state_dict().items()}
    net.load_state_dict({k: arr(backend, v) for k, v in saved.items()})
    assert not buffer.bound()
    for p in net.params:
        p.grad = p.data * 0.5
    opt.update(net.params)
    assert opt._buffer is not buffer and opt._buffer.bound()
