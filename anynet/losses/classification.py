"""Losses for classes: cross-entropies from probabilities and from logits, hinge losses.

Losses that take probabilities guard the logarithm: the book's ``CrossEntropy``
adds a small delta (after clamping negatives to 0), the Keras-style losses clip
into [eps, 1 - eps]. Where a clip is active the gradient is 0, as the clip's is.
Losses from logits use the stable log-softmax / softplus forms and need no guard.
"""

from __future__ import annotations

from ..backend import namespace
from ..functional import as_indices, clip, log_softmax, sigmoid, softmax, softplus
from ..validation import check_bool, check_float
from .base import Loss, _mean_over_features

__all__ = [
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "CrossEntropy",
    "FocalLoss",
    "Hinge",
    "SigmoidWithLoss",
    "SoftmaxWithLoss",
    "SparseCategoricalCrossEntropy",
    "SquaredHinge",
]


class SoftmaxWithLoss(Loss):
    """Softmax followed by cross-entropy, from logits x (N, C): the book's SoftmaxWithLoss.

    ``forward(x, t)``: ``t`` is (N,) class indices or (N, C) one-hot (or probability) rows; returns
    the loss, a 0-d array. Loss per sample: -log_softmax(x)[t] = -sum(t * log_softmax(x)).
    ``backward(dout=1.0)`` returns dL/dx (N, C): softmax(x) - one_hot(t), divided by N for the mean.

    **Arguments:**

    - ``reduction``: "mean" (default), "sum", or "none" (the (N,) per-sample losses).
    - ``label_smoothing``: e in [0, 1) replaces the target rows by (1 - e) t + e / C.
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        self._set_label_smoothing(label_smoothing)

    def _forward(self, x, t):
        xp, target = self._class_target(x, t, name="x")
        target = self._smoothed(target)
        logp = log_softmax(x, axis=1)
        if t.ndim == 1 and self.label_smoothing == 0:
            per_sample = -xp.take_along_axis(logp, xp.expand_dims(as_indices(t), axis=1), axis=1)[:, 0]
        else:
            per_sample = -xp.sum(target * logp, axis=1)
        self.cache = (xp.exp(logp), target)
        return self._reduce(xp, per_sample)

    def _backward(self, dout=1.0):
        y, target = self._need()
        xp = namespace(y, where=self.name)
        return (y - target) * self._weights(xp, dout, y)


class CrossEntropy(Loss):
    """The book's cross-entropy from probabilities y (N, C): -sum(t * log(y + delta)) per sample.

    ``t`` is (N,) class indices or (N, C) one-hot rows. Guard: y is clamped to
    max(y, 0) before the log, and delta (1e-7) keeps log(0) finite; y = 0 gives
    -log(delta) = 16.1. Gradient: -t / (y + delta) (0 where y < 0).
    """

    def __init__(self, reduction: str = "mean", delta: float = 1e-7):
        super().__init__(reduction)
        self.delta = check_float(self.name, "delta", delta, 0.0, low_open=True)

    def _forward(self, y, t):
        xp, target = self._class_target(y, t)
        safe = xp.maximum(y, 0.0) + self.delta
        self.cache = (y, safe, target)
        return self._reduce(xp, -xp.sum(target * xp.log(safe), axis=1))

    def _backward(self, dout=1.0):
        y, safe, target = self._need()
        xp = namespace(y, where=self.name)
        return xp.where(y >= 0, -target / safe, 0.0) * self._weights(xp, dout, y)


class CategoricalCrossEntropy(Loss):
    """Cross-entropy -sum(t * log(y)) per sample, from probabilities y (N, C) and target rows t (N, C).

    Guard (as in Keras): y is clipped into [eps, 1 - eps] (eps = 1e-7) before
    the log; the gradient -t / y is 0 where the clip is active. With
    ``from_logits=True`` y holds logits and the loss is -sum(t * log_softmax(y)),
    with gradient softmax(y) * sum(t) - t. ``label_smoothing`` e replaces the target
    rows by (1 - e) t + e / C (as Keras).
    """

    indices, rows = False, True

    def __init__(
        self, reduction: str = "mean", from_logits: bool = False, eps: float = 1e-7, label_smoothing: float = 0.0,
    ):
        super().__init__(reduction)
        self.from_logits = check_bool(self.name, "from_logits", from_logits)
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)
        self._set_label_smoothing(label_smoothing)

    def _forward(self, y, t):
        xp, target = self._class_target(y, t, indices=self.indices, rows=self.rows)
        target = self._smoothed(target)
        if self.from_logits:
            logp = log_softmax(y, axis=1)
            self.cache = (y, None, target)
        else:
            clipped = clip(y, self.eps, 1.0 - self.eps)
            logp = xp.log(clipped)
            self.cache = (y, clipped, target)
        return self._reduce(xp, -xp.sum(target * logp, axis=1))

    def _backward(self, dout=1.0):
        y, clipped, target = self._need()
        xp = namespace(y, where=self.name)
        if self.from_logits:
            grad = softmax(y, axis=1) * xp.sum(target, axis=1, keepdims=True) - target
        else:
            inside = (y >= self.eps) & (y <= 1.0 - self.eps)
            grad = xp.where(inside, -target / clipped, 0.0)
        return grad * self._weights(xp, dout, y)


class SparseCategoricalCrossEntropy(CategoricalCrossEntropy):
    """Cross-entropy -log(y[t]) per sample, from probabilities y (N, C) and class indices t (N,).

    The same guard and ``from_logits`` option as ``CategoricalCrossEntropy``;
    ``from_logits=True`` equals ``SoftmaxWithLoss``.
    """

    indices, rows = True, False


class BinaryCrossEntropy(Loss):
    """-(t log y + (1 - t) log(1 - y)) per element of y (N, ...), mean over each sample's elements.

    y holds probabilities, t 0/1 (or probabilities) of y's shape. Guard (as in
    Keras): y is clipped into [eps, 1 - eps] (eps = 1e-7); the gradient
    (y - t) / (y (1 - y)) is 0 where the clip is active. ``from_logits=True``
    equals ``SigmoidWithLoss``.
    """

    def __init__(self, reduction: str = "mean", from_logits: bool = False, eps: float = 1e-7):
        super().__init__(reduction)
        self.from_logits = check_bool(self.name, "from_logits", from_logits)
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        if self.from_logits:
            per_element = softplus(y) - t * y
            self.cache = (y, None, t)
        else:
            clipped = clip(y, self.eps, 1.0 - self.eps)
            per_element = -(t * xp.log(clipped) + (1.0 - t) * xp.log(1.0 - clipped))
            self.cache = (y, clipped, t)
        return self._reduce(xp, _mean_over_features(xp, per_element))

    def _backward(self, dout=1.0):
        y, clipped, t = self._need()
        xp = namespace(y, where=self.name)
        if self.from_logits:
            grad = sigmoid(y) - t
        else:
            inside = (y >= self.eps) & (y <= 1.0 - self.eps)
            grad = xp.where(inside, (clipped - t) / (clipped * (1.0 - clipped)), 0.0)
        return grad * self._per_element(xp, dout, y)


class SigmoidWithLoss(Loss):
    """Sigmoid followed by binary cross-entropy, from logits x of any shape (N, ...).

    ``t`` holds 0/1 (or probabilities) in x's shape. Per element:
    softplus(x) - t * x (= -t log s - (1-t) log(1-s), s = sigmoid(x), without
    overflow); per sample: the mean over non-batch axes. Gradient: (s - t).
    """

    def _forward(self, x, t):
        xp = self._same_shape(x, t)
        per_sample = _mean_over_features(xp, softplus(x) - t * x)
        self.cache = (sigmoid(x), t)
        return self._reduce(xp, per_sample)

    def _backward(self, dout=1.0):
        s, t = self._need()
        xp = namespace(s, where=self.name)
        return (s - t) * self._per_element(xp, dout, s)


class Hinge(Loss):
    """max(1 - t * y, 0) per element of y (N, ...), mean over each sample's elements.

    t holds -1/+1 labels of y's shape (as in Keras and the SVM). Gradient: -t
    where the margin 1 - t * y is positive, else 0.
    """

    power = 1

    def _forward(self, y, t):
        xp = self._same_shape(y, t)
        margin = xp.maximum(1.0 - t * y, 0.0)
        self.cache = (margin, t)
        return self._reduce(xp, _mean_over_features(xp, margin if self.power == 1 else margin * margin))

    def _backward(self, dout=1.0):
        margin, t = self._need()
        xp = namespace(margin, where=self.name)
        grad = xp.where(margin > 0, -t, 0.0) if self.power == 1 else -2.0 * t * margin
        return grad * self._per_element(xp, dout, margin)


class SquaredHinge(Hinge):
    """max(1 - t * y, 0)^2 per element of y (N, ...), mean over each sample's elements; t in {-1, +1}.
    Gradient: -2 t max(1 - t * y, 0)."""

    power = 2


class FocalLoss(Loss):
    """Focal loss from logits x (N, C) and class indices t (N,): -(1 - p_t)^gamma log p_t per
    sample, p_t = softmax(x)[t]; gamma = 0 is SoftmaxWithLoss. It down-weights easy examples.
    Gradient: (gamma (1 - p_t)^(gamma - 1) p_t log p_t - (1 - p_t)^gamma) (one_hot(t) - softmax(x)).
    Lin et al. 2017, https://arxiv.org/abs/1708.02002 (the multi-class form, without alpha).
    """

    def __init__(self, gamma: float = 2.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.gamma = check_float(self.name, "gamma", gamma, 0.0)

    def _forward(self, x, t):
        xp, target = self._class_target(x, t, rows=False, name="x")
        logp = log_softmax(x, axis=1)
        logp_t = xp.sum(target * logp, axis=1)
        q = 1.0 - xp.exp(logp_t)  # 1 - p_t
        self.cache = (xp.exp(logp), target, logp_t, q)
        return self._reduce(xp, -(q**self.gamma) * logp_t)

    def _backward(self, dout=1.0):
        p, target, logp_t, q = self._need()
        xp = namespace(p, where=self.name)
        g = self.gamma
        # gamma (1-p_t)^(gamma-1) p_t: written as gamma q^gamma p_t / q where q > 0, its limit 0 where q = 0
        tiny = xp.finfo(q.dtype).smallest_normal
        safe_q = xp.maximum(q, xp.full_like(q, tiny))
        slope = g * (safe_q**g) * (1.0 - q) / safe_q if g != 0 else xp.zeros_like(q)
        coef = slope * logp_t - q**g
        return xp.expand_dims(coef, axis=1) * (target - p) * self._weights(xp, dout, p)
