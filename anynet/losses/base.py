"""The loss protocol: ``forward(y, t)`` returns a 0-d array, ``backward(dout=1.0)`` returns dL/dy.

Every loss computes a per-sample loss of shape (N,) and reduces it over the
batch: ``reduction="mean"`` (default), ``"sum"``, or ``"none"`` (forward then
returns the (N,) losses and backward takes a ``dout`` of shape (N,)).

Every loss computes in float32 at least: float16/bfloat16 scores (mixed precision) and
floating targets are widened on the way in, and the gradient is returned in the scores' dtype,
so a loss, its log-sum-exp and its batch sum never run in half precision. One owner for it: the
base class's ``forward`` and ``backward`` widen and narrow around the subclass's ``_forward(y, t)``
and ``_backward(dout)``, where each loss writes its maths.
"""

from __future__ import annotations

import math
from typing import Any

from ..backend import namespace
from ..functional import one_hot, widen
from ..snapshots import Snapshotting
from ..validation import check_array, check_choice, check_float, check_labels

__all__ = ["Loss"]

_REDUCTIONS = ("mean", "sum", "none")


class Loss(Snapshotting):
    """Base of the losses: reduction over the batch and the checks shared by all."""

    label_smoothing = 0.0
    ignore_label: int | None = None  # a label whose samples count for nothing (TimeSoftmaxWithLoss)
    _dy_dtype: Any = None  # the dtype of the last forward's scores, which backward returns

    def __init__(self, reduction: str = "mean"):
        self.reduction = check_choice(self.name, "reduction", reduction, _REDUCTIONS)
        self.cache: Any = None

    def _set_label_smoothing(self, value: float) -> None:
        self.label_smoothing = check_float(self.name, "label_smoothing", value, 0.0, 1.0, high_open=True)

    @property
    def name(self) -> str:
        """The name in messages: the class name."""
        return type(self).__name__

    def __call__(self, y: Any, t: Any) -> Any:
        return self.forward(y, t)

    def forward(self, y: Any, t: Any) -> Any:
        """The loss of scores ``y`` against targets ``t`` (computed in float32 at least)."""
        dtype = getattr(y, "dtype", None)  # None: not an array; the loss's own checks say so
        out = self._forward(_wide(y), _wide(t))
        self._dy_dtype = dtype
        return out

    def backward(self, dout: Any = 1.0) -> Any:
        """dL/dy of the last ``forward``, in the dtype of its scores."""
        dy = self._backward(dout)
        dtype = self._dy_dtype
        return dy if dtype is None or dy.dtype == dtype else namespace(dy).astype(dy, dtype)

    def _forward(self, y: Any, t: Any) -> Any:
        """The subclass's loss maths (inputs already widened)."""
        raise NotImplementedError

    def _backward(self, dout: Any) -> Any:
        """The subclass's gradient maths."""
        raise NotImplementedError


    def _reduce(self, xp: Any, per_sample: Any, count: Any = None) -> Any:
        """The reduced loss; ``count`` (default: all samples) is what the mean divides by."""
        if self.reduction == "mean":
            return xp.mean(per_sample) if count is None else xp.sum(per_sample) / count
        if self.reduction == "sum":
            return xp.sum(per_sample)
        return per_sample

    def _weights(self, xp: Any, dout: Any, like: Any, count: Any = None, shape: Any = None) -> Any:
        """d(reduced)/d(per-sample loss) times ``dout``, shaped to broadcast against ``like``
        (samples along its first axis); ``count`` as in ``_reduce``; ``shape`` is the shape of the
        unreduced losses, which a ``reduction="none"`` dout must have (default: (N,))."""
        n = like.shape[0]
        shape = (n,) if shape is None else tuple(shape)
        if self.reduction == "none":
            if tuple(getattr(dout, "shape", ())) != shape:
                raise ValueError(f"{self.name}: with reduction='none', dout must have shape {shape}")
            return xp.reshape(dout, (n,) + (1,) * (like.ndim - 1))
        if hasattr(dout, "shape") and tuple(dout.shape) != ():
            raise ValueError(f"{self.name}: expected a scalar dout, got shape {tuple(dout.shape)}")
        return dout / (n if count is None else count) if self.reduction == "mean" else dout

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

    def _per_element(self, xp: Any, dout: Any, like: Any) -> Any:
        """``_weights`` divided by the elements per sample: for losses that average over features."""
        return self._weights(xp, dout, like) / math.prod(like.shape[1:])

    def _class_target(
        self, y: Any, t: Any, indices: bool = True, rows: bool = True, name: str = "y"
    ) -> tuple[Any, Any]:
        """Checks for (N, C) scores with index labels (N,) and/or target rows (N, C);
        returns the namespace and the target as (N, C) rows of y's dtype."""
        xp = namespace(y, t, where=self.name)
        if y.ndim != 2:
            raise ValueError(f"{self.name}: expected {name} of shape (N, C), got {tuple(y.shape)}")
        check_array(self.name, y, xp, name=name)
        N, C = y.shape
        if indices and t.ndim == 1:
            check_labels(self.name, t, xp, C, (N,), also=f" or ({N}, {C})")
            return xp, one_hot(t, C, y.dtype)
        if rows and tuple(t.shape) == (N, C):
            check_array(self.name, t, xp, name="t", dtype=y.dtype)
            return xp, t
        want = " or ".join(s for s, ok in ((f"({N},)", indices), (f"({N}, {C})", rows)) if ok)
        raise ValueError(f"{self.name}: expected labels t of shape {want}, got {tuple(t.shape)}")

    def _smoothed(self, target: Any) -> Any:
        """Target rows (N, C) with label smoothing: (1 - e) * t + e / C (Szegedy et al. 2016,
        https://arxiv.org/abs/1512.00567, as PyTorch's ``label_smoothing``)."""
        e = self.label_smoothing
        return target if e == 0 else (1.0 - e) * target + e / target.shape[1]

    def _need(self) -> Any:
        if self.cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return self.cache


def _wide(a: Any) -> Any:
    try:
        return widen(a)
    except (TypeError, AttributeError):
        return a  # not an array: the loss's own checks say what was expected


def _mean_over_features(xp: Any, e: Any) -> Any:
    return xp.mean(e, axis=tuple(range(1, e.ndim))) if e.ndim > 1 else e


def _sum_over_features(xp: Any, e: Any, keepdims: bool = False) -> Any:
    return xp.sum(e, axis=tuple(range(1, e.ndim)), keepdims=keepdims) if e.ndim > 1 else e
