"""Optimizers: ``opt.update(params)`` assigns ``p.data = new`` for every parameter with a gradient.

Never writes into a parameter's array, so it works on immutable arrays (JAX)
and never changes an array a caller may share. Per-parameter state lives in
``p.state`` (created on the parameter's device on first use), so moving a model
moves its optimizer state with it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from .backend import namespace
from .parameter import Parameter

__all__ = ["Optimizer", "SGD"]

Hook = Callable[[Sequence[Parameter], list[Any]], list[Any]]


class Optimizer:
    """Base: gathers parameters with gradients, runs the hooks on the gradients, steps each.

    ``hooks`` are callables ``hook(params, grads) -> grads`` applied in order
    before the update (weight decay, gradient clipping).
    """

    def __init__(self, lr: float = 0.01, hooks: Iterable[Hook] = ()):
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr}")
        self.lr = lr
        self.hooks = list(hooks)
        self.iterations = 0

    def update(self, params: Iterable[Parameter]) -> None:
        params = [p for p in params if p.grad is not None]
        grads = [p.grad for p in params]
        for p, g in zip(params, grads):
            namespace(p.data, g, where=type(self).__name__)
            if tuple(g.shape) != tuple(p.data.shape):
                raise ValueError(
                    f"{type(self).__name__}: gradient of {p.name or 'a parameter'} has shape "
                    f"{tuple(g.shape)}, the parameter {tuple(p.data.shape)}"
                )
        for hook in self.hooks:
            grads = hook(params, grads)
        self.iterations += 1
        for p, g in zip(params, grads):
            p.data = self.step(p, g)

    def step(self, p: Parameter, g: Any) -> Any:
        """The new value of ``p.data`` given its gradient ``g``."""
        raise NotImplementedError

    def state_dict(self, params: Sequence[Parameter]) -> dict[str, Any]:
        """Everything needed to resume: ``"iterations"`` and ``"lr"`` (Python numbers) and
        each parameter's state arrays under ``"state.{index}.{key}"``, in ``params`` order."""
        state: dict[str, Any] = {"iterations": self.iterations, "lr": self.lr}
        for i, p in enumerate(params):
            for key, value in p.state.items():
                state[f"state.{i}.{key}"] = value
        return state

    def load_state_dict(self, state: dict[str, Any], params: Sequence[Parameter]) -> None:
        """Restore what ``state_dict`` returned; arrays go to each parameter's device."""
        from .backend import device_of, to_device

        self.iterations = int(state["iterations"])
        self.lr = float(state["lr"])
        per_param: list[dict[str, Any]] = [{} for _ in params]
        for name, value in state.items():
            if name.startswith("state."):
                _, index, key = name.split(".", 2)
                if int(index) >= len(params):
                    raise ValueError(f"{type(self).__name__}: state names parameter {index}, but there are {len(params)}")
                per_param[int(index)][key] = value
        for p, values in zip(params, per_param):
            dev = device_of(p.data)
            p.state = {k: to_device(v, dev) for k, v in values.items()}


class SGD(Optimizer):
    """Stochastic gradient descent: W <- W - lr * dW."""

    def step(self, p, g):
        return p.data - self.lr * g
