"""The device context: ``anynet.device(...)`` decides where new arrays are born, and in which
floating dtype new parameters are."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from ._context import entered_dtype, reset, set_device, set_dtype
from ._device import Device
from ._registry import as_device

__all__ = ["current_dtype", "device"]

DEFAULT_DTYPE = "float32"

def current_dtype() -> str:
    """The floating dtype new parameters are born in: the innermost ``anynet.device(...,
    dtype=...)`` that chose one, else "float32"."""
    found = entered_dtype()
    return DEFAULT_DTYPE if found is None else found


@contextlib.contextmanager
def device(spec: Any = "cpu", dev: Any = None, dtype: str | None = None) -> Iterator[Device]:
    """Within the block, new parameters, batches and random draws are born on ``spec``.

    Computation always follows its inputs; the context only places new arrays. Nests, and is
    safe across threads and async tasks.

    **Arguments:**

    - ``spec``, ``dev``: the device, as ``anynet.as_device`` reads them.
    - ``dtype``: the floating dtype new parameters are born in within the block ("float16",
      "bfloat16", "float32", "float64"); DeviceError when the device lacks it. None: the
      enclosing block's (float32 outside any).

    **Returns:** (as the context's value) the ``Device``.
    """
    target = as_device(spec, dev)
    if dtype is not None:
        target.float_dtype(dtype)  # DeviceError naming the device, the dtype and what it has
    token = set_device(target)
    dtoken = set_dtype(dtype) if dtype is not None else None
    try:
        with target.scope():
            yield target
    finally:
        reset(token, dtoken)
