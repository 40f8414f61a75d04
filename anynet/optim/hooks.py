"""Optimizer hooks: small callables ``hook(params, grads) -> grads`` run before an update.

    opt = Adam(lr=1e-3, hooks=[WeightDecay(1e-4), ClipByNorm(5.0)])
"""

from __future__ import annotations

from typing import Any, Sequence

from ..backend import namespace
from ..functional import clip
from ..parameter import Parameter
from ..validation import check_bool, check_float

__all__ = ["ClipByNorm", "ClipByValue", "WeightDecay", "global_norm"]


def global_norm(grads: Sequence[Any]) -> Any:
    """sqrt of the sum of squares of every gradient, as a 0-d array (no host sync)."""
    xp = namespace(*grads)
    return xp.sqrt(sum(xp.sum(g * g) for g in grads))


class WeightDecay:
    """L2 regularisation: g <- g + rate * W, as the book's weight_decay_lambda, for the weight
    matrices and kernels only (parameters of two or more axes; biases, BatchNorm's gamma and
    beta are left alone). ``only_weights=False`` decays every parameter, as PyTorch's
    ``weight_decay`` does."""

    def __init__(self, rate: float, only_weights: bool = True):
        self.rate = check_float("WeightDecay", "rate", rate, 0.0)
        self.only_weights = check_bool("WeightDecay", "only_weights", only_weights)

    def __call__(self, params: Sequence[Parameter], grads: list[Any]) -> list[Any]:
        return [g + self.rate * p.data if p.data.ndim > 1 or not self.only_weights else g
                for p, g in zip(params, grads)]


class ClipByNorm:
    """Scale all gradients together so that their global norm is at most ``max_norm``.
    Pascanu et al., https://arxiv.org/abs/1211.5063"""

    def __init__(self, max_norm: float):
        self.max_norm = check_float("ClipByNorm", "max_norm", max_norm, 0.0, low_open=True)

    def __call__(self, params: Sequence[Parameter], grads: list[Any]) -> list[Any]:
        if not grads:
            return grads
        xp = namespace(*grads)
        norm = global_norm(grads)
        # min(1, max_norm / norm) stays on the device: no float() sync per step.
        rate = xp.minimum(self.max_norm / (norm + 1e-6), 1.0)
        return [g * xp.astype(rate, g.dtype, copy=False) for g in grads]


class ClipByValue:
    """Clip every gradient element into [-limit, limit]."""

    def __init__(self, limit: float):
        self.limit = check_float("ClipByValue", "limit", limit, 0.0, low_open=True)

    def __call__(self, params: Sequence[Parameter], grads: list[Any]) -> list[Any]:
        if not grads:
            return grads
        namespace(*grads, where="ClipByValue")  # one library and device, or a clear error
        return [clip(g, -self.limit, self.limit) for g in grads]
