"""Loss layers: ``forward(y, t)`` returns a 0-d array, ``backward(dout=1.0)`` returns dL/dy.

Every loss computes a per-sample loss of shape (N,) and reduces it over the
batch: ``reduction="mean"`` (default), ``"sum"``, or ``"none"`` (forward then
returns the (N,) losses and backward takes a ``dout`` of shape (N,)).
"""

from __future__ import annotations

import math
from typing import Any

from .backend import namespace
from .checks import check_array, check_labels
from .functional import log_softmax, one_hot, sigmoid, softmax, softplus

__all__ = ["Loss", "MeanSquaredError", "SigmoidWithLoss", "SoftmaxWithLoss"]

_REDUCTIONS = ("mean", "sum", "none")


class Loss:
    """Base of the losses: reduction over the batch and the checks shared by all."""

    def __init__(self, reduction: str = "mean"):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{self.name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.cache: Any = None

    @property
    def name(self) -> str:
        return type(self).__name__

    def __call__(self, y: Any, t: Any) -> Any:
        return self.forward(y, t)

    def forward(self, y: Any, t: Any) -> Any:
        raise NotImplementedError

    def backward(self, dout: Any = 1.0) -> Any:
        raise NotImplementedError

    def _reduce(self, xp: Any, per_sample: Any) -> Any:
        if self.reduction == "mean":
            return xp.mean(per_sample)
        if self.reduction == "sum":
            return xp.sum(per_sample)
        return per_sample

    def _weights(self, xp: Any, dout: Any, like: Any) -> Any:
        """d(reduced)/d(per-sample loss) times ``dout``, shaped to broadcast against ``like``."""
        n = like.shape[0]
        if self.reduction == "none":
            if tuple(getattr(dout, "shape", ())) != (n,):
                raise ValueError(f"{self.name}: with reduction='none', dout must have shape ({n},)")
            return xp.reshape(dout, (n,) + (1,) * (like.ndim - 1))
        if hasattr(dout, "shape") and tuple(dout.shape) != ():
            raise ValueError(f"{self.name}: expected a scalar dout, got shape {tuple(dout.shape)}")
        return dout / n if self.reduction == "mean" else dout

    def _same_shape(self, y: Any, t: Any) -> Any:
        """Checks for losses whose target has y's shape; returns the namespace."""
        xp = namespace(y, t, where=self.name)
        check_array(self.name, y, xp, name="y")
        if tuple(t.shape) != tuple(y.shape):
            raise ValueError(f"{self.name}: expected t of shape {tuple(y.shape)} like y, got {tuple(t.shape)}")
        if y.ndim < 1:
            raise ValueError(f"{self.name}: expected y with a batch axis, got a 0-d array")
        check_array(self.name, t, xp, name="t", dtype=y.dtype)
        return xp

    def _need(self) -> Any:
        if self.cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return self.cache


def _mean_over_features(xp: Any, e: Any) -> Any:
    return xp.mean(e, axis=tuple(range(1, e.ndim))) if e.ndim > 1 else e


class SoftmaxWithLoss(Loss):
    """Softmax followed by cross-entropy, from logits x (N, C).

    ``t`` is (N,) class indices or (N, C) one-hot (or probability) rows.
    Loss per sample: -log_softmax(x)[t] = -sum(t * log_softmax(x)); gradient:
    softmax(x) - one_hot(t), divided by N for the mean.
    """

    def forward(self, x, t):
        xp = namespace(x, t, where=self.name)
        if x.ndim != 2:
            raise ValueError(f"{self.name}: expected x of shape (N, C), got {tuple(x.shape)}")
        check_array(self.name, x, xp, name="x")
        N, C = x.shape
        logp = log_softmax(x, axis=1)
        if t.ndim == 1:
            check_labels(self.name, t, xp, C, N)
            per_sample = -xp.take_along_axis(logp, xp.expand_dims(t, axis=1), axis=1)[:, 0]
            target = one_hot(t, C, x.dtype)
        else:
            if tuple(t.shape) != (N, C):
                raise ValueError(f"{self.name}: expected labels t of shape ({N},) or ({N}, {C}), got {tuple(t.shape)}")
            check_array(self.name, t, xp, name="t", dtype=x.dtype)
            per_sample = -xp.sum(t * logp, axis=1)
            target = t
        self.cache = (xp.exp(logp), target)
        return self._reduce(xp, per_sample)

    def backward(self, dout=1.0):
        y, target = self._need()
        xp = namespace(y, where=self.name)
        return (y - target) * self._weights(xp, dout, y)


class SigmoidWithLoss(Loss):
    """Sigmoid followed by binary cross-entropy, from logits x of any shape (N, ...).

    ``t`` holds 0/1 (or probabilities) in x's shape. Per element:
    softplus(x) - t * x (= -t log s - (1-t) log(1-s), s = sigmoid(x), without
    overflow); per sample: the mean over non-batch axes. Gradient: (s - t).
    """

    def forward(self, x, t):
        xp = self._same_shape(x, t)
        per_sample = _mean_over_features(xp, softplus(x) - t * x)
        self.cache = (sigmoid(x), t)
        return self._reduce(xp, per_sample)

    def backward(self, dout=1.0):
        s, t = self._need()
        xp = namespace(s, where=self.name)
        per_element = math.prod(s.shape[1:])
        return (s - t) * (self._weights(xp, dout, s) / per_element)


class MeanSquaredError(Loss):
    """Mean of (y - t)^2 over each sample's elements, then over the batch (as in PyTorch
    and Keras; the book's version is 0.5 * sum((y - t)^2))."""

    def forward(self, y, t):
        xp = self._same_shape(y, t)
        diff = y - t
        self.cache = diff
        return self._reduce(xp, _mean_over_features(xp, diff * diff))

    def backward(self, dout=1.0):
        diff = self._need()
        xp = namespace(diff, where=self.name)
        per_element = math.prod(diff.shape[1:])
        return 2.0 * diff * (self._weights(xp, dout, diff) / per_element)
