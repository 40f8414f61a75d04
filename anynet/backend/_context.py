"""The device context: where new arrays are born, and reading a ``Device`` from a description."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

import array_api_compat

from ._device import LIBRARIES, Device, DeviceError, trace_constant
from ._generic import GenericDevice
from ._numpy import cpu

__all__ = ["as_device", "current_device", "current_dtype", "device", "library_of", "local_device"]

_CURRENT: contextvars.ContextVar[Device | None] = contextvars.ContextVar("anynet_device", default=None)
_DTYPE: contextvars.ContextVar[str | None] = contextvars.ContextVar("anynet_dtype", default=None)


def current_device() -> Device:
    """The device new arrays are born on: the innermost ``anynet.device``, else the CPU."""
    dev = _current()
    return cpu() if dev is None else dev


@trace_constant
def _current() -> Device | None:
    return _CURRENT.get()


def library_of(xp: Any) -> type[Device]:
    """The ``Device`` class of the array-api-compat namespace ``xp``."""
    for cls in LIBRARIES:
        if cls.owns(xp):
            return cls
    return GenericDevice


def _spec_help() -> str:
    return (
        "use 'cpu', 'cuda', 'cuda:N', 'torch:cpu', 'torch:cuda', 'jax:cpu', "
        "'array_api_strict:device1', 'ndonnx', or a namespace and a device"
    )


def as_device(spec: Any = None, dev: Any = None) -> Device:
    """Turn a device description into a ``Device``.

    ``spec`` is a ``Device``; an array (its device); a string such as ``"cpu"``, ``"cuda"``,
    ``"cuda:1"``, ``"torch:cpu"``, ``"torch:cuda"``, ``"jax:cpu"``, ``"array_api_strict:device1"``;
    or an array namespace module (``torch``, ``jax.numpy``, ``array_api_strict``) with ``dev`` its
    device. ``None`` is the current device.
    """
    if spec is None:
        return current_device()
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, str):
        prefix, _, rest = spec.strip().partition(":")
        prefix = prefix.lower()
        for cls in LIBRARIES:
            if prefix in cls.prefixes:
                if prefix == "cpu" and rest == "":
                    return cpu()
                return cls.parse(rest.strip(), spec)
        raise DeviceError(f"unknown device {spec!r}: {_spec_help()}")
    if hasattr(spec, "__array_namespace__") or array_api_compat.is_array_api_obj(spec):
        from ._arrays import device_of

        return device_of(spec)
    if hasattr(spec, "__name__") and hasattr(spec, "asarray"):
        try:
            xp = array_api_compat.array_namespace(spec.empty(0))  # raw module -> compat namespace
        except Exception as err:  # noqa: BLE001 - e.g. CuPy without a working GPU
            raise DeviceError(f"cannot make an array with {spec.__name__} here ({type(err).__name__}: {err}); "
                              f"{_spec_help()}") from err
        return library_of(xp).of(xp, dev)
    raise DeviceError(f"cannot read a device from {spec!r}: {_spec_help()}")


def local_device(spec: Any, index: int) -> Device:
    """The device ``spec`` names; a GPU named without its number (``"cuda"``, ``"torch:cuda"``,
    ``"jax:gpu"``) becomes GPU ``index`` (a process's local rank: one GPU per process)."""
    dev = as_device(spec)
    numbered = isinstance(spec, str) and spec.rsplit(":", 1)[-1].strip().isdigit()
    if isinstance(spec, str) and not numbered and dev.memory is not None and dev.memory[0] == "cuda":
        return as_device(f"{spec.strip()}:{index}")
    return dev


def current_dtype() -> str:
    """The floating dtype new parameters are born in: the innermost ``anynet.device(..., dtype=...)``,
    else "float32"."""
    found = _DTYPE.get()
    return "float32" if found is None else found


@contextlib.contextmanager
def device(spec: Any = "cpu", dev: Any = None, dtype: str | None = None) -> Iterator[Device]:
    """Within the block, new parameters, batches and random draws are born on ``spec``.

    Computation always follows its inputs; the context only places new arrays. ``dtype``
    ("float32", "float64", "float16", "bfloat16"), when given, is the floating dtype new parameters
    are born in within the block (the device must have it); an inner block without one keeps the
    outer's. Nests, and is safe across threads and async tasks.
    """
    target = as_device(spec, dev)
    if dtype is not None:
        target.float_dtype(dtype)  # DeviceError naming the device, the dtype and what it has
    token = _CURRENT.set(target)
    dtoken = _DTYPE.set(dtype) if dtype is not None else None
    try:
        with target.scope():
            yield target
    finally:
        if dtoken is not None:
            _DTYPE.reset(dtoken)
        _CURRENT.reset(token)
