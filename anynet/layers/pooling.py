"""Max and average pooling over (N, C, H, W): the layers hold their window and call the kernels."""

from __future__ import annotations

from typing import Any

from .. import kernels
from ..backend import namespace
from ..validation import check_array
from ._windows import output_size, pair
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
    """Maximum over each window: x (N, C, H, W) -> (N, C, OH, OW) (``anynet.kernels.max_pool2d_forward``).

    Padding counts as -inf. The gradient goes to the first maximal element of each
    window (row-major), as argmax would choose.
    """

    def __init__(self, pool_size: Any = 2, stride: Any = None, pad: Any = 0):
        super().__init__(pool_size, stride, pad)
        self.x = self.saved = None

    def forward(self, x, train=None):
        self._begin(x)
        out, self.saved = kernels.max_pool2d_forward(x, self.kernel, self.stride, self.pad)
        self.x = x
        return out

    def backward(self, dout):
        x = self._need("x")
        namespace(dout, x, where=self.name)
        self._check_dout(dout, self.out_shape)
        return kernels.max_pool2d_backward(dout, x, self.saved, self.kernel, self.stride, self.pad)


class AvgPool(_Pool):
    """Mean over each window: x (N, C, H, W) -> (N, C, OH, OW); padding counts as zeros
    in the mean (PyTorch's count_include_pad=True) (``anynet.kernels.avg_pool2d_forward``)."""

    def forward(self, x, train=None):
        self._begin(x)
        return kernels.avg_pool2d_forward(x, self.kernel, self.stride, self.pad)

    def backward(self, dout):
        shape = self._need("out_shape")
        namespace(dout, where=self.name)
        self._check_dout(dout, shape)
        return kernels.avg_pool2d_backward(dout, self.x_shape, self.kernel, self.stride, self.pad)
