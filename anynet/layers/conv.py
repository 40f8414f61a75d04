"""2-D convolution (NCHW) as one batched matrix product over im2col columns."""

from __future__ import annotations

from typing import Any

from ..backend import device_of, namespace
from ..validation import check_array, check_bool, check_int
from ._windows import col2im, im2col, output_size, pair
from .base import Layer, new_parameter
from .init import init_scale

__all__ = ["Conv"]


class Conv(Layer):
    """2-D cross-correlation with zero padding and stride, as in the book:
    x (N, C, H, W) -> (N, FN, OH, OW), OH = (H + 2*pad - FH) // stride + 1.

    Parameters: W (FN, C, FH, FW), b (FN,). ``kernel_size``, ``stride`` and ``pad``
    are an int or an (height, width) pair. ``input_grad=False`` skips the gradient
    of x (backward returns None), for a first layer whose input is data.
    """

    # im2col columns are built for at most this many elements at a time (a batch chunk), which
    # bounds the memory a wide layer needs; None: the device executor's work_budget in bytes (small on a
    # CPU, where big chunks leave the cache and a fresh 40 MB array costs more in page faults
    # than its copy; large on a GPU, where each chunk costs launches).
    max_col_elements: int | None = None
    # Training keeps forward's columns for backward when all of them hold at most this
    # many elements (a first layer on few channels); larger ones are rebuilt in backward.
    keep_col_elements = 1 << 21
    # Stride-1 input gradients as a convolution of dout: True where the geometry allows, False
    # never (the col2im reference path), None where its gather of dout (FN*FH*FW rows over the
    # input's positions) is no larger than col2im's product (C*FH*FW rows over the output's):
    # a conv that widens the channels (LeNet-5's 6 -> 16, 5x5) or shrinks the map runs col2im
    # faster, one that keeps both (DeepConvNet's 16 -> 16, 3x3, pad 1) the transposed form.
    transposed_dx: bool | None = None

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
        self.x = self.out_shape = self.cols = None


    def output_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(C, H, W) of one input -> (FN, OH, OW) of its output."""
        return (self.W.shape[0], *output_size(self.name, in_shape[1:], self.kernel, self.stride, self.pad))

    def _chunks(self, N: int | None, rows: int, P: int, x: Any = None) -> list[tuple[int, int | None]]:
        """Batch ranges whose im2col columns (of ``x``'s dtype) stay under ``max_col_elements`` (one
        range when N is None, a symbolic batch size in a traced graph). On a device with several
        workers the budget is shared among them, and the count of ranges is a multiple of theirs."""
        if N is None:
            return [(0, None)]
        executor = None if x is None else device_of(x).executor
        workers = 1 if executor is None else max(1, min(executor.workers, N))
        limit = self.max_col_elements
        if limit is None:
            limit = executor.work_budget // workers // (namespace(x).finfo(x.dtype).bits // 8)
        count = -(-N // max(1, limit // max(1, rows * P)))
        count = -(-count // workers) * workers
        per = -(-N // count)
        return [(n, min(N, n + per)) for n in range(0, N, per)]

    def _layer_chunks(self, N: int, in_hw: tuple[int, int], out_hw: tuple[int, int], x: Any) -> list[tuple[int, int]]:
        """The batch chunks of forward and backward alike: bounded by the larger of x's
        columns (C*FH*FW, n*OH*OW) and, where backward builds them, dout's (FN*FH*FW, n*H*W)."""
        FN, C, FH, FW = self.W.shape
        per_sample = C * out_hw[0] * out_hw[1]
        if self.input_grad and self._input_grad_pad(in_hw, out_hw) is not None:
            per_sample = max(per_sample, FN * in_hw[0] * in_hw[1])
        return self._chunks(N, FH * FW, per_sample, x)

    def forward(self, x, train=None):
        W, b = self.W.data, self.b.data
        xp = namespace(x, W, b, where=self.name)
        FN, C, FH, FW = W.shape
        check_array(self.name, x, xp, ("N", C, "H", "W"), W.dtype)
        N, _, H, Wd = x.shape
        OH, OW = output_size(self.name, (H, Wd), self.kernel, self.stride, self.pad)
        W2 = xp.reshape(W, (FN, C * FH * FW))
        keep = self.is_training(train) and C * FH * FW * N * OH * OW <= self.keep_col_elements

        def product(chunk):  # independent per chunk: a device with several workers runs them at once
            col = im2col(x[chunk[0]:chunk[1], ...], self.kernel, self.stride, self.pad)
            return xp.matmul(W2, col), col if keep else None

        done = device_of(x).executor.parallel_map(product, self._layer_chunks(N, (H, Wd), (OH, OW), x))
        outs, cols = [out for out, _ in done], [col for _, col in done]
        out = (outs[0] if len(outs) == 1 else xp.concat(outs, axis=1)) + xp.reshape(b, (FN, 1))
        self.x, self.out_shape, self.cols = x, (N, FN, OH, OW), cols if keep else None
        # (FN, N, OH, OW) seen as (N, FN, OH, OW): a view; the next conv's im2col
        # swaps the axes back for free.
        return xp.permute_dims(xp.reshape(out, (FN, -1, OH, OW)), (1, 0, 2, 3))

    def _transposed_pad(self) -> tuple[int, int] | None:
        """The padding under which the input gradient is itself a stride-1 convolution of dout
        with the flipped, transposed filters, or None when it is not (stride > 1, pad >= kernel)."""
        (FH, FW), (ph, pw) = self.kernel, self.pad
        if self.stride != (1, 1) or ph > FH - 1 or pw > FW - 1:
            return None
        return FH - 1 - ph, FW - 1 - pw

    def _input_grad_pad(self, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> tuple[int, int] | None:
        """The transposed convolution's padding when backward computes the input gradient
        that way (see ``transposed_dx``), else None (col2im)."""
        tpad = None if self.transposed_dx is False else self._transposed_pad()
        FN, C = self.W.shape[:2]
        if tpad is not None and self.transposed_dx is None and FN * in_hw[0] * in_hw[1] > C * out_hw[0] * out_hw[1]:
            return None
        return tpad

    def backward(self, dout):
        x = self._need("x")
        W = self.W.data
        xp = namespace(dout, W, where=self.name)
        FN, C, FH, FW = W.shape
        self._check_dout(dout, self.out_shape)
        N, _, OH, OW = self.out_shape
        H, Wd = x.shape[2], x.shape[3]
        dout_t = xp.permute_dims(dout, (1, 0, 2, 3))  # (FN, N, OH, OW), a view
        self.b.grad = xp.sum(dout_t, axis=(1, 2, 3))
        tpad = self._input_grad_pad((H, Wd), (OH, OW)) if self.input_grad else None
        if tpad is not None:
            # dx = conv(dout, W flipped in space, channels swapped): a gather and one product
            # with K = FN*FH*FW, where W2.T @ dout (K = FN) and col2im's overlapping
            # scatter-adds run several times slower.
            Wt = xp.reshape(xp.permute_dims(xp.flip(W, axis=(2, 3)), (1, 0, 2, 3)), (C, FN * FH * FW))
        elif self.input_grad:
            W2 = xp.reshape(W, (FN, C * FH * FW))
        # Columns beyond keep_col_elements are rebuilt here, chunk by chunk: they are
        # FH*FW times the input, the largest arrays of a conv net.
        cols, self.cols = self.cols, None

        def grads(item):  # one chunk's part of dW and its dx; independent, like forward's
            k, (n0, n1) = item
            col = cols[k] if cols else im2col(x[n0:n1, ...], self.kernel, self.stride, self.pad)
            d = xp.reshape(dout_t[:, n0:n1, ...], (FN, (n1 - n0) * OH * OW))
            part = xp.matmul(col, d.T).T  # (FN, C*FH*FW); this orientation runs ~2x faster in BLAS
            del col
            if tpad is not None:
                dcol = im2col(dout[n0:n1, ...], self.kernel, (1, 1), tpad)  # (FN*FH*FW, n*H*W)
                return part, xp.reshape(xp.matmul(Wt, dcol), (C, n1 - n0, H, Wd))
            if self.input_grad:
                dcol = xp.matmul(W2.T, d)  # (C*FH*FW, n*OH*OW)
                dx = col2im(dcol, (n1 - n0, *x.shape[1:]), self.kernel, self.stride, self.pad)
                return part, xp.permute_dims(dx, (1, 0, 2, 3))
            return part, None

        done = device_of(x).executor.parallel_map(grads, list(enumerate(self._layer_chunks(N, (H, Wd), (OH, OW), x))))
        dW = done[0][0]
        for part, _ in done[1:]:  # summed in chunk order, whichever thread made each part
            dW = dW + part
        dxs = [dx for _, dx in done]
        self.W.grad = xp.reshape(dW, (FN, C, FH, FW))
        if not self.input_grad:
            return None
        # (C, N, H, W) seen as (N, C, H, W): the layer below reads it back in this order
        return xp.permute_dims(dxs[0] if len(dxs) == 1 else xp.concat(dxs, axis=1), (1, 0, 2, 3))

    def __repr__(self) -> str:
        FN, C, FH, FW = self.W.shape
        return f"Conv({C}, {FN}, kernel_size=({FH}, {FW}), stride={self.stride}, pad={self.pad})"
