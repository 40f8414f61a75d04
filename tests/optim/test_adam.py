"""The adaptive-moment optimizers (``anynet.optim.adam``) on every backend against the published
rules written out here in NumPy, against torch.optim, on a convex problem, and saved and
resumed bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import optim as O
from anynet.testing import arr, host

from ._common import (
    RNG,
    W0,
    Ref,
    Rule,
    check_against_torch,
    check_quadratic,
    check_small_net,
    quadratic_params,
    rule_table_tests,
    set_quadratic_grads,
)

# -- the published rules, by hand in NumPy (float64), independent of anynet ------


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
RULES = {
    "Adam": Rule(O.Adam, RefAdam, ADAM, 0.05),
    "AdamW": Rule(O.AdamW, RefAdam, dict(ADAM, weight_decay=0.01), 0.05),
    "Nadam": Rule(O.Nadam, RefNadam, ADAM, 0.05),
    "RAdam": Rule(O.RAdam, RefRAdam, ADAM, 0.05),
    "Lion": Rule(O.Lion, RefLion, dict(beta1=0.9, beta2=0.99, weight_decay=0.01), 0.01),
    "LAMB": Rule(O.LAMB, RefLAMB, dict(ADAM, eps=1e-6, weight_decay=0.01), 0.05),
}

# lr (a number or a schedule) and changed hyper-parameters that reach the minimum in 400 updates.
# The adaptive methods take steps of about lr even near the minimum: a cosine decay lets them land.
# AdamW runs without decay here: decoupled decay has no fixed point at the loss's minimum (its
# decay is checked by the rule tests and test_adamw_decay_is_decoupled).
CONVERGE = {
    "Adam": (anynet.CosineDecay(0.1, total=400), {}),
    "AdamW": (anynet.CosineDecay(0.1, total=400), dict(weight_decay=0.0)),
    "Nadam": (anynet.CosineDecay(0.1, total=400), {}),
    "RAdam": (anynet.CosineDecay(0.2, total=400), {}),  # its early SGD-like steps start slowly
    "Lion": (anynet.CosineDecay(0.05, total=400), dict(weight_decay=0.0)),
    "LAMB": (anynet.CosineDecay(0.05, total=400), dict(weight_decay=0.0)),
}


def _torch_optimizer(torch, name):
    """``make(params, lr)``: the torch.optim twin of ``RULES[name]``, or None where torch.optim has none."""
    o = torch.optim
    return {
        "Adam": lambda params, lr: o.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8),
        "AdamW": lambda params, lr: o.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
        "Nadam": lambda params, lr: o.NAdam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3),
        "RAdam": lambda params, lr: o.RAdam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8),
    }.get(name)


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "assign"])
@pytest.mark.parametrize("name", list(RULES))
def test_steps_on_a_quadratic_follow_the_published_rule(backend, name, flat):
    check_quadratic(backend, RULES[name], flat)


@pytest.mark.parametrize("name", list(RULES))
def test_steps_on_a_small_net_follow_the_published_rule(backend, name):
    check_small_net(backend, RULES[name])


@pytest.mark.parametrize("name", list(RULES))
def test_agrees_with_torch_optim(name):
    torch = pytest.importorskip("torch")
    make_torch = _torch_optimizer(torch, name)
    if make_torch is None:
        pytest.skip(f"torch.optim has no {name}: the published-rule tests cover it")
    check_against_torch(torch, RULES[name], make_torch)


(test_converges_to_the_minimum_of_a_convex_problem, test_state_lives_on_the_parameters_device_in_its_dtype,
 test_stopping_and_resuming_is_bit_identical) = rule_table_tests(RULES, CONVERGE)


def test_adamw_decay_is_decoupled(backend):
    p = anynet.Parameter(arr(backend, W0), "W")
    opt = anynet.AdamW(lr=0.1, weight_decay=0.5)
    for _ in range(3):
        p.grad = arr(backend, np.zeros_like(W0))  # no gradient: only the decay acts, as W (1 - lr wd)
        opt.update([p])
    np.testing.assert_allclose(host(p.data), W0 * 0.95**3, rtol=1e-12)


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
    cpu_params = quadratic_params(anynet.as_device("cpu"))
    set_quadratic_grads(anynet.as_device("cpu"), cpu_params)
    opt = anynet.Adam(lr=0.1)
    opt.update(cpu_params)
    params = quadratic_params(backend)
    fresh = anynet.Adam(lr=0.1)
    fresh.load_state_dict(opt.state_dict(cpu_params), params)
    for p, q in zip(params, cpu_params):
        assert set(p.state) == {"m", "v"}
        for key in p.state:
            assert anynet.device_of(p.state[key]) == backend
            np.testing.assert_array_equal(host(p.state[key]), q.state[key])
