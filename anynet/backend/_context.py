"""The device context's variables: the device and the floating dtype entered last.

Only the variables live here (``anynet.device`` in ``_placement`` sets them), so every module
may read them without importing what builds devices.
"""

from __future__ import annotations

import contextvars
from typing import Any

from ._compiler import trace_constant

__all__ = ["entered_device", "entered_dtype", "reset", "set_device", "set_dtype"]

_DEVICE: contextvars.ContextVar[Any] = contextvars.ContextVar("anynet_device", default=None)
_DTYPE: contextvars.ContextVar[str | None] = contextvars.ContextVar("anynet_dtype", default=None)


@trace_constant
def entered_device() -> Any:
    """The ``Device`` of the innermost ``anynet.device`` block, None outside any."""
    return _DEVICE.get()


@trace_constant
def entered_dtype() -> str | None:
    """The floating dtype name the innermost block that chose one chose, None outside any."""
    return _DTYPE.get()


def set_device(dev: Any) -> contextvars.Token:
    """Enter ``dev``; returns the token that ``_DEVICE.reset`` takes (see ``reset``)."""
    return _DEVICE.set(dev)


def set_dtype(name: str) -> contextvars.Token:
    """Enter the dtype ``name``; returns its token."""
    return _DTYPE.set(name)


def reset(device_token: contextvars.Token, dtype_token: contextvars.Token | None) -> None:
    """Leave what ``set_device`` (and ``set_dtype``) entered."""
    if dtype_token is not None:
        _DTYPE.reset(dtype_token)
    _DEVICE.reset(device_token)
