"""Learning-rate schedules: objects ``schedule(iteration) -> lr`` given to an optimizer as its ``lr``.

    opt = SGD(lr=StepDecay(0.1, step=1000, gamma=0.5))
    opt = Adam(lr=Warmup(CosineDecay(1e-3, total=10_000), steps=500))

``iteration`` counts the optimizer's updates done so far (0 for the first),
so a schedule is a pure function of ``opt.iterations`` and resuming from an
optimizer's ``state_dict`` resumes its schedule too. Any callable of one int
returning a float works in place of these classes. To decay per epoch, give
steps in updates: ``step=k * updates_per_epoch``.

Inside a compiled training step (``anynet.compile_step``) ``iteration`` is a 0-d
integer array (the traced update count) and the result an array: the schedules
here take either, with no Python branch on the count; a schedule of your own must
too (``xp.where`` rather than ``if``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Union

from ..backend import namespace
from ..validation import check_float, check_int

__all__ = ["LR", "Constant", "CosineDecay", "OneCycle", "Schedule", "StepDecay", "Warmup"]

# What an optimizer takes as its learning rate: a number or a schedule.
LR = Union[float, Callable[[int], float]]
"""A learning rate: a number, or a schedule ``lr(iteration) -> float``."""


class Schedule:
    """Base of the schedules: ``__call__(iteration) -> lr`` (a Python float)."""

    def __call__(self, iteration: int) -> float:
        raise NotImplementedError

    def check_length(self, updates: int) -> None:
        """ValueError when the schedule cannot serve a run of ``updates`` updates in total (the
        trainer asks before training); nothing by default."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """lr at every iteration."""

    def __init__(self, lr: float):
        self.lr = check_float("Constant", "lr", lr, 0.0, low_open=True)

    def __call__(self, iteration: int) -> float:
        return self.lr


class StepDecay(Schedule):
    """lr * gamma ** (iteration // step): multiply by ``gamma`` every ``step`` updates."""

    def __init__(self, lr: float, step: int, gamma: float = 0.1):
        self.lr = check_float("StepDecay", "lr", lr, 0.0, low_open=True)
        self.step = check_int("StepDecay", "step", step, 1)
        self.gamma = check_float("StepDecay", "gamma", gamma, 0.0, low_open=True)

    def __call__(self, iteration: int) -> float:
        return self.lr * self.gamma ** (iteration // self.step)


class CosineDecay(Schedule):
    """min_lr + (lr - min_lr) (1 + cos(pi * iteration / total)) / 2, then min_lr after ``total`` updates.
    Loshchilov & Hutter, SGDR, https://arxiv.org/abs/1608.03983 (one cycle, no restarts)."""

    def __init__(self, lr: float, total: int, min_lr: float = 0.0):
        self.lr = check_float("CosineDecay", "lr", lr, 0.0, low_open=True)
        self.total = check_int("CosineDecay", "total", total, 1)
        self.min_lr = check_float("CosineDecay", "min_lr", min_lr, 0.0, self.lr)

    def __call__(self, iteration: int) -> float:
        if isinstance(iteration, int):
            if iteration >= self.total:
                return self.min_lr
            return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * iteration / self.total))
        xp, i = _traced(iteration)
        cosine = self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + xp.cos(math.pi * i / self.total))
        return xp.where(i >= self.total, self.min_lr, cosine)


class Warmup(Schedule):
    """A linear ramp over the first ``steps`` updates, then ``after`` (a float or schedule) from its
    iteration 0: lr = after(0) * (iteration + 1) / (steps + 1) while iteration < steps.
    Goyal et al., https://arxiv.org/abs/1706.02677 (gradual warm-up)."""

    def __init__(self, after: LR, steps: int):
        self.steps = check_int("Warmup", "steps", steps, 0)
        self.after = after if callable(after) else Constant(after)

    def __call__(self, iteration: int) -> float:
        if isinstance(iteration, int):
            if iteration < self.steps:
                return self.after(0) * (iteration + 1) / (self.steps + 1)
            return self.after(iteration - self.steps)
        xp, i = _traced(iteration)
        ramp = self.after(0) * (i + 1) / (self.steps + 1)
        return xp.where(iteration < self.steps, ramp, self.after(iteration - self.steps))


def _traced(iteration: Any) -> tuple[Any, Any]:
    """The namespace of an array update count and the count as a float array."""
    xp = namespace(iteration)
    return xp, xp.astype(iteration, xp.__array_namespace_info__().default_dtypes()["real floating"])


def _cosine(start: float, end: float, fraction: Any, cos: Callable[[Any], Any] = math.cos) -> Any:
    return end + (start - end) * 0.5 * (1.0 + cos(math.pi * fraction))


class OneCycle(Schedule):
    """The one-cycle policy: a cosine rise from max_lr / div_factor to ``max_lr`` over the first
    ``pct_start`` of ``total`` updates, then a cosine fall to max_lr / (div_factor * final_div_factor)
    at update total - 1 (PyTorch's OneCycleLR, two phases, cosine annealing; its momentum cycling
    is left out). Smith & Topin, https://arxiv.org/abs/1708.07120"""

    def __init__(
        self, max_lr: float, total: int, pct_start: float = 0.3, div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ):
        self.max_lr = check_float("OneCycle", "max_lr", max_lr, 0.0, low_open=True)
        self.total = check_int("OneCycle", "total", total, 2)
        self.pct_start = check_float("OneCycle", "pct_start", pct_start, 0.0, 1.0, True, True)
        self.div_factor = check_float("OneCycle", "div_factor", div_factor, 0.0, low_open=True)
        self.final_div_factor = check_float("OneCycle", "final_div_factor", final_div_factor, 0.0, low_open=True)

    def check_length(self, updates: int) -> None:
        """A cycle shorter than the run would hold the learning rate at its floor for the rest of
        it without a word; refused, as PyTorch's OneCycleLR refuses a step past its total."""
        if updates > self.total:
            raise ValueError(f"OneCycle: total={self.total} updates, but this run makes {updates}; "
                             f"pass total={updates} (epochs x batches per epoch) or train fewer epochs")

    def __call__(self, iteration: int) -> float:
        start = self.max_lr / self.div_factor
        end = start / self.final_div_factor
        peak = self.pct_start * self.total - 1.0
        last = self.total - 1.0
        if isinstance(iteration, int):
            if iteration <= peak:
                return _cosine(start, self.max_lr, iteration / peak if peak > 0 else 1.0)
            return _cosine(self.max_lr, end, min(1.0, (iteration - peak) / (last - peak)))
        xp, i = _traced(iteration)
        rise = _cosine(start, self.max_lr, i / peak if peak > 0 else xp.ones_like(i), xp.cos)
        fall = _cosine(self.max_lr, end, xp.minimum((i - peak) / (last - peak), 1.0), xp.cos)
        return xp.where(i <= peak, rise, fall)
