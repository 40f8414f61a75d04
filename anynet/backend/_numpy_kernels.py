"""NumPy's own im2col: the padded input laid out (C, N, H, W) once, and one copy of its strided
window view (``sliding_window_view``) into the columns. The convolutions stay the reference's
(im2col and one BLAS product per chunk, the chunks on the CPU threads); only the window copy is
NumPy's. Measured against the reference's stack of FH*FW slices on the 3x3 convolutions of
DeepConvNet (batch 100, float32): 2-15% faster where the input is padded, equal elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._kernels import FastKernels

__all__ = ["NumPyKernels"]


class NumPyKernels(FastKernels):
    """im2col by one copy of a strided window view; the rest is the reference."""

    name = "numpy"

    def im2col(self, x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
        """x (N, C, H, W) -> col (C*FH*FW, N*OH*OW), as the reference lays it out."""
        N, C, H, W = x.shape
        (FH, FW), (sh, sw), (ph, pw) = kernel, stride, pad
        if FH > H + 2 * ph or FW > W + 2 * pw:
            raise ValueError(f"im2col: kernel {FH}x{FW} is larger than the padded input "
                             f"{H + 2 * ph}x{W + 2 * pw} (input {H}x{W}, pad {ph},{pw})")
        if ph or pw:
            xt = np.zeros((C, N, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
            xt[:, :, ph:ph + H, pw:pw + W] = x.transpose(1, 0, 2, 3)
        else:
            xt = x.transpose(1, 0, 2, 3)  # a view: a conv's output is (C, N, H, W) memory already
        windows = sliding_window_view(xt, (FH, FW), axis=(2, 3))[:, :, ::sh, ::sw]  # (C, N, OH, OW, FH, FW)
        OH, OW = windows.shape[2], windows.shape[3]
        col = np.empty((C, FH, FW, N, OH, OW), dtype=x.dtype)
        np.copyto(col, windows.transpose(0, 4, 5, 1, 2, 3))
        return col.reshape(C * FH * FW, N * OH * OW)
