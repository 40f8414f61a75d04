"""Local response normalisation across channels (AlexNet)."""

from __future__ import annotations

from .. import backend
from ..backend import namespace
from ..validation import check_array, check_float, check_int
from .base import Layer

__all__ = ["LRN"]


def _channel_window_sum(a, before: int, after: int):
    """s[:, c] = sum of a[:, c - before : c + after + 1] over channels, zeros outside."""
    C = a.shape[1]
    padded = backend.pad(a, ((0, 0), (before, after), (0, 0), (0, 0)))
    s = padded[:, 0:C, ...]
    for d in range(1, before + after + 1):
        s = s + padded[:, d:d + C, ...]
    return s


class LRN(Layer):
    """y = x / (k + alpha/size * sum of x^2 over ``size`` neighbouring channels)^beta:
    x (N, C, H, W) -> same shape.

    The window around channel c spans c - size//2 .. c + (size-1)//2 and alpha is
    divided by ``size``, as in PyTorch's LocalResponseNorm and Caffe; the defaults
    are AlexNet's (size 5, k 2, beta 0.75; the paper's alpha 1e-4 is not divided,
    pass alpha=5e-4 for it exactly).
    Krizhevsky et al., https://papers.nips.cc/paper/4824
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size = check_int(self.name, "size", size)
        self.alpha = check_float(self.name, "alpha", alpha, 0.0)
        self.beta = check_float(self.name, "beta", beta, 0.0)
        self.k = check_float(self.name, "k", k, 0.0, low_open=True)
        self.cache = None

    def forward(self, x, train=None):
        xp = namespace(x, where=self.name)
        check_array(self.name, x, xp, ("N", "C", "H", "W"))
        n = self.size
        s = self.k + (self.alpha / n) * _channel_window_sum(x * x, n // 2, (n - 1) // 2)
        scale = s ** -self.beta
        y = x * scale
        self.cache = (x, s, scale, y)
        return y

    def backward(self, dout):
        x, s, scale, y = self._need("cache")
        namespace(dout, x, where=self.name)  # same library and device, or a clear error
        self._check_dout(dout, tuple(x.shape))
        n = self.size
        # d s_c / d x_j = 2 alpha/n x_j for every c whose window holds j: the adjoint window.
        back = _channel_window_sum(dout * y / s, (n - 1) // 2, n // 2)
        return dout * scale - (2.0 * self.alpha * self.beta / n) * x * back

    def __repr__(self) -> str:
        return f"LRN(size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k})"
