"""TimeSoftmaxWithLoss: softmax cross-entropy at every time step, with an ignore label for padding."""

from __future__ import annotations

from ..backend import namespace
from ..functional import as_indices, log_softmax, one_hot
from ..validation import check_array, values_checked
from .base import Loss

__all__ = ["TimeSoftmaxWithLoss"]


class TimeSoftmaxWithLoss(Loss):
    """Softmax cross-entropy from logits x (N, T, V) against labels t (N, T) in [0, V).

    Positions where ``t == ignore_label`` (default -1, padding) add nothing to the
    loss or the gradient. ``reduction="mean"`` divides by the number of counted
    positions (the book's TimeSoftmaxWithLoss), ``"sum"`` adds them, ``"none"``
    returns the (N, T) losses (0 where ignored) and takes a dout of shape (N, T).
    Perplexity is exp of the mean.
    """

    def __init__(self, ignore_label: int = -1, reduction: str = "mean"):
        super().__init__(reduction)
        self.ignore_label = ignore_label

    def forward(self, x, t):
        xp = namespace(x, t, where=self.name)
        if x.ndim != 3:
            raise ValueError(f"{self.name}: expected x of shape (N, T, V), got {tuple(x.shape)}")
        check_array(self.name, x, xp, name="x")
        N, T, V = x.shape
        if tuple(t.shape) != (N, T):
            raise ValueError(f"{self.name}: expected labels t of shape ({N}, {T}), got {tuple(t.shape)}")
        if not xp.isdtype(t.dtype, "integral"):
            raise TypeError(f"{self.name}: expected integer labels, got {t.dtype} of shape {tuple(t.shape)}")
        mask = t != self.ignore_label
        if values_checked(xp):
            bad = xp.logical_and(mask, xp.logical_or(t < 0, t >= V))
            if bool(xp.any(bad)):
                raise ValueError(
                    f"{self.name}: labels must lie in [0, {V}) or equal ignore_label={self.ignore_label}"
                )
        logp = log_softmax(xp.reshape(x, (N * T, V)), axis=1)
        flat_mask = xp.reshape(mask, (N * T,))
        safe_t = xp.where(flat_mask, xp.reshape(t, (N * T,)), xp.zeros_like(xp.reshape(t, (N * T,))))
        m = xp.astype(flat_mask, x.dtype)
        per_pos = -xp.take_along_axis(logp, xp.expand_dims(as_indices(safe_t), axis=1), axis=1)[:, 0] * m
        count = xp.maximum(xp.sum(m), xp.asarray(1.0, dtype=x.dtype, device=x.device))
        self.cache = (xp.exp(logp), one_hot(safe_t, V, x.dtype), m, count, (N, T, V))
        if self.reduction == "mean":
            return xp.sum(per_pos) / count
        if self.reduction == "sum":
            return xp.sum(per_pos)
        return xp.reshape(per_pos, (N, T))

    def backward(self, dout=1.0):
        y, target, m, count, (N, T, V) = self._need()
        xp = namespace(y, where=self.name)
        if self.reduction == "none":
            if tuple(getattr(dout, "shape", ())) != (N, T):
                raise ValueError(f"{self.name}: with reduction='none', dout must have shape ({N}, {T})")
            w = m * xp.reshape(dout, (N * T,))
        else:
            if hasattr(dout, "shape") and tuple(dout.shape) != ():
                raise ValueError(f"{self.name}: expected a scalar dout, got shape {tuple(dout.shape)}")
            w = m * (dout / count if self.reduction == "mean" else dout)
        dx = (y - target) * xp.expand_dims(w, axis=1)
        return xp.reshape(dx, (N, T, V))
