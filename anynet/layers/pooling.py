"""Max and average pooling over (N, C, H, W), written as a reduction over strided views."""

from __future__ import annotations

from typing import Any

from ..backend import namespace
from ..validation import check_array
from ._windows import output_size, pair, window_scatter, window_views
from .base import Layer

__all__ = ["AvgPool", "MaxPool"]


class _Pool(Layer):
    """Shared set-up: pool size, stride (default: the pool size, as in PyTorch), pad."""

    def __init__(self, pool_size: Any = 2, stride: Any = None, pad: Any = 0):
        super().__init__()
        self.kernel = pair(pool_size, "pool_size", self.name, 1)
        self.stride = self.kernel if stride is None else pair(stride, "stride", self.name, 1)
        self.pad = pair(pad, "pad", self.name, 0)
        if self.pad[0] > self.kernel[0] // 2 or self.pad[1] > self.kernel[1] // 2:
            raise ValueError(f"{self.name}: pad {self.pad} must be at most half the pool size {self.kernel}")
        self.x_shape = self.out_shape = None

    def output_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(C, H, W) of one input -> (C, OH, OW) of its output."""
        return (in_shape[0], *output_size(self.name, in_shape[1:], self.kernel, self.stride, self.pad))

    def _begin(self, x):
        xp = namespace(x, where=self.name)
        check_array(self.name, x, xp, ("N", "C", "H", "W"))
        N, C, H, W = x.shape
        OH, OW = output_size(self.name, (H, W), self.kernel, self.stride, self.pad)
        self.x_shape, self.out_shape = tuple(x.shape), (N, C, OH, OW)
        return xp, (OH, OW)

    def __repr__(self) -> str:
        return f"{self.name}(pool_size={self.kernel}, stride={self.stride}, pad={self.pad})"


class MaxPool(_Pool):
    """Maximum over each window: x (N, C, H, W) -> (N, C, OH, OW).

    Padding counts as -inf. The gradient goes to the first maximal element of each
    window (row-major), as argmax would choose.
    """

    def __init__(self, pool_size: Any = 2, stride: Any = None, pad: Any = 0):
        super().__init__(pool_size, stride, pad)
        self.x = self.out = None

    def forward(self, x, train=None):
        xp, out_hw = self._begin(x)
        views = window_views(x, self.kernel, self.stride, self.pad, out_hw, -float("inf"))
        out = views[0]
        for v in views[1:]:
            out = xp.maximum(out, v)
        self.x, self.out = x, out
        return out

    def backward(self, dout):
        x = self._need("x")
        xp = namespace(dout, x, where=self.name)
        self._check_dout(dout, self.out_shape)
        views = window_views(x, self.kernel, self.stride, self.pad, self.out_shape[2:], -float("inf"))
        parts, free = [], None  # free: windows whose maximum has not been claimed yet
        for k, v in enumerate(views):
            hit = v == self.out
            if free is not None:
                hit = hit & free
            if k < len(views) - 1:
                free = ~hit if free is None else free & ~hit
            # A product with the 0/1 mask: branch-free, several times faster than where().
            parts.append(dout * xp.astype(hit, dout.dtype))
        return window_scatter(parts, self.x_shape, self.kernel, self.stride, self.pad)


class AvgPool(_Pool):
    """Mean over each window: x (N, C, H, W) -> (N, C, OH, OW); padding counts as zeros
    in the mean (PyTorch's count_include_pad=True)."""

    def forward(self, x, train=None):
        xp, out_hw = self._begin(x)
        views = window_views(x, self.kernel, self.stride, self.pad, out_hw)
        out = views[0]
        for v in views[1:]:
            out = out + v
        return out * (1.0 / len(views))

    def backward(self, dout):
        shape = self._need("out_shape")
        namespace(dout, where=self.name)
        self._check_dout(dout, shape)
        K = self.kernel[0] * self.kernel[1]
        part = dout * (1.0 / K)
        return window_scatter([part] * K, self.x_shape, self.kernel, self.stride, self.pad)
