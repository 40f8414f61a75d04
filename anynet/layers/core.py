"""Dense layers: MatMul, Affine, Flatten."""

from __future__ import annotations

import math
from typing import Any

from ..backend import namespace
from ..validation import check_array, check_int
from .base import Layer, new_parameter
from .init import init_scale

__all__ = ["Affine", "Flatten", "MatMul"]


class MatMul(Layer):
    """x @ W without bias: x (N, in) -> (N, out). Parameters: W (in, out).

    **Arguments:**

    - ``in_size``, ``out_size``: the sizes of a sample in and out.
    - ``weight_init``: "he" (default, for ReLU), "xavier" (sigmoid/tanh) or a standard deviation.
    - ``dtype``: the parameters' dtype (default: the device context's, float32).
    """

    def __init__(self, in_size: int, out_size: int, weight_init: str | float = "he", dtype: Any = None):
        super().__init__()
        in_size = check_int(self.name, "in_size", in_size)
        out_size = check_int(self.name, "out_size", out_size)
        self.W = new_parameter("W", (in_size, out_size), init_scale(weight_init, in_size, self.name), dtype)
        self.x = None


    def forward(self, x, train=None):
        W = self.W.data
        xp = namespace(x, W, where=self.name)
        check_array(self.name, x, xp, ("N", W.shape[0]), W.dtype)
        self.x = x
        return xp.matmul(x, W)

    def backward(self, dout):
        x = self._need("x")
        W = self.W.data
        xp = namespace(dout, W, where=self.name)
        self._check_dout(dout, (x.shape[0], W.shape[1]))
        self.W.grad = xp.matmul(x.T, dout)
        return xp.matmul(dout, W.T)


class Affine(MatMul):
    """x @ W + b, the book's Affine: x (N, in) -> (N, out). Parameters: W (in, out), b (out,).

    Inputs of more than two axes are refused; put a ``Flatten`` in front of them.

    **Arguments:**

    - ``in_size``, ``out_size``: the sizes of a sample in and out.
    - ``weight_init``: "he" (default, for ReLU), "xavier" (sigmoid/tanh) or a standard deviation
      such as the book's 0.01.
    - ``dtype``: the parameters' dtype (default: the device context's, float32).

    ``forward(x)`` returns (N, out); ``backward(dout)`` assigns ``W.grad`` and ``b.grad`` and returns
    dx (N, in). Example::

        layer = anynet.Affine(784, 10)
        y = layer.forward(np.zeros((32, 784), np.float32))     # (32, 10)
        dx = layer.backward(np.ones_like(y))                   # (32, 784)
    """

    def __init__(self, in_size: int, out_size: int, weight_init: str | float = "he", dtype: Any = None):
        super().__init__(in_size, out_size, weight_init, dtype)
        self.b = new_parameter("b", (out_size,), None, dtype)


    def forward(self, x, train=None):
        return super().forward(x, train) + self.b.data

    def backward(self, dout):
        dx = super().backward(dout)
        self.b.grad = namespace(dout).sum(dout, axis=0)
        return dx


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def __init__(self):
        super().__init__()
        self.x_shape = None

    def forward(self, x, train=None):
        xp = namespace(x, where=self.name)
        if x.ndim < 1:
            raise ValueError(f"{self.name}: expected x with a batch axis, got shape {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"{self.name}: empty batch: x has shape {tuple(x.shape)}")
        self.x_shape = tuple(x.shape)
        if x.shape[0] is None:  # a symbolic batch size, in a traced graph
            return xp.reshape(x, (-1, math.prod(x.shape[1:])))
        return xp.reshape(x, (x.shape[0], math.prod(x.shape[1:])))

    def backward(self, dout):
        shape = self._need("x_shape")
        xp = namespace(dout, where=self.name)
        n = math.prod(shape[1:])
        self._check_dout(dout, (shape[0], n))
        return xp.reshape(dout, shape)
