"""Losses for values and distributions: y and t of one shape (N, ...), one loss per sample.

Element-wise losses average over each sample's elements (as PyTorch and Keras
do); ``KLDivergence`` and ``CosineProximity`` work on each sample as a whole.
"""

from __future__ import annotations

from ..backend import namespace
from ..functional import clip, sign
from ..validation import check_float
from .base import Loss, _mean_over_features, _sum_over_features

__all__ = [
    "CosineProximity",
    "Huber",
    "KLDivergence",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
]


class MeanSquaredError(Loss):
    """Mean of (y - t)^2 over each sample's elements, then over the batch (as in PyTorch
    and Keras; the book's version is 0.5 * sum((y - t)^2)). Gradient: 2 (y - t) / elements."""

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        diff = y - t
        self.cache = diff
        return self._reduce(xp, _mean_over_features(xp, diff * diff))

    def _backward(self, dout=1.0):
        diff = self._need()
        xp = namespace(diff, where=self.name)
        return 2.0 * diff * self._per_element(xp, dout, diff)


class MeanAbsoluteError(Loss):
    """Mean of |y - t| over each sample's elements. Gradient: sign(y - t) (0 where y == t)."""

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        diff = y - t
        self.cache = diff
        return self._reduce(xp, _mean_over_features(xp, xp.abs(diff)))

    def _backward(self, dout=1.0):
        diff = self._need()
        xp = namespace(diff, where=self.name)
        return sign(diff) * self._per_element(xp, dout, diff)


class MeanAbsolutePercentageError(Loss):
    """100 * mean of |y - t| / |t| over each sample's elements.

    Guard (as in Keras): the divisor is max(|t|, eps), eps = 1e-7, so a zero
    target gives the finite 100 * |y| / eps (huge: such targets do not suit this
    loss). Gradient: 100 sign(y - t) / max(|t|, eps).
    """

    def __init__(self, reduction: str = "mean", eps: float = 1e-7):
        super().__init__(reduction)
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        diff = y - t
        scale = 100.0 / xp.maximum(xp.abs(t), self.eps)
        self.cache = (diff, scale)
        return self._reduce(xp, _mean_over_features(xp, xp.abs(diff) * scale))

    def _backward(self, dout=1.0):
        diff, scale = self._need()
        xp = namespace(diff, where=self.name)
        return sign(diff) * scale * self._per_element(xp, dout, diff)


class MeanSquaredLogarithmicError(Loss):
    """Mean of (log(1 + y) - log(1 + t))^2 over each sample's elements.

    Guard: y and t are clamped to max(., 0) before the log, where log(1 + x)
    is undefined for x <= -1; the gradient 2 (log(1 + y) - log(1 + t)) / (1 + y)
    is 0 where y < 0.
    """

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        diff = xp.log1p(xp.maximum(y, 0.0)) - xp.log1p(xp.maximum(t, 0.0))
        self.cache = (y, diff)
        return self._reduce(xp, _mean_over_features(xp, diff * diff))

    def _backward(self, dout=1.0):
        y, diff = self._need()
        xp = namespace(y, where=self.name)
        grad = xp.where(y >= 0, 2.0 * diff / (1.0 + xp.maximum(y, 0.0)), 0.0)
        return grad * self._per_element(xp, dout, y)


class KLDivergence(Loss):
    """Kullback-Leibler divergence sum(t * log(t / y)) over each sample's elements (a sum, as in
    Keras and PyTorch's "batchmean"), for distributions t (target) and y (prediction) of one shape.

    Guard (as in Keras): t and y are clipped into [eps, 1] (eps = 1e-7), so zero
    or negative entries give finite values; the gradient -t / y is 0 where y's
    clip is active.
    """

    def __init__(self, reduction: str = "mean", eps: float = 1e-7):
        super().__init__(reduction)
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        tc = clip(t, self.eps, 1.0)
        yc = clip(y, self.eps, 1.0)
        self.cache = (y, yc, tc)
        return self._reduce(xp, _sum_over_features(xp, tc * xp.log(tc / yc)))

    def _backward(self, dout=1.0):
        y, yc, tc = self._need()
        xp = namespace(y, where=self.name)
        inside = (y >= self.eps) & (y <= 1.0)
        return xp.where(inside, -tc / yc, 0.0) * self._weights(xp, dout, y)


class Poisson(Loss):
    """Poisson negative log-likelihood y - t * log(y) (up to a constant) per element of the
    predicted rate y, mean over each sample's elements.

    Guard: the log reads max(y, 0) + eps (eps = 1e-7, as in Keras), so y = 0 or
    a negative y stays finite. Gradient: 1 - t / (y + eps) (1 where y < 0).
    """

    def __init__(self, reduction: str = "mean", eps: float = 1e-7):
        super().__init__(reduction)
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        safe = xp.maximum(y, 0.0) + self.eps
        self.cache = (y, safe, t)
        return self._reduce(xp, _mean_over_features(xp, y - t * xp.log(safe)))

    def _backward(self, dout=1.0):
        y, safe, t = self._need()
        xp = namespace(y, where=self.name)
        grad = 1.0 - xp.where(y >= 0, t / safe, 0.0)
        return grad * self._per_element(xp, dout, y)


class CosineProximity(Loss):
    """Negative cosine similarity -<y, t> / (|y| |t|) of each sample's elements; -1 is best.

    Guard (as in Keras's l2_normalize): each norm is sqrt(max(sum(x^2), eps)),
    eps = 1e-12, so an all-zero y or t gives 0 instead of 0/0. Gradient:
    -t_hat / |y| + cos * y / |y|^2 (the second term is 0 where |y| is clamped).
    """

    def __init__(self, reduction: str = "mean", eps: float = 1e-12):
        super().__init__(reduction)
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        y2 = _sum_over_features(xp, y * y, keepdims=True)
        t_hat = t / xp.sqrt(xp.maximum(_sum_over_features(xp, t * t, keepdims=True), self.eps))
        norm = xp.sqrt(xp.maximum(y2, self.eps))
        cos = _sum_over_features(xp, y * t_hat, keepdims=True) / norm
        self.cache = (y, t_hat, norm, cos, y2 > self.eps)
        return self._reduce(xp, -xp.reshape(cos, (y.shape[0],)))

    def _backward(self, dout=1.0):
        y, t_hat, norm, cos, unclamped = self._need()
        xp = namespace(y, where=self.name)
        grad = -t_hat / norm + xp.where(unclamped, cos * y / (norm * norm), 0.0)
        return grad * self._weights(xp, dout, y)


class Huber(Loss):
    """Huber (smooth L1) loss, mean over each sample's elements: 0.5 d^2 where |d| <= delta,
    else delta (|d| - 0.5 delta), d = y - t (PyTorch's HuberLoss; its SmoothL1Loss(beta) is this
    divided by beta). Gradient: d clipped into [-delta, delta]. Huber 1964,
    https://doi.org/10.1214/aoms/1177703732"""

    def __init__(self, delta: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.delta = check_float(self.name, "delta", delta, 0.0, low_open=True)

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        d = y - t
        self.cache = d
        a = xp.abs(d)
        per_element = xp.where(a <= self.delta, 0.5 * d * d, self.delta * (a - 0.5 * self.delta))
        return self._reduce(xp, _mean_over_features(xp, per_element))

    def _backward(self, dout=1.0):
        d = self._need()
        xp = namespace(d, where=self.name)
        return clip(d, -self.delta, self.delta) * self._per_element(xp, dout, d)
