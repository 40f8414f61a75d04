"""The window maths of convolution and pooling, in array-API code: output sizes, the strided
views of the padded input (one per kernel offset), their adjoint, im2col and col2im.

Both directions use one strided slice per kernel offset (FH*FW slices), never an index array:
gathering is ``xp.stack`` of views, scattering is the adjoint, either interleaving (windows that
tile the input exactly) or accumulating the slices into a zero array this module owns
(``array_api_extra.at(...).add``).
"""

from __future__ import annotations

from typing import Any, Sequence

import array_api_extra as xpx

from .. import backend
from ..backend import array_device, namespace

__all__ = ["col2im", "output_size", "reference_im2col", "window_scatter", "window_views"]


def output_size(where: str, in_hw: Sequence[int], kernel: tuple[int, int], stride: tuple[int, int],
                pad: tuple[int, int]) -> tuple[int, int]:
    """The output's (OH, OW) = ((H + 2*pad - FH) // stride + 1, ...).

    **Arguments:**

    - ``where``: the name errors start with (the layer or kernel).
    - ``in_hw``: the input's (H, W); ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** (OH, OW); ValueError if the kernel does not fit the padded input.
    """
    H, W = in_hw
    (FH, FW), (sh, sw), (ph, pw) = kernel, stride, pad
    if FH > H + 2 * ph or FW > W + 2 * pw:
        raise ValueError(
            f"{where}: kernel {FH}x{FW} is larger than the padded input {H + 2 * ph}x{W + 2 * pw} "
            f"(input {H}x{W}, pad {ph},{pw})"
        )
    return (H + 2 * ph - FH) // sh + 1, (W + 2 * pw - FW) // sw + 1


def _pad(x: Any, pad: tuple[int, int], value: float = 0.0) -> Any:
    ph, pw = pad
    if ph == 0 and pw == 0:
        return x
    return backend.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), value)


def window_views(x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                 out_hw: tuple[int, int], pad_value: float = 0.0) -> list[Any]:
    """The FH*FW strided views of the padded ``x``, one per kernel offset in row-major order.

    x (N, C, H, W) -> FH*FW arrays (N, C, OH, OW): view (i, j)[..., oh, ow] = xpad[..., i + sh*oh, j + sw*ow].

    **Arguments:**

    - ``x``: the input; ``kernel``, ``stride``, ``pad``: (height, width) pairs; ``out_hw``: (OH, OW).
    - ``pad_value``: what the padding holds (-inf for max pooling).

    **Returns:** the list of views (of one padded copy when ``pad`` is not zero).
    """
    xpad = _pad(x, pad, pad_value)
    (FH, FW), (sh, sw), (OH, OW) = kernel, stride, out_hw
    return [
        xpad[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]
        for i in range(FH)
        for j in range(FW)
    ]


def window_scatter(parts: Sequence[Any], in_shape: Sequence[int], kernel: tuple[int, int],
                   stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """The adjoint of ``window_views``: each part summed back into the positions its view read,
    the padding dropped. FH*FW parts (N, C, OH, OW) -> (N, C, H, W).

    **Arguments:**

    - ``parts``: one array per kernel offset, row-major; ``in_shape``: (N, C, H, W) of the result;
      ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** a new array (N, C, H, W).
    """
    xp = namespace(*parts)
    N, C, H, W = in_shape
    (FH, FW), (sh, sw), (ph, pw) = kernel, stride, pad
    OH, OW = parts[0].shape[2], parts[0].shape[3]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    if (sh, sw) == (FH, FW):
        # Windows tile the input without overlap: interleave instead of accumulating.
        rows = [xp.stack(parts[i * FW:(i + 1) * FW], axis=-1) for i in range(FH)]
        full = xp.reshape(xp.stack(rows, axis=3), (N, C, OH * FH, OW * FW))
        if (OH * FH, OW * FW) != (Hp, Wp):
            full = xpx.pad(full, ((0, 0), (0, 0), (0, Hp - OH * FH), (0, Wp - OW * FW)))
    else:
        full = xp.zeros((N, C, Hp, Wp), dtype=parts[0].dtype, device=array_device(parts[0]))
        for k, part in enumerate(parts):
            i, j = divmod(k, FW)
            idx = (slice(None), slice(None), slice(i, i + sh * (OH - 1) + 1, sh), slice(j, j + sw * (OW - 1) + 1, sw))
            full = xpx.at(full)[idx].add(part)
    if ph or pw:
        full = full[:, :, ph:ph + H, pw:pw + W]
    return full


def reference_im2col(x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
    """The reference of ``anynet.kernels.im2col``: the FH*FW window views stacked once."""
    xp = namespace(x)
    N, C, H, W = x.shape
    OH, OW = output_size("im2col", (H, W), kernel, stride, pad)
    views = window_views(xp.permute_dims(x, (1, 0, 2, 3)), kernel, stride, pad, (OH, OW))
    col = xp.stack(views, axis=1)  # (C, FH*FW, N, OH, OW)
    return xp.reshape(col, (C * kernel[0] * kernel[1], -1))  # -1: N may be symbolic (None)


def col2im(col: Any, in_shape: Sequence[int], kernel: tuple[int, int], stride: tuple[int, int],
           pad: tuple[int, int]) -> Any:
    """The adjoint of ``im2col``: col (C*FH*FW, N*OH*OW) -> (N, C, H, W), overlapping windows summed.

    **Arguments:**

    - ``col``: columns as ``im2col`` lays them out; ``in_shape``: (N, C, H, W) of the result;
      ``kernel``, ``stride``, ``pad``: (height, width) pairs.

    **Returns:** a new array (N, C, H, W).
    """
    xp = namespace(col)
    N, C, H, W = in_shape
    FH, FW = kernel
    OH, OW = output_size("col2im", (H, W), kernel, stride, pad)
    col = xp.reshape(col, (C, FH * FW, N, OH, OW))
    parts = [col[:, k, ...] for k in range(FH * FW)]
    dx = window_scatter(parts, (C, N, H, W), kernel, stride, pad)
    return xp.permute_dims(dx, (1, 0, 2, 3))
