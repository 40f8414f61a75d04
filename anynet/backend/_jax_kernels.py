"""JAX's own convolution and pooling: ``lax.conv_general_dilated`` and ``lax.reduce_window``, the
gradients as their exact transposes (``jax.linear_transpose``) or ``jax.vjp``. Each kernel is one
``jax.jit`` function (shapes, strides and padding static), so eager calls reuse a compiled
executable, and a compiled step (``jax.jit`` of the whole step) inlines them: its program holds
XLA's convolution rather than im2col's gathers."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._kernels import FastKernels

__all__ = ["JaxKernels"]

_DIMS = ("NCHW", "OIHW", "NCHW")
_JITTED: dict[Callable[..., Any], Callable[..., Any]] = {}


def _jit(fn: Callable[..., Any], static: tuple[int, ...]) -> Callable[..., Any]:
    found = _JITTED.get(fn)
    if found is None:
        import jax

        found = _JITTED[fn] = jax.jit(fn, static_argnums=static)
    return found


def _conv(x: Any, W: Any, stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    from jax import lax

    (ph, pw) = pad
    # precision HIGHEST: float32 products in float32 (XLA may use fewer bits by default on some chips)
    return lax.conv_general_dilated(x, W, stride, ((ph, ph), (pw, pw)), dimension_numbers=_DIMS,
                                    precision=lax.Precision.HIGHEST)


def _window(kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> tuple[Any, Any, Any]:
    (ph, pw) = pad
    return (1, 1, *kernel), (1, 1, *stride), ((0, 0), (0, 0), (ph, ph), (pw, pw))


def _max_pool(x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    from jax import lax

    # a concrete (NumPy) initial value: JAX then uses its differentiable max-window primitive
    return lax.reduce_window(x, np.array(-np.inf, x.dtype), lax.max, *_window(kernel, stride, pad))


def _sum_pool(x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    from jax import lax

    return lax.reduce_window(x, np.array(0, x.dtype), lax.add, *_window(kernel, stride, pad))


def _conv_forward(x: Any, W: Any, b: Any, stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    return _conv(x, W, stride, pad) + b.reshape(1, -1, 1, 1)


def _conv_dgrad(dout: Any, W: Any, x_shape: tuple[int, ...], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    import jax

    transpose = jax.linear_transpose(lambda x: _conv(x, W, stride, pad), jax.ShapeDtypeStruct(x_shape, dout.dtype))
    return transpose(dout)[0]


def _max_pool_backward(dout: Any, x: Any, kernel: tuple[int, int], stride: tuple[int, int],
                       pad: tuple[int, int]) -> Any:
    import jax

    return jax.vjp(lambda x: _max_pool(x, kernel, stride, pad), x)[1](dout)[0]


def _avg_pool(x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    return _sum_pool(x, kernel, stride, pad) * (1.0 / (kernel[0] * kernel[1]))


def _avg_pool_backward(dout: Any, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                       pad: tuple[int, int]) -> Any:
    import jax

    transpose = jax.linear_transpose(lambda x: _sum_pool(x, kernel, stride, pad),
                                     jax.ShapeDtypeStruct(x_shape, dout.dtype))
    return transpose(dout * (1.0 / (kernel[0] * kernel[1])))[0]


class JaxKernels(FastKernels):
    """The convolution and pooling operations of ``anynet.kernels`` with XLA's kernels, but the weight
    gradient: XLA's CPU convolution in W (the transpose in W) made DeepConvNet's compiled step 390 ms
    against 255 ms with the reference's one product per chunk (2 cores, batch 100), so the reference
    runs it."""

    name = "jax"

    def conv2d_forward(self, x: Any, W: Any, b: Any, stride: tuple[int, int], pad: tuple[int, int]) -> Any:
        """``lax.conv_general_dilated`` plus the bias."""
        return _jit(_conv_forward, (3, 4))(x, W, b, stride, pad)

    def conv2d_dgrad(self, dout: Any, W: Any, x_shape: tuple[int, ...], stride: tuple[int, int],
                     pad: tuple[int, int]) -> Any:
        """The transpose of the convolution in x (itself a convolution of dout)."""
        return _jit(_conv_dgrad, (2, 3, 4))(dout, W, tuple(x_shape), stride, pad)

    def max_pool2d_forward(self, x: Any, kernel: tuple[int, int], stride: tuple[int, int],
                           pad: tuple[int, int]) -> tuple[Any, Any]:
        """``lax.reduce_window`` with ``max``; nothing saved (backward differentiates it again)."""
        return _jit(_max_pool, (1, 2, 3))(x, kernel, stride, pad), None

    def max_pool2d_backward(self, dout: Any, x: Any, saved: Any, kernel: tuple[int, int], stride: tuple[int, int],
                            pad: tuple[int, int]) -> Any:
        """``jax.vjp`` of the max pool (XLA's select-and-scatter: the first maximum of a window)."""
        return _jit(_max_pool_backward, (2, 3, 4))(dout, x, kernel, stride, pad)

    def avg_pool2d_forward(self, x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
        """``lax.reduce_window`` with ``add``, over the window's size (padding counts)."""
        return _jit(_avg_pool, (1, 2, 3))(x, kernel, stride, pad)

    def avg_pool2d_backward(self, dout: Any, x_shape: tuple[int, ...], kernel: tuple[int, int],
                            stride: tuple[int, int], pad: tuple[int, int]) -> Any:
        """The transpose of the windowed sum, over the window's size."""
        return _jit(_avg_pool_backward, (1, 2, 3, 4))(dout, tuple(x_shape), kernel, stride, pad)
