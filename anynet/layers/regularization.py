"""Layers that act differently in training and inference: Dropout, BatchNorm."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..backend import namespace
from ..functional import widen
from ..validation import check_array, check_float, check_int
from .base import Layer, new_constant, new_parameter

__all__ = ["BatchNorm", "Dropout"]


class Dropout(Layer):
    """Inverted dropout: in training, zero each element with probability ``ratio`` and
    scale the rest by 1 / (1 - ratio); identity in inference. Shape in = shape out.
    Srivastava et al., https://jmlr.org/papers/v15/srivastava14a.html
    """

    def __init__(self, ratio: float = 0.5):
        super().__init__()
        self.ratio = check_float(self.name, "ratio", ratio, 0.0, 1.0, high_open=True)
        self.mask = None
        self.shape = None

    def forward(self, x, train=None):
        xp = namespace(x, where=self.name)
        check_array(self.name, x, xp)
        self.shape = tuple(x.shape)
        if not self.is_training(train) or self.ratio == 0.0:
            self.mask = None
            return x
        # The mask is drawn on x's own device: no host round trip per step.
        self.mask = backend.uniform_like(x) >= self.ratio
        return xp.where(self.mask, x * (1.0 / (1.0 - self.ratio)), 0.0)

    def backward(self, dout):
        self._check_dout(dout, self._need("shape"))
        if self.mask is None:
            return dout
        xp = namespace(dout, self.mask, where=self.name)
        return xp.where(self.mask, dout * (1.0 / (1.0 - self.ratio)), 0.0)


class BatchNorm(Layer):
    """Batch normalisation, per feature for (N, D) input and per channel for (N, C, H, W).

    Training normalises with the batch's mean and (biased) variance and updates
    the running statistics ``running = momentum * running + (1 - momentum) * batch``;
    inference uses the running statistics. Parameters: gamma (D,), beta (D,);
    buffers: running_mean (D,), running_var (D,).
    The batch statistics are those of this batch (``anynet.parallel.SyncBatchNorm`` takes them
    over every process's batch).
    Statistics are computed in float32 for float16/bfloat16 input (running statistics keep the
    dtype they were born in, float32 under mixed precision). Ioffe and Szegedy, https://arxiv.org/abs/1502.03167
    """

    buffers = ("running_mean", "running_var")

    def __init__(self, num_features: int, momentum: float = 0.9, eps: float = 1e-5, dtype: Any = None):
        super().__init__()
        self.num_features = check_int(self.name, "num_features", num_features)
        self.momentum = check_float(self.name, "momentum", momentum, 0.0, 1.0)
        self.eps = check_float(self.name, "eps", eps, 0.0, low_open=True)
        self.gamma = new_parameter("gamma", (num_features,), None, dtype)
        self.gamma.data = self.gamma.data + 1.0
        self.beta = new_parameter("beta", (num_features,), None, dtype)
        self.running_mean = new_constant(0.0, (num_features,), dtype)
        self.running_var = new_constant(1.0, (num_features,), dtype)
        self.cache = None


    def _layout(self, x):
        D = self.num_features
        if x.ndim == 2:
            return ("N", D), (0,), (1, D)
        if x.ndim == 4:
            return ("N", D, "H", "W"), (0, 2, 3), (1, D, 1, 1)
        raise ValueError(f"{self.name}: expected x of shape (N, {D}) or (N, {D}, H, W), got {tuple(x.shape)}")

    def forward(self, x, train=None):
        gamma, beta = self.gamma.data, self.beta.data
        xp = namespace(x, gamma, where=self.name)
        want, axes, bshape = self._layout(x)
        check_array(self.name, x, xp, want, gamma.dtype)
        # statistics in float32 at least (float16 sums lose digits); the output in x's dtype
        w = widen(x)
        g, b = xp.reshape(widen(gamma), bshape), xp.reshape(widen(beta), bshape)
        if self.is_training(train):
            mu = self._mean(xp, w, axes, bshape)
            xc = w - mu
            var = self._mean(xp, xc * xc, axes, bshape)
            std = xp.sqrt(var + self.eps)
            m = self.momentum
            rd = self.running_mean.dtype
            self.running_mean = m * self.running_mean + (1 - m) * xp.astype(xp.reshape(mu, (-1,)), rd, copy=False)
            self.running_var = m * self.running_var + (1 - m) * xp.astype(xp.reshape(var, (-1,)), rd, copy=False)
        else:
            xc = w - xp.astype(xp.reshape(self.running_mean, bshape), w.dtype, copy=False)
            std = xp.sqrt(xp.astype(xp.reshape(self.running_var, bshape), w.dtype, copy=False) + self.eps)
        xn = xc / std
        # backward needs xn and std only: holding xc as well would keep a second copy of the input
        self.cache = (std, xn, axes, bshape, self.is_training(train))
        return xp.astype(g * xn + b, x.dtype, copy=False)

    def backward(self, dout):
        std, xn, axes, bshape, trained = self._need("cache")
        xp = namespace(dout, xn, where=self.name)
        self._check_dout(dout, tuple(xn.shape))
        pdt = self.gamma.data.dtype
        d = widen(dout)
        sum_d, sum_dxn = xp.sum(d, axis=axes), xp.sum(xn * d, axis=axes)
        self.beta.grad = xp.astype(sum_d, pdt, copy=False)
        self.gamma.grad = xp.astype(sum_dxn, pdt, copy=False)
        scale = xp.reshape(widen(self.gamma.data), bshape) / std
        if not trained:
            return xp.astype(d * scale, dout.dtype, copy=False)
        # Gradient through the batch mean and variance (the book's derivation, folded into
        # gamma / std * (d - mean(d) - xn * mean(d * xn))). The in-place steps write into arrays
        # made here only (where a namespace has none, they rebind), so at most two arrays of
        # dout's size are alive at once.
        n = 1
        for axis in axes:
            n *= xn.shape[axis]
        D = self.num_features
        both = self._means_of_sums(xp, xp.concat([sum_d, sum_dxn]), n)  # one message when synchronised
        mean_d, mean_dxn = xp.reshape(both[:D], bshape), xp.reshape(both[D:], bshape)
        dx = d - mean_d
        dx -= xn * mean_dxn
        dx *= scale
        return xp.astype(dx, dout.dtype, copy=False)

    def _mean(self, xp, a, axes, bshape):
        """The per-feature mean of ``a`` over the batch (``axes``), shaped ``bshape``."""
        return xp.mean(a, axis=axes, keepdims=True)

    def _means_of_sums(self, xp, sums, n):
        """Per-feature means from per-feature sums over ``n`` elements each (backward's two
        means, laid end to end); a subclass may take them over more than this batch."""
        return sums / n
