"""LayerNorm: normalisation over the last axis of each sample, as Transformers use it."""

from __future__ import annotations

from typing import Any

from ..backend import namespace
from ..functional import widen
from ..validation import check_array
from .base import Layer, new_parameter

__all__ = ["LayerNorm"]


class LayerNorm(Layer):
    """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis: x (..., D) -> (..., D).

    Statistics come from each position alone (no batch statistics, no running
    averages), so training and inference agree. Parameters: gamma (D,) ones,
    beta (D,) zeros. Statistics in float32 for float16/bfloat16 input, the output in x's dtype.
    Ba et al., https://arxiv.org/abs/1607.06450
    """

    def __init__(self, normalized_size: int, eps: float = 1e-5, dtype: Any = None):
        super().__init__()
        self.normalized_size = normalized_size
        self.eps = eps
        self.gamma = new_parameter("gamma", (normalized_size,), None, dtype)
        self.gamma.data = self.gamma.data + 1.0
        self.beta = new_parameter("beta", (normalized_size,), None, dtype)
        self.cache = None


    def forward(self, x, train=None):
        gamma, beta = self.gamma.data, self.beta.data
        xp = namespace(x, gamma, where=self.name)
        D = self.normalized_size
        if x.ndim < 1 or x.shape[-1] != D:
            raise ValueError(f"{self.name}: expected x of shape (..., {D}), got {tuple(x.shape)}")
        check_array(self.name, x, xp, None, gamma.dtype)
        w = widen(x)
        mu = xp.mean(w, axis=-1, keepdims=True)
        xc = w - mu
        var = xp.mean(xc * xc, axis=-1, keepdims=True)
        std = xp.sqrt(var + self.eps)
        xn = xc / std
        self.cache = (xn, std)
        return xp.astype(widen(gamma) * xn + widen(beta), x.dtype, copy=False)

    def backward(self, dout):
        xn, std = self._need("cache")
        xp = namespace(dout, xn, where=self.name)
        self._check_dout(dout, tuple(xn.shape))
        D = self.normalized_size
        pdt = self.gamma.data.dtype
        d = widen(dout)
        d2 = xp.reshape(d, (-1, D))
        self.beta.grad = xp.astype(xp.sum(d2, axis=0), pdt, copy=False)
        self.gamma.grad = xp.astype(xp.sum(xp.reshape(xn, (-1, D)) * d2, axis=0), pdt, copy=False)
        dxn = d * widen(self.gamma.data)
        # d/dx of (x - mean) / std, folded: the mean and the variance each take one correction term
        mean_dxn = xp.mean(dxn, axis=-1, keepdims=True)
        mean_dxn_xn = xp.mean(dxn * xn, axis=-1, keepdims=True)
        return xp.astype((dxn - mean_dxn - xn * mean_dxn_xn) / std, dout.dtype, copy=False)

    def __repr__(self) -> str:
        return f"{self.name}({self.normalized_size}, eps={self.eps})"
