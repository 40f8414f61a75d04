"""The device context: ``anynet.device(...)`` decides where new arrays are born, and in which
floating dtype new parameters are."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

from ._context import entered_dtype, reset, set_device, set_dtype
from ._device import Device
from ._registry import as_device

__all__ = ["current_dtype", "current_precision", "device"]

DEFAULT_DTYPE = "float32"

# forwarding: remove after merge (cli/__init__.py and training/precision.py still pass and read a
# precision through the device context; their owner moves it to the trainer)
_PRECISION: contextvars.ContextVar[Any] = contextvars.ContextVar("anynet_precision", default=None)


def current_dtype() -> str:
    """The floating dtype new parameters are born in: the innermost ``anynet.device(...,
    dtype=...)`` that chose one, else "float32"."""
    found = entered_dtype()
    return DEFAULT_DTYPE if found is None else found


def current_precision() -> Any:  # forwarding: remove after merge
    """The ``precision=`` the innermost block passed, else the dtype one chose, None outside one
    (``training/precision.py`` reads this until it switches to ``current_dtype``)."""
    found = _PRECISION.get()
    return entered_dtype() if found is None else found


@contextlib.contextmanager
def device(spec: Any = "cpu", dev: Any = None, dtype: str | None = None,
           precision: Any = None) -> Iterator[Device]:  # precision: forwarding, remove after merge
    """Within the block, new parameters, batches and random draws are born on ``spec``.

    Computation always follows its inputs; the context only places new arrays. Nests, and is
    safe across threads and async tasks.

    **Arguments:**

    - ``spec``, ``dev``: the device, as ``anynet.as_device`` reads them.
    - ``dtype``: the floating dtype new parameters are born in within the block ("float16",
      "bfloat16", "float32", "float64"); DeviceError when the device lacks it. None: the
      enclosing block's (float32 outside any).
    - ``precision``: forwarding for callers not yet moved (remove after merge): the old dtype
      policy, read back by ``current_precision``; its dtypes are checked as ``dtype`` is.

    **Returns:** (as the context's value) the ``Device``.
    """
    target = as_device(spec, dev)
    if dtype is not None:
        target.float_dtype(dtype)  # DeviceError naming the device, the dtype and what it has
    if precision is not None:  # forwarding: remove after merge
        for name in (precision,) if isinstance(precision, str) else (precision.compute, precision.master):
            target.float_dtype(name)
    token = set_device(target)
    dtoken = set_dtype(dtype) if dtype is not None else None
    ptoken = _PRECISION.set(precision) if precision is not None else None  # forwarding: remove after merge
    try:
        with target.scope():
            yield target
    finally:
        if ptoken is not None:
            _PRECISION.reset(ptoken)
        reset(token, dtoken)
