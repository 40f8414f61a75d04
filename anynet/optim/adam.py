"""Adaptive-moment optimizers: Adam, AdamW, Nadam, RAdam, LAMB, and Lion."""

from __future__ import annotations

import math
from typing import Iterable

from ..backend import namespace
from ..functional import sign
from ..validation import check_float
from .base import Hook, Optimizer, _scalar, fused, in_place, one_minus_power
from .schedules import LR

__all__ = ["LAMB", "Adam", "AdamW", "Lion", "Nadam", "RAdam"]


class Adam(Optimizer):
    """Adam: m <- b1 m + (1 - b1) dW; v <- b2 v + (1 - b2) dW^2;
    W <- W - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps), t the update count.
    Kingma & Ba, Algorithm 1, https://arxiv.org/abs/1412.6980

    **Arguments:**

    - ``lr``: the learning rate, a number or a schedule ``lr(iteration) -> float``.
    - ``beta1``, ``beta2``: the decay of the first and second moments, in [0, 1).
    - ``eps``: added to the denominator.
    - ``hooks``: gradient hooks run before each update (``WeightDecay``, ``ClipByNorm``, ...).
    """

    slots = ("m", "v")

    elementwise = True

    def __init__(
        self, lr: LR = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
        hooks: Iterable[Hook] = (),
    ):
        super().__init__(lr, hooks)
        beta1 = check_float(self.name, "beta1", beta1, 0.0, 1.0, high_open=True)
        beta2 = check_float(self.name, "beta2", beta2, 0.0, 1.0, high_open=True)
        self.beta1, self.beta2 = beta1, beta2
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)

    def _moments(self, state, g):
        """Adam's first and second moments after this gradient: (m, v)."""
        m = self.beta1 * state["m"] + (1.0 - self.beta1) * g
        v = self.beta2 * state["v"] + (1.0 - self.beta2) * (g * g)
        return m, v

    def rule(self, w, g, state, lr, t):
        xp = namespace(w, g)
        m, v = self._moments(state, g)
        denom = xp.sqrt(v / one_minus_power(self.beta2, t, w.dtype)) + self.eps
        return w - lr * (m / one_minus_power(self.beta1, t, w.dtype)) / denom, {"m": m, "v": v}


class _AdamWithDecay(Adam):
    """Adam's moments and a ``weight_decay`` that the subclass's step applies."""

    def __init__(
        self, lr: LR = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
        weight_decay: float = 0.01, hooks: Iterable[Hook] = (),
    ):
        super().__init__(lr, beta1, beta2, eps, hooks)
        self.weight_decay = check_float(self.name, "weight_decay", weight_decay, 0.0)


class AdamW(_AdamWithDecay):
    """Adam with decoupled weight decay: W <- W - lr * weight_decay * W, then Adam's step
    (as PyTorch's AdamW; the decay is not added to the gradient, unlike the WeightDecay hook).
    Loshchilov & Hutter, https://arxiv.org/abs/1711.05101"""

    def rule(self, w, g, state, lr, t):
        new, moments = super().rule(w, g, state, lr, t)
        return new - (lr * self.weight_decay) * w, moments


class Nadam(Adam):
    """Adam with Nesterov momentum and Dozat's momentum schedule mu_t = b1 (1 - 0.5 * 0.96^(t psi)):
    W <- W - lr (1 - mu_t) / (1 - prod_{i<=t} mu_i) * dW / d
           - lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i) * m / d,  d = sqrt(v / (1 - b2^t)) + eps
    (m, v as in Adam; the same rule as PyTorch's NAdam). Dozat 2016,
    https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ"""

    scalars = ("mu_product",)

    def __init__(
        self, lr: LR = 0.002, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
        momentum_decay: float = 0.004, hooks: Iterable[Hook] = (),
    ):
        super().__init__(lr, beta1, beta2, eps, hooks)
        self.momentum_decay = check_float(self.name, "momentum_decay", momentum_decay, 0.0)
        self.mu_product = 1.0

    def _mu(self, t: int) -> float:
        return self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def advance(self):
        self.mu_product *= self._mu(self.iterations)

    def rule(self, w, g, state, lr, t):
        xp = namespace(w, g)
        m, v = self._moments(state, g)
        mu, mu_next = self._mu(t), self._mu(t + 1)
        denom = xp.sqrt(v / one_minus_power(self.beta2, t, w.dtype)) + self.eps
        grad_part = _scalar(lr * (1.0 - mu) / (1.0 - self.mu_product), w.dtype)
        momentum_part = _scalar(lr * mu_next / (1.0 - self.mu_product * mu_next), w.dtype)
        return w - grad_part * g / denom - momentum_part * m / denom, {"m": m, "v": v}


