"""Weight initialisation: the scale of the normal draws every weighted layer starts from."""

from __future__ import annotations

import math

__all__ = ["init_scale"]


def init_scale(weight_init: str | float, fan_in: int, where: str) -> float:
    """Standard deviation of initial weights: "he" sqrt(2/fan_in) for ReLU nets,
    "xavier" sqrt(1/fan_in) for sigmoid/tanh nets, or a number used as is."""
    if isinstance(weight_init, (int, float)) and not isinstance(weight_init, bool):
        return float(weight_init)
    if weight_init in ("he", "relu"):
        return math.sqrt(2.0 / fan_in)
    if weight_init in ("xavier", "sigmoid", "tanh"):
        return math.sqrt(1.0 / fan_in)
    raise ValueError(f"{where}: weight_init must be 'he', 'xavier' or a number, got {weight_init!r}")
