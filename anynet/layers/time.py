"""TimeAffine: one Affine applied at every time step of a sequence."""

from __future__ import annotations

from typing import Any

from ..backend import namespace
from ..validation import check_array, check_int
from .base import Layer, new_parameter
from .init import init_scale

__all__ = ["TimeAffine"]


class TimeAffine(Layer):
    """x @ W + b at every step: x (N, T, D) -> (N, T, O). Parameters: W (D, O), b (O,).

    The steps are folded into the batch, (N*T, D) @ (D, O), one matrix product.
    """

    def __init__(self, in_size: int, out_size: int, weight_init: str | float = "xavier", dtype: Any = None):
        super().__init__()
        in_size, out_size = check_int(self.name, "in_size", in_size), check_int(self.name, "out_size", out_size)
        self.W = new_parameter("W", (in_size, out_size), init_scale(weight_init, in_size, self.name), dtype)
        self.b = new_parameter("b", (out_size,), None, dtype)
        self.x = None


    def forward(self, x, train=None):
        W, b = self.W.data, self.b.data
        xp = namespace(x, W, where=self.name)
        check_array(self.name, x, xp, ("N", "T", W.shape[0]), W.dtype)
        N, T, D = x.shape
        self.x = x
        out = xp.matmul(xp.reshape(x, (-1, D)), W) + b
        return xp.reshape(out, (-1, T, W.shape[1]))  # -1: N may be symbolic (None)

    def backward(self, dout):
        x = self._need("x")
        W = self.W.data
        xp = namespace(dout, W, where=self.name)
        N, T, D = x.shape
        M = W.shape[1]
        self._check_dout(dout, (N, T, M))
        d2 = xp.reshape(dout, (N * T, M))
        self.W.grad = xp.matmul(xp.reshape(x, (N * T, D)).T, d2)
        self.b.grad = xp.sum(d2, axis=0)
        return xp.reshape(xp.matmul(d2, W.T), (N, T, D))
