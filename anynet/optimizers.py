"""Optimizers: ``opt.update(params)`` assigns ``p.data = new`` for every parameter with a gradient.

Never writes into a parameter's array, so it works on immutable arrays (JAX)
and never changes an array a caller may share. Per-parameter state lives in
``p.state`` (created on the parameter's device, in its dtype, on first use), so
moving a model moves its optimizer state with it.

``lr`` is a number or a schedule, any callable ``lr(iteration) -> float``
(``anynet.schedules``): the optimizer asks it once per update with the number
of updates done so far. Weight decay and gradient clipping are hooks
(``anynet.hooks``) that rewrite the gradients before the step.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

from .backend import device_of, following, namespace, to_device
from .functional import sign
from .parameter import Parameter
from .schedules import LR
from .validation import check_float, check_int

__all__ = [
    "LAMB", "AdaDelta", "AdaGrad", "Adam", "AdamW", "GD", "Lion", "Momentum", "Nadam", "Nesterov", "Optimizer",
    "RAdam", "RMSProp", "SGD",
]

Hook = Callable[[Sequence[Parameter], list[Any]], list[Any]]


class Optimizer:
    """Base: gathers parameters with gradients, runs the hooks on the gradients, steps each.

    ``hooks`` are callables ``hook(params, grads) -> grads`` applied in order
    before the update (weight decay, gradient clipping). Subclasses implement
    ``step(p, g, lr) -> new p.data`` and name in ``scalars`` any Python numbers
    besides ``iterations`` that ``state_dict`` must carry.
    """

    scalars: tuple[str, ...] = ()

    def __init__(self, lr: LR = 0.01, hooks: Iterable[Hook] = ()):
        if not callable(lr):
            lr = check_float(self.name, "lr", lr, 0.0, low_open=True)
        self.lr = lr
        self.hooks = list(hooks)
        for i, hook in enumerate(self.hooks):
            if not callable(hook):
                raise TypeError(f"{self.name}: hooks[{i}] must be a callable hook(params, grads), "
                                f"got {hook!r} ({type(hook).__name__})")
        self.iterations = 0

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def current_lr(self) -> float:
        """The learning rate the next update will use."""
        return float(self.lr(self.iterations)) if callable(self.lr) else float(self.lr)

    def update(self, params: Iterable[Parameter]) -> None:
        params = [p for p in params if p.grad is not None]
        with following(params[0].data if params else None):  # on the parameters' device (CuPy: its GPU)
            self._update(params)

    def _update(self, params: list[Parameter]) -> None:
        grads = [p.grad for p in params]
        for p, g in zip(params, grads):
            namespace(p.data, g, where=self.name)
            if tuple(g.shape) != tuple(p.data.shape):
                raise ValueError(
                    f"{self.name}: gradient of {p.name or 'a parameter'} has shape "
                    f"{tuple(g.shape)}, the parameter {tuple(p.data.shape)}"
                )
        for hook in self.hooks:
            grads = hook(params, grads)
        lr = self.current_lr
        self.iterations += 1
        self.advance()
        for p, g in zip(params, grads):
            p.data = self.step(p, g, lr)

    def advance(self) -> None:
        """Once per update, after ``iterations`` is counted: update scalar state (Nadam)."""

    def step(self, p: Parameter, g: Any, lr: float) -> Any:
        """The new value of ``p.data`` given its gradient ``g`` and this update's ``lr``."""
        raise NotImplementedError

    def _state(self, p: Parameter, key: str) -> Any:
        """``p.state[key]``, zeros of p's shape and dtype on p's device the first time."""
        value = p.state.get(key)
        if value is None:
            value = device_of(p.data).zeros(p.shape, p.dtype)
        return value

    def state_dict(self, params: Sequence[Parameter]) -> dict[str, Any]:
        """Everything needed to resume: ``"iterations"``, ``"lr"`` (when a number; a schedule
        is a function of ``iterations``), the ``scalars`` (Python numbers), and each
        parameter's state arrays under ``"state.{index}.{key}"``, in ``params`` order."""
        state: dict[str, Any] = {"iterations": self.iterations}
        if not callable(self.lr):
            state["lr"] = self.lr
        state.update({name: getattr(self, name) for name in self.scalars})
        for i, p in enumerate(params):
            for key, value in p.state.items():
                state[f"state.{i}.{key}"] = value
        return state

    def check_state(self, state: dict[str, Any], params: Sequence[Parameter]) -> list[dict[str, Any]]:
        """Check a ``state_dict`` against ``params`` without changing anything (ValueError or
        TypeError if it does not fit); returns each parameter's state arrays."""
        missing = [k for k in ("iterations", *self.scalars) if k not in state]
        if missing:
            raise ValueError(f"{self.name}: the state lacks {missing}; was it saved by another optimizer?")
        check_int(self.name, "the state's iterations", state["iterations"], 0)
        if "lr" in state:
            check_float(self.name, "the state's lr", state["lr"], 0.0, low_open=True)
        for name in self.scalars:
            check_float(self.name, f"the state's {name}", state[name])
        per_param: list[dict[str, Any]] = [{} for _ in params]
        for name, value in state.items():
            if name in ("iterations", "lr", *self.scalars):
                continue
            index, _, key = name[len("state."):].partition(".")
            if not name.startswith("state.") or not index.isdigit() or not key:
                raise ValueError(f"{self.name}: the state holds {name!r}, which names no parameter state")
            if int(index) >= len(params):
                raise ValueError(f"{self.name}: state names parameter {index}, but there are {len(params)}")
            if tuple(getattr(value, "shape", ())) != params[int(index)].shape:
                raise ValueError(
                    f"{self.name}: state {key} of parameter {index} has shape {tuple(getattr(value, 'shape', ()))}, "
                    f"the parameter {params[int(index)].shape}"
                )
            per_param[int(index)][key] = value
        return per_param

    def load_state_dict(self, state: dict[str, Any], params: Sequence[Parameter]) -> None:
        """Restore what ``state_dict`` returned (all checked first); arrays go to each parameter's device."""
        per_param = self.check_state(state, params)
        self.iterations = int(state["iterations"])
        if "lr" in state and not callable(self.lr):
            self.lr = float(state["lr"])
        for name in self.scalars:
            setattr(self, name, float(state[name]))
        for p, values in zip(params, per_param):
            dev = device_of(p.data)
            p.state = {k: to_device(v, dev) for k, v in values.items()}

    def __repr__(self) -> str:
        return f"{self.name}(lr={self.lr!r})"


