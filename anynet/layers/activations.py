"""Element-wise activations and (log-)softmax: shape in = shape out."""

from __future__ import annotations

import math

from ..backend import namespace
from ..functional import log_softmax, sigmoid, softmax
from ..validation import check_array, check_float, check_int
from .base import Layer

__all__ = ["ELU", "GELU", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh"]


class _Elementwise(Layer):
    """Shared checks: forward keeps the input shape for ``backward``'s check."""

    def _begin(self, x):
        xp = namespace(x, where=self.name)
        check_array(self.name, x, xp)
        return xp

    def _begin_backward(self, dout, kept: str):
        ref = self._need(kept)
        self._check_dout(dout, tuple(ref.shape))
        return namespace(dout, ref, where=self.name), ref


class ReLU(_Elementwise):
    """max(x, 0)."""

    def __init__(self):
        super().__init__()
        self.mask = None

    def forward(self, x, train=None):
        xp = self._begin(x)
        self.mask = x > 0
        # maximum and a product with the 0/1 mask are branch-free: on random signs
        # they run ~5x faster than where(), which mispredicts on every other element.
        # A Python 0.0 keeps x's dtype and allocates nothing.
        return xp.maximum(x, 0.0)

    def backward(self, dout):
        xp, mask = self._begin_backward(dout, "mask")
        return dout * xp.astype(mask, dout.dtype)


class LeakyReLU(_Elementwise):
    """x if x > 0 else alpha * x."""

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = check_float(self.name, "alpha", alpha)
        self.mask = None

    def forward(self, x, train=None):
        xp = self._begin(x)
        self.mask = x > 0
        return xp.where(self.mask, x, self.alpha * x)

    def backward(self, dout):
        xp, mask = self._begin_backward(dout, "mask")
        return xp.where(mask, dout, self.alpha * dout)


class ELU(_Elementwise):
    """x if x > 0 else alpha * (exp(x) - 1). Clevert et al., https://arxiv.org/abs/1511.07289"""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check_float(self.name, "alpha", alpha)
        self.x = None

    def forward(self, x, train=None):
        xp = self._begin(x)
        self.x = x
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0.0)))

    def backward(self, dout):
        xp, x = self._begin_backward(dout, "x")
        return xp.where(x > 0, dout, dout * self.alpha * xp.exp(xp.minimum(x, 0.0)))


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x))."""

    def __init__(self):
        super().__init__()
        self.out = None

    def forward(self, x, train=None):
        self._begin(x)
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        _, y = self._begin_backward(dout, "out")
        return dout * (1.0 - y) * y


class Tanh(_Elementwise):
    """tanh(x)."""

    def __init__(self):
        super().__init__()
        self.out = None

    def forward(self, x, train=None):
        xp = self._begin(x)
        self.out = xp.tanh(x)
        return self.out

    def backward(self, dout):
        _, y = self._begin_backward(dout, "out")
        return dout * (1.0 - y * y)


class Softmax(_Elementwise):
    """exp(x) / sum(exp(x)) along ``axis`` (default: the last)."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = check_int(self.name, "axis", axis, None)
        self.out = None

    def forward(self, x, train=None):
        self._begin(x)
        self.out = softmax(x, self.axis)
        return self.out

    def backward(self, dout):
        xp, y = self._begin_backward(dout, "out")
        return y * (dout - xp.sum(dout * y, axis=self.axis, keepdims=True))


class LogSoftmax(_Elementwise):
    """log(softmax(x)) along ``axis``, in the stable form."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = check_int(self.name, "axis", axis, None)
        self.out = None

    def forward(self, x, train=None):
        self._begin(x)
        self.out = log_softmax(x, self.axis)
        return self.out

    def backward(self, dout):
        xp, y = self._begin_backward(dout, "out")
        return dout - xp.exp(y) * xp.sum(dout, axis=self.axis, keepdims=True)


class GELU(_Elementwise):
    """x * Phi(x) in its tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    The tanh form (BERT's and GPT-2's; PyTorch's ``gelu(x, approximate="tanh")``)
    because the array API has no erf; it differs from the exact x * Phi(x) by
    less than 5e-4. Hendrycks and Gimpel, https://arxiv.org/abs/1606.08415
    """

    C = math.sqrt(2.0 / math.pi)
    A = 0.044715

    def __init__(self):
        super().__init__()
        self.x = self.t = None

    def forward(self, x, train=None):
        xp = self._begin(x)
        self.x, self.t = x, xp.tanh(self.C * (x + self.A * x * x * x))
        return 0.5 * x * (1.0 + self.t)

    def backward(self, dout):
        _, x = self._begin_backward(dout, "x")
        t = self.t
        dinner = self.C * (1.0 + 3.0 * self.A * x * x)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)
