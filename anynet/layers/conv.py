"""2-D convolution (NCHW), as in the book: the layer holds W and b and calls the kernels."""

from __future__ import annotations

from typing import Any

from .. import kernels
from ..backend import namespace
from ..validation import check_array, check_bool, check_int
from ._windows import output_size, pair
from .base import Layer, new_parameter
from .init import init_scale

__all__ = ["Conv"]


class Conv(Layer):
    """2-D cross-correlation with zero padding and stride, as in the book:
    x (N, C, H, W) -> (N, FN, OH, OW), OH = (H + 2*pad - FH) // stride + 1.

    Parameters: W (FN, C, FH, FW), b (FN,). ``kernel_size``, ``stride`` and ``pad`` are an int or
    an (height, width) pair. ``input_grad=False`` skips the gradient of x (backward returns None),
    for a first layer whose input is data. The maths is ``anynet.kernels``' (``conv2d_forward``,
    ``conv2d_dgrad``, ``conv2d_wgrad``): the array library's own convolution where it has one,
    else im2col and a matrix product per batch chunk, as the device's executor plans them.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, pad: Any = 0,
                 weight_init: str | float = "he", input_grad: bool = True, dtype: Any = None):
        super().__init__()
        in_channels = check_int(self.name, "in_channels", in_channels)
        out_channels = check_int(self.name, "out_channels", out_channels)
        self.kernel = pair(kernel_size, "kernel_size", self.name, 1)
        self.stride = pair(stride, "stride", self.name, 1)
        self.pad = pair(pad, "pad", self.name, 0)
        fan_in = in_channels * self.kernel[0] * self.kernel[1]
        scale = init_scale(weight_init, fan_in, self.name)
        self.W = new_parameter("W", (out_channels, in_channels, *self.kernel), scale, dtype)
        self.b = new_parameter("b", (out_channels,), None, dtype)
        self.input_grad = check_bool(self.name, "input_grad", input_grad)
        self.x = self.out_shape = None

    def output_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(C, H, W) of one input -> (FN, OH, OW) of its output."""
        return (self.W.shape[0], *output_size(self.name, in_shape[1:], self.kernel, self.stride, self.pad))

    def forward(self, x, train=None):
        W, b = self.W.data, self.b.data
        xp = namespace(x, W, b, where=self.name)
        FN, C, FH, FW = W.shape
        check_array(self.name, x, xp, ("N", C, "H", "W"), W.dtype)
        N, _, H, Wd = x.shape
        OH, OW = output_size(self.name, (H, Wd), self.kernel, self.stride, self.pad)
        self.x, self.out_shape = x, (N, FN, OH, OW)
        return kernels.conv2d_forward(x, W, b, self.stride, self.pad)

    def backward(self, dout):
        x = self._need("x")
        W = self.W.data
        xp = namespace(dout, W, where=self.name)
        self._check_dout(dout, self.out_shape)
        self.b.grad = xp.sum(dout, axis=(0, 2, 3))
        self.W.grad = kernels.conv2d_wgrad(x, dout, tuple(W.shape), self.stride, self.pad)
        if not self.input_grad:
            return None
        return kernels.conv2d_dgrad(dout, W, tuple(x.shape), self.stride, self.pad)

    def __repr__(self) -> str:
        FN, C, FH, FW = self.W.shape
        return f"Conv({C}, {FN}, kernel_size=({FH}, {FW}), stride={self.stride}, pad={self.pad})"
