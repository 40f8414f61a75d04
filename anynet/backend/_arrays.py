"""Arrays of any library: their namespace and device, and moving them."""

from __future__ import annotations

import contextlib
from typing import Any

import array_api_compat
import numpy as np

from ._device import DeviceError, describe
from ._placement import device
from ._registry import as_device, current_device, device_of, library_of, namespace_entry

__all__ = ["array_device", "following", "is_host", "namespace", "pad", "to_device", "to_numpy"]

_HINT = "move the model with model.to(anynet.device_of(x)), or the data with anynet.to_device(x, device)"


def namespace(*arrays: Any, where: str = "anynet") -> Any:
    """The array namespace shared by ``arrays`` (None skipped), checking they share a device.

    Raises DeviceError naming ``where`` and both arrays when libraries or devices differ.
    """
    arrays = tuple(a for a in arrays if a is not None)
    first = type(arrays[0])
    xp, key = namespace_entry(arrays[0], where)
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