class RAdam(Adam):
    """Adam with its variance rectified: while the variance of the adaptive rate is intractable
    (rho_t <= 5) the step is momentum SGD, lr * m_hat; after, lr * r_t * m_hat / (sqrt(v_hat) + eps) with
    rho_inf = 2 / (1 - b2) - 1, rho_t = rho_inf - 2 t b2^t / (1 - b2^t),
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)) (PyTorch's RAdam).
    Liu et al. 2020, Algorithm 2, https://arxiv.org/abs/1908.03265"""

    def rule(self, w, g, state, lr, t):
        xp = namespace(w, g)
        m, v = self._moments(state, g)
        moments = {"m": m, "v": v}
        m_hat = m / one_minus_power(self.beta1, t, w.dtype)
        bias2 = one_minus_power(self.beta2, t, w.dtype)  # 1 - b2^t
        rho_inf = 2.0 / (1.0 - self.beta2) - 1.0
        rho_t = rho_inf - 2.0 * t * (1.0 - bias2) / bias2
        if isinstance(t, int):
            if rho_t <= 5.0:  # a Python float of the step count: no device read
                return w - lr * m_hat, moments
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            return w - (lr * r) * m_hat * (math.sqrt(bias2) / (xp.sqrt(v) + self.eps)), moments
        # a traced count (compiled step): both rules, chosen on the device
        r = xp.sqrt(xp.maximum((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.0))
        rectified = w - (lr * r) * m_hat * (xp.sqrt(bias2) / (xp.sqrt(v) + self.eps))
        return xp.where(rho_t <= 5.0, w - lr * m_hat, rectified), moments


class Lion(Optimizer):
    """Evolved sign momentum: c = b1 m + (1 - b1) dW; W <- W - lr (sign(c) + weight_decay W);
    m <- b2 m + (1 - b2) dW. Use a learning rate 3-10x smaller than Adam's.
    Chen et al. 2023, Program 1, https://arxiv.org/abs/2302.06675"""

    slots = ("m",)

    elementwise = True

    def __init__(
        self, lr: LR = 1e-4, beta1: float = 0.9, beta2: float = 0.99, weight_decay: float = 0.0,
        hooks: Iterable[Hook] = (),
    ):
        super().__init__(lr, hooks)
        self.beta1 = check_float(self.name, "beta1", beta1, 0.0, 1.0, high_open=True)
        self.beta2 = check_float(self.name, "beta2", beta2, 0.0, 1.0, high_open=True)
        self.weight_decay = check_float(self.name, "weight_decay", weight_decay, 0.0)

    def rule(self, w, g, state, lr, t):
        m = state["m"]
        c = self.beta1 * m + (1.0 - self.beta1) * g
        return w - lr * (sign(c) + self.weight_decay * w), {"m": self.beta2 * m + (1.0 - self.beta2) * g}


class LAMB(_AdamWithDecay):
    """Layer-wise adaptive moments: u = m_hat / (sqrt(v_hat) + eps) + weight_decay W (Adam's
    moments); W <- W - lr * (||W|| / ||u||) * u, the trust ratio taken as 1 where either norm is 0.
    You et al. 2020, Algorithm 2, https://arxiv.org/abs/1904.00962"""

    elementwise = False  # per-parameter norms

    def __init__(self, lr: LR = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-6,
                 weight_decay: float = 0.0, hooks: Iterable[Hook] = ()):
        super().__init__(lr, beta1, beta2, eps, weight_decay, hooks)

    def rule(self, w, g, state, lr, t):
        xp = namespace(w, g)
        m, v = self._moments(state, g)
        u = (m / one_minus_power(self.beta1, t, w.dtype)) / (
            xp.sqrt(v / one_minus_power(self.beta2, t, w.dtype)) + self.eps)
        u = u + self.weight_decay * w
        w_norm = xp.sqrt(xp.sum(w * w))
        u_norm = xp.sqrt(xp.sum(u * u))
        both = xp.logical_and(w_norm > 0, u_norm > 0)
        ratio = xp.where(both, w_norm / xp.where(both, u_norm, xp.ones_like(u_norm)), xp.ones_like(w_norm))
        return w - lr * ratio * u, {"m": m, "v": v}


# -- hand-written in-place forms of the rules above on a whole FlatBuffer, registered where
# benchmarks/results-optim-flat.md shows they pay; the same operations in the same order.


@in_place(Adam)
def _adam_in_place(opt: Adam, buffer, g, lr, t) -> None:
    dtype = buffer.data.dtype
    m, v, s, d = buffer.state("m"), buffer.state("v"), buffer.scratch(0), buffer.scratch(1)
    m *= opt.beta1
    s[...] = g
    s *= 1.0 - opt.beta1
    m += s
    v *= opt.beta2
    s[...] = g
    s *= g
    s *= 1.0 - opt.beta2
    v += s
    s[...] = v
    s /= one_minus_power(opt.beta2, t, dtype)
    s[...] = namespace(s).sqrt(s)  # the rule's sqrt: a power of 0.5 rounds differently on CUDA
    s += opt.eps
    d[...] = m
    d /= one_minus_power(opt.beta1, t, dtype)
    d *= lr
    d /= s
    buffer.data -= d


@in_place(AdamW)
def _adamw_in_place(opt: AdamW, buffer, g, lr, t) -> None:
    decay = buffer.scratch(2)
    decay[...] = buffer.data
    decay *= lr * opt.weight_decay
    _adam_in_place(opt, buffer, g, lr, t)
    buffer.data -= decay


# -- the hyper-parameters of their devices' fused updates (anynet.kernels.fused_update)


@fused(Adam, "adam_update")
def _adam_numbers(opt: Adam, t: int) -> dict[str, float]:
    return {"beta1": opt.beta1, "beta2": opt.beta2, "eps": opt.eps,
            "bias1": one_minus_power(opt.beta1, t, None), "bias2": one_minus_power(opt.beta2, t, None)}


@fused(AdamW, "adamw_update")
def _adamw_numbers(opt: AdamW, t: int) -> dict[str, float]:
    return {**_adam_numbers(opt, t), "weight_decay": opt.weight_decay}
