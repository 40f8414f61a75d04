"""Global average pooling: the mean of each channel's map, before a ResNet's classifier."""

from __future__ import annotations

from ..backend import namespace
from ..validation import check_array
from .base import Layer

__all__ = ["GlobalAvgPool"]


class GlobalAvgPool(Layer):
    """The mean over each channel's map: x (N, C, H, W) -> (N, C).

    PyTorch's ``AdaptiveAvgPool2d(1)`` followed by a flatten; ONNX's GlobalAveragePool and a
    flatten. No parameters. Lin et al., https://arxiv.org/abs/1312.4400
    """

    def __init__(self):
        super().__init__()
        self.x_shape = None

    def output_shape(self, in_shape: tuple[int, int, int]) -> tuple[int]:
        """(C, H, W) of one input -> (C,) of its output."""
        return (in_shape[0],)

    def forward(self, x, train=None):
        xp = namespace(x, where=self.name)
        check_array(self.name, x, xp, ("N", "C", "H", "W"))
        self.x_shape = tuple(x.shape)
        return xp.mean(x, axis=(2, 3))

    def backward(self, dout):
        N, C, H, W = self._need("x_shape")
        xp = namespace(dout, where=self.name)
        self._check_dout(dout, (N, C))
        # every position of a map had the same share of the mean
        return xp.broadcast_to(xp.reshape(dout * (1.0 / (H * W)), (N, C, 1, 1)), (N, C, H, W))

    def __repr__(self) -> str:
        return f"{self.name}()"
