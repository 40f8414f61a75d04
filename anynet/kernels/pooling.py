"""Max and average pooling over (N, C, H, W) and their gradients: the references, as reductions
over the FH*FW strided window views and their adjoint (``window_views`` / ``window_scatter``)."""

from __future__ import annotations

from typing import Any

from ..backend import namespace
from ._windows import output_size, window_scatter, window_views

__all__ = ["avg_pool2d_backward", "avg_pool2d_forward", "max_pool2d_backward", "max_pool2d_forward"]


def _out_hw(x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
            pad: tuple[int, int]) -> tuple[int, int]:
    return output_size("pool2d", x_shape[2:], kernel, stride, pad)


def max_pool2d_forward(x: Any, kernel: tuple[int, int], stride: tuple[int, int],
                       pad: tuple[int, int]) -> tuple[Any, Any]:
    """The maximum over each window, padding counting as -inf: x (N, C, H, W) -> y (N, C, OH, OW).

    **Arguments:**

    - ``x``: the input; ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** (y, saved): ``saved`` is what ``max_pool2d_backward`` needs besides x (here y itself).
    """
    xp = namespace(x)
    views = window_views(x, kernel, stride, pad, _out_hw(tuple(x.shape), kernel, stride, pad), -float("inf"))
    y = views[0]
    for v in views[1:]:
        y = xp.maximum(y, v)
    return y, y


def max_pool2d_backward(dout: Any, x: Any, saved: Any, kernel: tuple[int, int], stride: tuple[int, int],
                        pad: tuple[int, int]) -> Any:
    """The gradient of ``max_pool2d_forward``: dout (N, C, OH, OW) -> dx (N, C, H, W). Each window's
    gradient goes to its first maximal element (row-major), as argmax would choose.

    **Arguments:**

    - ``dout``, ``x``: arrays of one namespace and device; ``saved``: forward's second result (y).
    - ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** dx, a new array.
    """
    xp = namespace(dout, x)
    views = window_views(x, kernel, stride, pad, tuple(dout.shape[2:]), -float("inf"))
    parts, free = [], None  # free: windows whose maximum has not been claimed yet
    for k, v in enumerate(views):
        hit = v == saved
        if free is not None:
            hit = hit & free
        if k < len(views) - 1:
            free = ~hit if free is None else free & ~hit
        # A product with the 0/1 mask: branch-free, several times faster than where().
        parts.append(dout * xp.astype(hit, dout.dtype))
    return window_scatter(parts, tuple(x.shape), kernel, stride, pad)


def avg_pool2d_forward(x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """The mean over each window, padding counting as zeros (PyTorch's count_include_pad=True):
    x (N, C, H, W) -> y (N, C, OH, OW).

    **Arguments:**

    - ``x``: the input; ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** y, a new array.
    """
    views = window_views(x, kernel, stride, pad, _out_hw(tuple(x.shape), kernel, stride, pad))
    y = views[0]
    for v in views[1:]:
        y = y + v
    return y * (1.0 / len(views))


def avg_pool2d_backward(dout: Any, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                        pad: tuple[int, int]) -> Any:
    """The gradient of ``avg_pool2d_forward``: dout (N, C, OH, OW) -> dx of ``x_shape`` (N, C, H, W).

    **Arguments:**

    - ``dout``: the output's gradient; ``x_shape``: the input's shape.
    - ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** dx, a new array.
    """
    K = kernel[0] * kernel[1]
    return window_scatter([dout * (1.0 / K)] * K, tuple(x_shape), kernel, stride, pad)
