"""Gradient descent and its per-coordinate variants: SGD, Momentum, Nesterov, AdaGrad, RMSProp, AdaDelta."""

from __future__ import annotations

from typing import Iterable

from ..backend import namespace
from ..validation import check_float
from .base import Hook, Optimizer, fused, in_place
from .schedules import LR

__all__ = ["SGD", "AdaDelta", "AdaGrad", "Momentum", "Nesterov", "RMSProp"]


class SGD(Optimizer):
    """Stochastic gradient descent: W <- W - lr * dW. Full-batch gradient descent when each gradient
    comes from the whole training set, which the trainer's ``batch_size`` decides (None or N)."""

    elementwise = True

    def rule(self, w, g, state, lr, t):
        return w - lr * g, {}


class Momentum(SGD):
    """Momentum SGD as in the book: v <- momentum * v - lr * dW; W <- W + v.
    Polyak 1964, https://doi.org/10.1016/0041-5553(64)90137-5"""

    slots = ("v",)

    def __init__(self, lr: LR = 0.01, momentum: float = 0.9, hooks: Iterable[Hook] = ()):
        super().__init__(lr, hooks)
        momentum = check_float(self.name, "momentum", momentum, 0.0, 1.0, high_open=True)
        self.momentum = momentum

    def rule(self, w, g, state, lr, t):
        v = self.momentum * state["v"] - lr * g
        return w + v, {"v": v}


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in the form of Bengio et al. (gradient at W, not at W + mu v):
    v <- momentum * v - lr * dW; W <- W + momentum * v - lr * dW (the same as PyTorch's
    ``nesterov=True``). Sutskever et al. 2013, https://proceedings.mlr.press/v28/sutskever13.html;
    Bengio et al., https://arxiv.org/abs/1212.0901"""

    def rule(self, w, g, state, lr, t):
        v = self.momentum * state["v"] - lr * g
        return w + self.momentum * v - lr * g, {"v": v}


class AdaGrad(Optimizer):
    """h <- h + dW^2; W <- W - lr * dW / (sqrt(h) + eps) (eps = 1e-7 as in the book).
    Duchi et al. 2011, https://jmlr.org/papers/v12/duchi11a.html"""

    slots = ("h",)

    elementwise = True

    def __init__(self, lr: LR = 0.01, eps: float = 1e-7, hooks: Iterable[Hook] = ()):
        super().__init__(lr, hooks)
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)

    def rule(self, w, g, state, lr, t):
        xp = namespace(w, g)
        h = state["h"] + g * g
        return w - lr * g / (xp.sqrt(h) + self.eps), {"h": h}


class RMSProp(Optimizer):
    """h <- decay * h + (1 - decay) * dW^2; W <- W - lr * dW / (sqrt(h) + eps), with the book's
    decay 0.99 and eps 1e-7. Tieleman & Hinton 2012, lecture 6.5,
    https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf"""

    slots = ("h",)

    elementwise = True

    def __init__(self, lr: LR = 0.01, decay: float = 0.99, eps: float = 1e-7, hooks: Iterable[Hook] = ()):
        super().__init__(lr, hooks)
        decay = check_float(self.name, "decay", decay, 0.0, 1.0, high_open=True)
        self.decay, self.eps = decay, check_float(self.name, "eps", eps, 0.0, low_open=True)

    def rule(self, w, g, state, lr, t):
        xp = namespace(w, g)
        h = self.decay * state["h"] + (1.0 - self.decay) * (g * g)
        return w - lr * g / (xp.sqrt(h) + self.eps), {"h": h}


class AdaDelta(Optimizer):
    """Zeiler's AdaDelta: E[g^2] <- rho E[g^2] + (1 - rho) dW^2;
    d <- -sqrt(E[d^2] + eps) / sqrt(E[g^2] + eps) * dW; E[d^2] <- rho E[d^2] + (1 - rho) d^2;
    W <- W + lr * d. The method needs no learning rate: ``lr`` only scales the step and
    is 1.0 by default (as in PyTorch). Zeiler 2012, https://arxiv.org/abs/1212.5701"""

    slots = ("sq_grad", "sq_delta")

    elementwise = True

    def __init__(self, lr: LR = 1.0, rho: float = 0.95, eps: float = 1e-6, hooks: Iterable[Hook] = ()):
        super().__init__(lr, hooks)
        rho = check_float(self.name, "rho", rho, 0.0, 1.0, high_open=True)
        self.rho, self.eps = rho, check_float(self.name, "eps", eps, 0.0, low_open=True)

    def rule(self, w, g, state, lr, t):
        xp = namespace(w, g)
        sq_grad = self.rho * state["sq_grad"] + (1.0 - self.rho) * (g * g)
        sq_delta = state["sq_delta"]
        delta = -xp.sqrt(sq_delta + self.eps) / xp.sqrt(sq_grad + self.eps) * g
        new_sq_delta = self.rho * sq_delta + (1.0 - self.rho) * (delta * delta)
        return w + lr * delta, {"sq_grad": sq_grad, "sq_delta": new_sq_delta}


# -- hand-written in-place forms of the rules above on a whole FlatBuffer, registered where
# benchmarks/results-optim-flat.md shows they pay; the same operations in the same order.


@in_place(SGD)
def _sgd_in_place(opt: SGD, buffer, g, lr, t) -> None:
    s = buffer.scratch(0)
    s[...] = g
    s *= lr
    buffer.data -= s


@in_place(Momentum)
def _momentum_in_place(opt: Momentum, buffer, g, lr, t) -> None:
    v, s = buffer.state("v"), buffer.scratch(0)
    v *= opt.momentum
    s[...] = g
    s *= lr
    v -= s
    buffer.data += v


@in_place(Nesterov)
def _nesterov_in_place(opt: Nesterov, buffer, g, lr, t) -> None:
    v, s, d = buffer.state("v"), buffer.scratch(0), buffer.scratch(1)
    v *= opt.momentum
    s[...] = g
    s *= lr
    v -= s
    d[...] = v
    d *= opt.momentum
    buffer.data += d
    buffer.data -= s


# -- the hyper-parameters of their devices' fused updates (anynet.kernels.fused_update)


@fused(SGD, "sgd_update")
def _sgd_numbers(opt: SGD, t: int) -> dict[str, float]:
    return {}


@fused(Momentum, "momentum_update")
def _momentum_numbers(opt: Momentum, t: int) -> dict[str, float]:
    return {"momentum": opt.momentum}


@fused(Nesterov, "nesterov_update")
def _nesterov_numbers(opt: Nesterov, t: int) -> dict[str, float]:
    return {"momentum": opt.momentum}
