"""Weight initialisation: the scale of the normal draws every weighted layer starts from."""

from __future__ import annotations

import math

from ..validation import check_float

__all__ = ["init_scale"]


def init_scale(weight_init: str | float, fan_in: int, where: str) -> float:
    """Standard deviation of initial weights: "he" sqrt(2/fan_in) for ReLU nets,
    "xavier" sqrt(1/fan_in) for sigmoid/tanh nets, or a number used as is."""
    if not isinstance(weight_init, str):
        return check_float(where, "weight_init", weight_init, 0.0)
    if weight_init in ("he", "relu"):
        return math.sqrt(2.0 / fan_in)
    if weight_init in ("xavier", "sigmoid", "tanh"):
        return math.sqrt(1.0 / fan_in)
    raise ValueError(f"{where}: weight_init must be 'he', 'xavier' or a number, got {weight_init!r}")
