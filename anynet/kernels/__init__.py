"""The kernels of convolution and pooling: each written once in array-API code (the reference),
and run by a device's own kernel where its library has one.

    y = anynet.kernels.conv2d_forward(x, W, b, stride=(1, 1), pad=(1, 1))
    with anynet.kernels.reference():     # the array-API code only, on every device
        y_ref = anynet.kernels.conv2d_forward(x, W, b, (1, 1), (1, 1))

The layers (``Conv``, ``MaxPool``, ``AvgPool``) hold parameters and call these functions. Each
asks the device of its arrays for a kernel of the same name (``Device.kernels``, registered in
``anynet.backend``): PyTorch's convolution and pooling (oneDNN on the CPU), JAX's
``lax.conv_general_dilated`` and ``lax.reduce_window``, NumPy's im2col as one copy of a strided
window view; the reference everywhere else and inside ``reference()``. The references live in
``anynet.kernels.conv`` and ``anynet.kernels.pooling``; ``implementation`` says what runs where.
Shapes are NCHW; ``kernel``, ``stride`` and ``pad`` are (height, width) pairs of ints.

The same switches govern the optimizers' fused flat updates (``fused_update``: the names in
``UPDATES``), whose reference is each optimizer's own flat step (``anynet.optim``).
"""

from __future__ import annotations

from typing import Any

from ..backend import UPDATES, device_of
from . import conv, pooling
from ._select import _chosen, fast_kernel, implementation, reference, unchecked
from ._windows import col2im, output_size
from .conv import im2col

__all__ = [
    "UPDATES", "avg_pool2d_backward", "avg_pool2d_forward", "col2im", "conv2d_dgrad", "conv2d_forward",
    "conv2d_wgrad", "fused_update", "im2col", "implementation", "max_pool2d_backward", "max_pool2d_forward",
    "output_size", "reference", "unchecked",
]


def fused_update(operation: str, w: Any) -> Any:
    """The device's fused flat optimizer update ``operation`` for the flat weights ``w``, or None
    where the optimizer runs its own flat step: the device supplies none, not for ``w``'s dtype,
    ``reference()`` is active, or the update is unchecked and ``unchecked()`` is not.

    **Arguments:**

    - ``operation``: one of ``UPDATES``, e.g. ``"adam_update"``.
    - ``w``: a FlatBuffer's weights (P,) (their device and dtype decide).

    **Returns:** the update (a bound method of the device's ``FusedUpdates``; its signature is in
    ``anynet.backend._updates``) or None.
    """
    updates = device_of(w).updates
    return _chosen(updates, operation) if updates.takes(w) else None


def conv2d_forward(x: Any, W: Any, b: Any, stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """y = conv(x, W) + b (cross-correlation, zero padding): x (N, C, H, W), W (FN, C, FH, FW),
    b (FN,) -> y (N, FN, OH, OW), OH = (H + 2*pad - FH) // stride + 1.

    **Arguments:**

    - ``x``, ``W``, ``b``: arrays of one namespace and device.
    - ``stride``, ``pad``: (height, width) pairs.

    **Returns:** y (the device's kernel, else ``conv.conv2d_forward``).
    """
    return (fast_kernel("conv2d_forward", x) or conv.conv2d_forward)(x, W, b, stride, pad)


def conv2d_dgrad(dout: Any, W: Any, x_shape: tuple[int, ...], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """The input gradient of ``conv2d_forward``: dout (N, FN, OH, OW), W (FN, C, FH, FW) -> dx of
    ``x_shape`` (N, C, H, W).

    **Arguments:**

    - ``dout``, ``W``: arrays of one namespace and device; ``x_shape``: the input's shape.
    - ``stride``, ``pad``: (height, width) pairs.

    **Returns:** dx.
    """
    return (fast_kernel("conv2d_dgrad", dout) or conv.conv2d_dgrad)(dout, W, tuple(x_shape), stride, pad)


def conv2d_wgrad(x: Any, dout: Any, W_shape: tuple[int, ...], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """The weight gradient of ``conv2d_forward``: x (N, C, H, W), dout (N, FN, OH, OW) -> dW of
    ``W_shape`` (FN, C, FH, FW).

    **Arguments:**

    - ``x``, ``dout``: arrays of one namespace and device; ``W_shape``: the filters' shape.
    - ``stride``, ``pad``: (height, width) pairs.

    **Returns:** dW.
    """
    return (fast_kernel("conv2d_wgrad", x) or conv.conv2d_wgrad)(x, dout, tuple(W_shape), stride, pad)


def max_pool2d_forward(x: Any, kernel: tuple[int, int], stride: tuple[int, int],
                       pad: tuple[int, int]) -> tuple[Any, Any]:
    """The maximum over each window (padding counts as -inf): x (N, C, H, W) -> y (N, C, OH, OW).

    **Arguments:**

    - ``x``: the input; ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** (y, saved): hand ``saved`` to ``max_pool2d_backward`` (what the implementation
    that ran needs: y for the reference, the argmax indices for PyTorch).
    """
    own = fast_kernel("max_pool2d_forward", x)
    if own is None:
        y, kept = pooling.max_pool2d_forward(x, kernel, stride, pad)
        return y, (None, kept)
    y, kept = own(x, kernel, stride, pad)
    return y, (own.__self__, kept)  # backward runs the same library's kernel, whatever the context then


def max_pool2d_backward(dout: Any, x: Any, saved: Any, kernel: tuple[int, int], stride: tuple[int, int],
                        pad: tuple[int, int]) -> Any:
    """The gradient of ``max_pool2d_forward``: dout (N, C, OH, OW) -> dx (N, C, H, W); each window's
    gradient goes to its first maximal element (row-major).

    **Arguments:**

    - ``dout``, ``x``: arrays of one namespace and device; ``saved``: forward's second result.
    - ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** dx.
    """
    source, kept = saved
    backward = pooling.max_pool2d_backward if source is None else source.max_pool2d_backward
    return backward(dout, x, kept, kernel, stride, pad)


def avg_pool2d_forward(x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """The mean over each window, padding counting as zeros: x (N, C, H, W) -> y (N, C, OH, OW).

    **Arguments:**

    - ``x``: the input; ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** y.
    """
    return (fast_kernel("avg_pool2d_forward", x) or pooling.avg_pool2d_forward)(x, kernel, stride, pad)


def avg_pool2d_backward(dout: Any, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                        pad: tuple[int, int]) -> Any:
    """The gradient of ``avg_pool2d_forward``: dout (N, C, OH, OW) -> dx of ``x_shape`` (N, C, H, W).

    **Arguments:**

    - ``dout``: the output's gradient; ``x_shape``: the input's shape.
    - ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** dx.
    """
    own = fast_kernel("avg_pool2d_backward", dout) or pooling.avg_pool2d_backward
    return own(dout, tuple(x_shape), kernel, stride, pad)
