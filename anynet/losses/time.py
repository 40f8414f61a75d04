"""TimeSoftmaxWithLoss: softmax cross-entropy at every time step, with an ignore label for padding."""

from __future__ import annotations

from ..backend import namespace
from ..functional import as_indices, log_softmax, one_hot
from ..validation import check_array, check_int, check_labels
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
        self.ignore_label = check_int(self.name, "ignore_label", ignore_label, None)

    def _forward(self, x, t):
        xp = namespace(x, t, where=self.name)
        if x.ndim != 3:
            raise ValueError(f"{self.name}: expected x of shape (N, T, V), got {tuple(x.shape)}")
        check_array(self.name, x, xp, name="x")
        N, T, V = x.shape
        check_labels(self.name, t, xp, V, (N, T), ignore=self.ignore_label)
        flat_t = xp.reshape(t, (N * T,))
        counted = flat_t != self.ignore_label
        safe_t = flat_t * xp.astype(counted, flat_t.dtype)  # ignored positions read class 0; no new array
        m = xp.astype(counted, x.dtype)
        logp = log_softmax(xp.reshape(x, (N * T, V)), axis=1)
        per_pos = -xp.take_along_axis(logp, xp.expand_dims(as_indices(safe_t), axis=1), axis=1)[:, 0] * m
        count = xp.maximum(xp.sum(m), 1.0)  # all ignored: loss 0, not NaN
        self.cache = (xp.exp(logp), one_hot(safe_t, V, x.dtype), m, count, (N, T, V))
        loss = self._reduce(xp, per_pos, count)
        return xp.reshape(loss, (N, T)) if self.reduction == "none" else loss

    def _backward(self, dout=1.0):
        y, target, m, count, (N, T, V) = self._need()
        xp = namespace(y, where=self.name)
        w = self._weights(xp, dout, y, count, shape=(N, T))
        dx = (y - target) * (xp.expand_dims(m, axis=1) * w)
        return xp.reshape(dx, (N, T, V))
