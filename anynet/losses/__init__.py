"""Losses: ``forward(y, t)`` returns a 0-d array (the batch mean by default), ``backward(dout=1.0)`` dL/dy.

``reduction="mean"`` (default), ``"sum"`` or ``"none"`` (the (N,) per-sample
losses; backward then takes a ``dout`` of shape (N,)).
"""

from .base import Loss
from .classification import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    CrossEntropy,
    FocalLoss,
    Hinge,
    SigmoidWithLoss,
    SoftmaxWithLoss,
    SparseCategoricalCrossEntropy,
    SquaredHinge,
)
from .regression import (
    CosineProximity,
    Huber,
    KLDivergence,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
)
from .time import TimeSoftmaxWithLoss

__all__ = [
    "TimeSoftmaxWithLoss",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "CosineProximity",
    "CrossEntropy",
    "FocalLoss",
    "Hinge",
    "Huber",
    "KLDivergence",
    "Loss",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SigmoidWithLoss",
    "SoftmaxWithLoss",
    "SparseCategoricalCrossEntropy",
    "SquaredHinge",
]
