"""2-D convolution (NCHW cross-correlation) and its two gradients: the references, as im2col
columns and one matrix product per batch chunk.

The device's executor plans the chunks (``Executor.plan``: columns under its ``work_budget``) and
runs them (``parallel_map``: on several CPU threads where it has them); the kernels schedule
nothing themselves. Each public function here is what ``anynet.kernels`` of the same name runs
when the device supplies no kernel of its own.
"""

from __future__ import annotations

from typing import Any

from ..backend import device_of, namespace
from ._select import fast_kernel
from ._windows import col2im, output_size, reference_im2col

__all__ = ["conv2d_dgrad", "conv2d_forward", "conv2d_wgrad", "dgrad_padding", "im2col"]


def im2col(x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """Each window of the padded input as a column: x (N, C, H, W) -> col (C*FH*FW, N*OH*OW),
    rows ordered (c, i, j) like W (FN, C, FH, FW).

    The transpose of the book's (N*OH*OW, C*FH*FW): ``W @ col`` is then one large product
    (FN, N*OH*OW) whose (FN, N, OH, OW) reshape is the NCHW output with its first two axes
    swapped, a free view. The device's own im2col where it has one (NumPy: one copy of a strided
    window view), else the FH*FW strided views stacked.

    **Arguments:**

    - ``x``: the input; ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** a new array (C*FH*FW, N*OH*OW).
    """
    own = fast_kernel("im2col", x)
    return (own or reference_im2col)(x, kernel, stride, pad)


def _itemsize(xp: Any, x: Any) -> int:
    return xp.finfo(x.dtype).bits // 8


def conv2d_forward(x: Any, W: Any, b: Any, stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """y = conv(x, W) + b: x (N, C, H, W), W (FN, C, FH, FW), b (FN,) -> y (N, FN, OH, OW),
    OH = (H + 2*pad - FH) // stride + 1.

    **Arguments:**

    - ``x``, ``W``, ``b``: arrays of one namespace and device.
    - ``stride``, ``pad``: (height, width) pairs.

    **Returns:** y, a view of (FN, N, OH, OW) memory (the next im2col reads it in that order).
    """
    xp = namespace(x, W, b)
    FN, C, FH, FW = W.shape
    N, _, H, Wd = x.shape
    OH, OW = output_size("conv2d_forward", (H, Wd), (FH, FW), stride, pad)
    W2 = xp.reshape(W, (FN, C * FH * FW))
    executor = device_of(x).executor

    def product(chunk: tuple[int, Any]) -> Any:  # independent per chunk: the executor may run them at once
        return xp.matmul(W2, im2col(x[chunk[0]:chunk[1], ...], (FH, FW), stride, pad))

    outs = executor.parallel_map(product, executor.plan(N, C * FH * FW * OH * OW * _itemsize(xp, x)))
    out = (outs[0] if len(outs) == 1 else xp.concat(outs, axis=1)) + xp.reshape(b, (FN, 1))
    return xp.permute_dims(xp.reshape(out, (FN, -1, OH, OW)), (1, 0, 2, 3))


def dgrad_padding(W_shape: tuple[int, ...], in_hw: tuple[int, int], out_hw: tuple[int, int],
                  stride: tuple[int, int], pad: tuple[int, int]) -> tuple[int, int] | None:
    """The padding under which the reference computes the input gradient as a stride-1 convolution
    of dout with the flipped, transposed filters, or None where it uses col2im instead.

    That form needs stride 1 and pad < kernel; it runs where its gather of dout (FN*FH*FW rows over
    the input's positions) is no larger than col2im's product (C*FH*FW rows over the output's): a
    conv that keeps channels and map size (DeepConvNet's 16 -> 16, 3x3, pad 1) takes it, one that
    widens the channels (LeNet-5's 6 -> 16, 5x5) or shrinks the map runs col2im, which is faster there.

    **Arguments:**

    - ``W_shape``: (FN, C, FH, FW); ``in_hw``: (H, W); ``out_hw``: (OH, OW); ``stride``, ``pad``: pairs.

    **Returns:** (FH - 1 - ph, FW - 1 - pw), or None.
    """
    FN, C, FH, FW = W_shape
    (ph, pw) = pad
    if stride != (1, 1) or ph > FH - 1 or pw > FW - 1:
        return None
    if FN * in_hw[0] * in_hw[1] > C * out_hw[0] * out_hw[1]:
        return None
    return FH - 1 - ph, FW - 1 - pw


def conv2d_dgrad(dout: Any, W: Any, x_shape: tuple[int, ...], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """The gradient of ``conv2d_forward`` with respect to x: dout (N, FN, OH, OW), W (FN, C, FH, FW)
    -> dx (N, C, H, W), for the input shape ``x_shape``.

    **Arguments:**

    - ``dout``, ``W``: arrays of one namespace and device; ``x_shape``: (N, C, H, W).
    - ``stride``, ``pad``: (height, width) pairs.

    **Returns:** dx, a view of (C, N, H, W) memory where the transposed-convolution form ran.
    """
    xp = namespace(dout, W)
    FN, C, FH, FW = W.shape
    N, _, H, Wd = x_shape
    OH, OW = dout.shape[2], dout.shape[3]
    tpad = dgrad_padding(tuple(W.shape), (H, Wd), (OH, OW), stride, pad)
    executor = device_of(dout).executor
    size = _itemsize(xp, dout)
    if tpad is not None:
        # dx = conv(dout, W flipped in space, channels swapped): a gather and one product with
        # K = FN*FH*FW, where W2.T @ dout (K = FN) and col2im's overlapping scatter-adds run slower.
        Wt = xp.reshape(xp.permute_dims(xp.flip(W, axis=(2, 3)), (1, 0, 2, 3)), (C, FN * FH * FW))

        def transposed(chunk: tuple[int, Any]) -> Any:
            n0, n1 = chunk
            dcol = im2col(dout[n0:n1, ...], (FH, FW), (1, 1), tpad)  # (FN*FH*FW, n*H*W)
            return xp.reshape(xp.matmul(Wt, dcol), (C, -1, H, Wd))

        parts = executor.parallel_map(transposed, executor.plan(N, FN * FH * FW * H * Wd * size))
        dx = parts[0] if len(parts) == 1 else xp.concat(parts, axis=1)
        return xp.permute_dims(dx, (1, 0, 2, 3))  # (C, N, H, W) seen as (N, C, H, W)
    W2t = xp.reshape(W, (FN, C * FH * FW)).T
    dout_t = xp.permute_dims(dout, (1, 0, 2, 3))  # (FN, N, OH, OW), a view

    def scattered(chunk: tuple[int, Any]) -> Any:
        n0, n1 = chunk
        d = xp.reshape(dout_t[:, n0:n1, ...], (FN, -1))
        n = d.shape[1] // (OH * OW)
        return col2im(xp.matmul(W2t, d), (n, C, H, Wd), (FH, FW), stride, pad)

    parts = executor.parallel_map(scattered, executor.plan(N, C * FH * FW * OH * OW * size))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def conv2d_wgrad(x: Any, dout: Any, W_shape: tuple[int, ...], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """The gradient of ``conv2d_forward`` with respect to W: x (N, C, H, W), dout (N, FN, OH, OW)
    -> dW of ``W_shape`` (FN, C, FH, FW), the chunks' parts summed in chunk order.

    **Arguments:**

    - ``x``, ``dout``: arrays of one namespace and device; ``W_shape``: (FN, C, FH, FW).
    - ``stride``, ``pad``: (height, width) pairs.

    **Returns:** dW.
    """
    xp = namespace(x, dout)
    FN, C, FH, FW = W_shape
    N, OH, OW = x.shape[0], dout.shape[2], dout.shape[3]
    dout_t = xp.permute_dims(dout, (1, 0, 2, 3))  # (FN, N, OH, OW), a view
    executor = device_of(x).executor

    def part(chunk: tuple[int, Any]) -> Any:
        n0, n1 = chunk
        col = im2col(x[n0:n1, ...], (FH, FW), stride, pad)
        d = xp.reshape(dout_t[:, n0:n1, ...], (FN, -1))
        return xp.matmul(col, d.T).T  # (FN, C*FH*FW); this orientation runs ~2x faster in BLAS

    parts = executor.parallel_map(part, executor.plan(N, C * FH * FW * OH * OW * _itemsize(xp, x)))
    dW = parts[0]
    for p in parts[1:]:  # summed in chunk order, whichever thread made each part
        dW = dW + p
    return xp.reshape(dW, (FN, C, FH, FW))
