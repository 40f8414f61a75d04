"""Gradient descent and its per-coordinate variants (``anynet.optim.sgd``) on every backend against
the published rules written out here in NumPy, against torch.optim, on a convex problem, and
saved and resumed bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import optim as O
from anynet.testing import arr, host

from ._common import (
    Ref,
    Rule,
    check_against_torch,
    check_quadratic,
    check_small_net,
    rule_table_tests,
)

# -- the published rules, by hand in NumPy (float64), independent of anynet ------


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


RULES = {
    "SGD": Rule(O.SGD, RefSGD, {}, 0.1),
    "Momentum": Rule(O.Momentum, RefMomentum, dict(momentum=0.9), 0.05),
    "Nesterov": Rule(O.Nesterov, RefNesterov, dict(momentum=0.9), 0.05),
    "AdaGrad": Rule(O.AdaGrad, RefAdaGrad, dict(eps=1e-7), 0.5),
    "RMSProp": Rule(O.RMSProp, RefRMSProp, dict(decay=0.99, eps=1e-7), 0.01),
    "AdaDelta": Rule(O.AdaDelta, RefAdaDelta, dict(rho=0.95, eps=1e-6), 1.0),
}

# lr (a number or a schedule) and changed hyper-parameters that reach the minimum in 400 updates.
# The adaptive methods take steps of about lr even near the minimum: a cosine decay lets them land.
CONVERGE = {
    "SGD": (0.1, {}),
    "Momentum": (0.05, {}),
    "Nesterov": (0.05, {}),
    "AdaGrad": (0.5, {}),
    "RMSProp": (anynet.CosineDecay(0.1, total=400), {}),
    "AdaDelta": (1.0, dict(eps=1e-4)),
}


def _torch_optimizer(torch, name):
    """``make(params, lr)``: the torch.optim twin of ``RULES[name]``."""
    o = torch.optim
    return {
        "SGD": lambda params, lr: o.SGD(params, lr=lr),
        "Momentum": lambda params, lr: o.SGD(params, lr=lr, momentum=0.9),
        "Nesterov": lambda params, lr: o.SGD(params, lr=lr, momentum=0.9, nesterov=True),
        "AdaGrad": lambda params, lr: o.Adagrad(params, lr=lr, eps=1e-7),
        "RMSProp": lambda params, lr: o.RMSprop(params, lr=lr, alpha=0.99, eps=1e-7),
        "AdaDelta": lambda params, lr: o.Adadelta(params, lr=lr, rho=0.95, eps=1e-6),
    }[name]


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
    check_against_torch(torch, RULES[name], _torch_optimizer(torch, name))


(test_converges_to_the_minimum_of_a_convex_problem, test_state_lives_on_the_parameters_device_in_its_dtype,
 test_stopping_and_resuming_is_bit_identical) = rule_table_tests(RULES, CONVERGE)


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
