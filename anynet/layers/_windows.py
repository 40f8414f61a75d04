"""The window arguments of Conv and the pooling layers: ``pair`` reads a kernel size, stride or
padding. The window maths itself (output sizes, im2col, col2im) lives in ``anynet.kernels``;
``output_size``, ``im2col`` and ``col2im`` are named here too for the layers' older imports."""

from __future__ import annotations

from typing import Any

from ..kernels import col2im, im2col, output_size
from ..validation import check_int

__all__ = ["col2im", "im2col", "output_size", "pair"]


def pair(value: Any, what: str, where: str, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints as (height, width), each at least ``minimum``.

    **Arguments:**

    - ``value``: the int or pair; ``what``: its name in errors; ``where``: the layer's name.
    - ``minimum``: the smallest value allowed.

    **Returns:** (height, width); ValueError naming ``where`` and ``what`` otherwise.
    """
    if not isinstance(value, (tuple, list)):
        value = (check_int(where, what, value, minimum),) * 2
    if len(value) != 2:
        raise ValueError(f"{where}: {what} must be an int or a pair of ints, got {value!r}")
    h, w = (check_int(where, what, v, minimum) for v in value)
    return h, w