class SGD(Optimizer):
    """Stochastic gradient descent: W <- W - lr * dW."""

    def step(self, p, g, lr):
        return p.data - lr * g


class GD(SGD):
    """Gradient descent, W <- W - lr * dW: SGD's update. Full-batch when each gradient comes
    from the whole training set, which the trainer's ``batch_size`` decides (None or N)."""


class Momentum(SGD):
    """Momentum SGD as in the book: v <- momentum * v - lr * dW; W <- W + v.
    Polyak 1964, https://doi.org/10.1016/0041-5553(64)90137-5"""

    def __init__(self, lr: LR = 0.01, momentum: float = 0.9, hooks: Iterable[Hook] = ()):
        super().__init__(lr, hooks)
        momentum = check_float(self.name, "momentum", momentum, 0.0, 1.0, high_open=True)
        self.momentum = momentum

    def step(self, p, g, lr):
        v = self.momentum * self._state(p, "v") - lr * g
        p.state["v"] = v
        return p.data + v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in the form of Bengio et al. (gradient at W, not at W + mu v):
    v <- momentum * v - lr * dW; W <- W + momentum * v - lr * dW (the same as PyTorch's
    ``nesterov=True``). Sutskever et al. 2013, https://proceedings.mlr.press/v28/sutskever13.html;
    Bengio et al., https://arxiv.org/abs/1212.0901"""

    def step(self, p, g, lr):
        v = self.momentum * self._state(p, "v") - lr * g
        p.state["v"] = v
        return p.data + self.momentum * v - lr * g


class AdaGrad(Optimizer):
    """h <- h + dW^2; W <- W - lr * dW / (sqrt(h) + eps) (eps = 1e-7 as in the book).
    Duchi et al. 2011, https://jmlr.org/papers/v12/duchi11a.html"""

    def __init__(self, lr: LR = 0.01, eps: float = 1e-7, hooks: Iterable[Hook] = ()):
        super().__init__(lr, hooks)
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)

    def step(self, p, g, lr):
        xp = namespace(p.data, g)
        h = self._state(p, "h") + g * g
        p.state["h"] = h
        return p.data - lr * g / (xp.sqrt(h) + self.eps)


