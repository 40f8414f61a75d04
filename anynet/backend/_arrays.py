"""Arrays of any library: their namespace and device, and moving them."""

from __future__ import annotations

import contextlib
from typing import Any

import array_api_compat
import numpy as np

from ._context import as_device, current_device, device, library_of
from ._device import Device, DeviceError
from ._numpy import cpu

__all__ = ["array_device", "describe", "device_of", "following", "is_host", "namespace", "pad", "to_device",
           "to_numpy"]

_NAMESPACES: dict[type, tuple[Any, Any]] = {}  # array type -> (namespace, its Device class's device_key)
_DEVICES: dict[tuple[type, Any], Device] = {}

_HINT = "move the model with model.to(anynet.device_of(x)), or the data with anynet.to_device(x, device)"


def describe(x: Any) -> str:
    """A short text naming an array's library, dtype, shape and device."""
    if not array_api_compat.is_array_api_obj(x):
        return f"{type(x).__name__}"
    lib = type(x).__module__.split(".")[0]
    lib = {"jaxlib": "jax", "builtins": "?"}.get(lib, lib)
    dtype = str(x.dtype).replace("torch.", "")
    return f"{lib} {dtype} array of shape {tuple(x.shape)} on {array_api_compat.device(x)}"


def _entry(x: Any, where: str) -> tuple[Any, Any]:
    found = _NAMESPACES.get(type(x))
    if found is None:
        try:
            xp = array_api_compat.array_namespace(x)
        except TypeError as err:
            raise TypeError(f"{where}: expected an array, got {describe(x)}") from err
        found = _NAMESPACES[type(x)] = (xp, library_of(xp).device_key)
    return found


def namespace(*arrays: Any, where: str = "anynet") -> Any:
    """The array namespace shared by ``arrays`` (None skipped), checking they share a device.

    Raises DeviceError naming both arrays when libraries or devices differ.
    """
    arrays = tuple(a for a in arrays if a is not None)
    first = type(arrays[0])
    xp, key = _entry(arrays[0], where)
    for a in arrays[1:]:
        if type(a) is not first and _namespace_of_other(a, where) is not xp:
            raise DeviceError(f"{where}: arrays from two libraries: {describe(arrays[0])} and {describe(a)}; {_HINT}")
    if len(arrays) > 1 and first is not np.ndarray:
        dev = key(arrays[0])
        for a in arrays[1:]:
            if key(a) != dev:
                raise DeviceError(f"{where}: arrays on two devices: {describe(arrays[0])} and {describe(a)}; {_HINT}")
    return xp


def _namespace_of_other(a: Any, where: str) -> Any:
    try:
        return namespace(a, where=where)
    except TypeError:
        raise DeviceError(f"{where}: expected an array, got {describe(a)}") from None


def array_device(x: Any) -> Any:
    """The library's own device object of ``x`` (for ``device=`` in creation functions), or None
    for a value traced by jax.jit, which has no device (creation then uses the default one):
    ``x.device`` read where it exists, without building anything per call."""
    return getattr(x, "device", None)


def is_host(xp: Any) -> bool:
    """Whether arrays of namespace ``xp`` live on the host, where reading a value costs no transfer."""
    return library_of(xp).is_host


def device_of(x: Any) -> Device:
    """The ``Device`` an array lives on."""
    if isinstance(x, np.ndarray):
        return cpu()
    xp, device_key = _entry(x, "device_of")
    key = (type(x), device_key(x))
    found = _DEVICES.get(key)
    if found is None:  # building a Device allocates; per-step callers (dropout) hit the cache
        found = _DEVICES[key] = library_of(xp).of(xp, array_api_compat.device(x))
    return found


def following(x: Any) -> contextlib.AbstractContextManager:
    """The device context of ``x``'s device when that is not the current one (else nothing).

    Entered around a model's forward and backward and an optimizer's update: computation follows
    its inputs, but CuPy launches kernels on its current GPU, so a model on cuda:1 called from
    outside ``anynet.device("cuda:1")`` would compute on GPU 0; arrays born meanwhile land beside
    the inputs too.
    """
    if x is None:
        return contextlib.nullcontext()
    dev = device_of(x)
    return contextlib.nullcontext() if dev == current_device() else device(dev)


def to_numpy(x: Any) -> np.ndarray:
    """``x`` on the host as a NumPy array: a copy, or a view where the memory is shared."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (int, float, bool, list, tuple)):
        return np.asarray(x)
    return device_of(x).to_numpy(x)


def to_device(x: Any, device: Any = None) -> Any:
    """``x`` on ``device`` (default: the current one); the same object if already there.

    Lists and scalars are copied. Between two libraries that see the same memory (NumPy and
    PyTorch on the CPU, CuPy and PyTorch on one GPU) the result shares memory with ``x`` (DLPack,
    no copy) where the library allows it: copy it before writing into either.
    """
    target = as_device(device)
    if not array_api_compat.is_array_api_obj(x):
        return target.from_numpy(np.asarray(x))
    source = device_of(x)
    if source == target:
        return x
    return target.receive(x, source)


def pad(x: Any, widths: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
    """``x`` padded with ``value``: ``widths[k] = (before, after)`` for axis k (constant mode only)."""
    return device_of(x).pad(x, widths, value)