class RMSProp(Optimizer):
    """h <- decay * h + (1 - decay) * dW^2; W <- W - lr * dW / (sqrt(h) + eps), with the book's
    decay 0.99 and eps 1e-7. Tieleman & Hinton 2012, lecture 6.5,
    https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf"""

    def __init__(self, lr: LR = 0.01, decay: float = 0.99, eps: float = 1e-7, hooks: Iterable[Hook] = ()):
        super().__init__(lr, hooks)
        decay = check_float(self.name, "decay", decay, 0.0, 1.0, high_open=True)
        self.decay, self.eps = decay, check_float(self.name, "eps", eps, 0.0, low_open=True)

    def step(self, p, g, lr):
        xp = namespace(p.data, g)
        h = self.decay * self._state(p, "h") + (1.0 - self.decay) * (g * g)
        p.state["h"] = h
        return p.data - lr * g / (xp.sqrt(h) + self.eps)


class AdaDelta(Optimizer):
    """Zeiler's AdaDelta: E[g^2] <- rho E[g^2] + (1 - rho) dW^2;
    d <- -sqrt(E[d^2] + eps) / sqrt(E[g^2] + eps) * dW; E[d^2] <- rho E[d^2] + (1 - rho) d^2;
    W <- W + lr * d. The method needs no learning rate: ``lr`` only scales the step and
    is 1.0 by default (as in PyTorch). Zeiler 2012, https://arxiv.org/abs/1212.5701"""

    def __init__(self, lr: LR = 1.0, rho: float = 0.95, eps: float = 1e-6, hooks: Iterable[Hook] = ()):
        super().__init__(lr, hooks)
        rho = check_float(self.name, "rho", rho, 0.0, 1.0, high_open=True)
        self.rho, self.eps = rho, check_float(self.name, "eps", eps, 0.0, low_open=True)

    def step(self, p, g, lr):
        xp = namespace(p.data, g)
        sq_grad = self.rho * self._state(p, "sq_grad") + (1.0 - self.rho) * (g * g)
        sq_delta = self._state(p, "sq_delta")
        delta = -xp.sqrt(sq_delta + self.eps) / xp.sqrt(sq_grad + self.eps) * g
        p.state["sq_grad"] = sq_grad
        p.state["sq_delta"] = self.rho * sq_delta + (1.0 - self.rho) * (delta * delta)
        return p.data + lr * delta


class Adam(Optimizer):
    """m <- b1 m + (1 - b1) dW; v <- b2 v + (1 - b2) dW^2;
    W <- W - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps), t the update count.
    Kingma & Ba, Algorithm 1, https://arxiv.org/abs/1412.6980"""

    def __init__(
        self, lr: LR = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
        hooks: Iterable[Hook] = (),
    ):
        super().__init__(lr, hooks)
        beta1 = check_float(self.name, "beta1", beta1, 0.0, 1.0, high_open=True)
        beta2 = check_float(self.name, "beta2", beta2, 0.0, 1.0, high_open=True)
        self.beta1, self.beta2 = beta1, beta2
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)

    def _moments(self, p, g):
        m = self.beta1 * self._state(p, "m") + (1.0 - self.beta1) * g
        v = self.beta2 * self._state(p, "v") + (1.0 - self.beta2) * (g * g)
        p.state["m"], p.state["v"] = m, v
        return m, v

    def step(self, p, g, lr):
        xp = namespace(p.data, g)
        m, v = self._moments(p, g)
        t = self.iterations
        # bias corrections are Python floats: no device work for them
        m_hat = m / (1.0 - self.beta1**t)
        v_hat = v / (1.0 - self.beta2**t)
        return p.data - lr * m_hat / (xp.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay: W <- W - lr * weight_decay * W, then Adam's step
    (as PyTorch's AdamW; the decay is not added to the gradient, unlike the WeightDecay hook).
    Loshchilov & Hutter, https://arxiv.org/abs/1711.05101"""

    def __init__(
        self, lr: LR = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
        weight_decay: float = 0.01, hooks: Iterable[Hook] = (),
    ):
        super().__init__(lr, beta1, beta2, eps, hooks)
        self.weight_decay = check_float(self.name, "weight_decay", weight_decay, 0.0)

    def step(self, p, g, lr):
        return super().step(p, g, lr) - (lr * self.weight_decay) * p.data


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

    def step(self, p, g, lr):
        xp = namespace(p.data, g)
        m, v = self._moments(p, g)
        t = self.iterations
        mu, mu_next = self._mu(t), self._mu(t + 1)
        denom = xp.sqrt(v / (1.0 - self.beta2**t)) + self.eps
        grad_part = lr * (1.0 - mu) / (1.0 - self.mu_product)
        momentum_part = lr * mu_next / (1.0 - self.mu_product * mu_next)
        return p.data - grad_part * g / denom - momentum_part * m / denom


class RAdam(Adam):
    """Adam with its variance rectified: while the variance of the adaptive rate is intractable
    (rho_t <= 5) the step is momentum SGD, lr * m_hat; after, lr * r_t * m_hat / (sqrt(v_hat) + eps) with
    rho_inf = 2 / (1 - b2) - 1, rho_t = rho_inf - 2 t b2^t / (1 - b2^t),
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)) (PyTorch's RAdam).
    Liu et al. 2020, Algorithm 2, https://arxiv.org/abs/1908.03265"""

    def step(self, p, g, lr):
        xp = namespace(p.data, g)
        m, v = self._moments(p, g)
        t = self.iterations
        m_hat = m / (1.0 - self.beta1**t)
        rho_inf = 2.0 / (1.0 - self.beta2) - 1.0
        rho_t = rho_inf - 2.0 * t * self.beta2**t / (1.0 - self.beta2**t)
        if rho_t <= 5.0:  # a Python float of the step count: no device read
            return p.data - lr * m_hat
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        adaptive = math.sqrt(1.0 - self.beta2**t) / (xp.sqrt(v) + self.eps)
        return p.data - (lr * r) * m_hat * adaptive


class Lion(Optimizer):
    """Evolved sign momentum: c = b1 m + (1 - b1) dW; W <- W - lr (sign(c) + weight_decay W);
    m <- b2 m + (1 - b2) dW. Use a learning rate 3-10x smaller than Adam's.
    Chen et al. 2023, Program 1, https://arxiv.org/abs/2302.06675"""

    def __init__(
        self, lr: LR = 1e-4, beta1: float = 0.9, beta2: float = 0.99, weight_decay: float = 0.0,
        hooks: Iterable[Hook] = (),
    ):
        super().__init__(lr, hooks)
        self.beta1 = check_float(self.name, "beta1", beta1, 0.0, 1.0, high_open=True)
        self.beta2 = check_float(self.name, "beta2", beta2, 0.0, 1.0, high_open=True)
        self.weight_decay = check_float(self.name, "weight_decay", weight_decay, 0.0)

    def step(self, p, g, lr):
        m = self._state(p, "m")
        c = self.beta1 * m + (1.0 - self.beta1) * g
        p.state["m"] = self.beta2 * m + (1.0 - self.beta2) * g
        return p.data - lr * (sign(c) + self.weight_decay * p.data)


class LAMB(Adam):
    """Layer-wise adaptive moments: u = m_hat / (sqrt(v_hat) + eps) + weight_decay W (Adam's
    moments); W <- W - lr * (||W|| / ||u||) * u, the trust ratio taken as 1 where either norm is 0.
    You et al. 2020, Algorithm 2, https://arxiv.org/abs/1904.00962"""

    def __init__(
        self, lr: LR = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-6,
        weight_decay: float = 0.0, hooks: Iterable[Hook] = (),
    ):
        super().__init__(lr, beta1, beta2, eps, hooks)
        self.weight_decay = check_float(self.name, "weight_decay", weight_decay, 0.0)

    def step(self, p, g, lr):
        xp = namespace(p.data, g)
        m, v = self._moments(p, g)
        t = self.iterations
        u = (m / (1.0 - self.beta1**t)) / (xp.sqrt(v / (1.0 - self.beta2**t)) + self.eps)
        u = u + self.weight_decay * p.data
        w_norm = xp.sqrt(xp.sum(p.data * p.data))
        u_norm = xp.sqrt(xp.sum(u * u))
        both = xp.logical_and(w_norm > 0, u_norm > 0)
        ratio = xp.where(both, w_norm / xp.where(both, u_norm, xp.ones_like(u_norm)), xp.ones_like(w_norm))
        return p.data - lr * ratio * u
