"""The libraries anynet knows, and reading a ``Device`` from a description or an array.

``LIBRARIES`` lists one ``Device`` class per library, in the order they are asked; a library
none of them owns gets ``GenericDevice``. ``register`` adds a class from outside the package.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ._context import entered_device
from ._cupy import CuPyDevice
from ._device import Device, DeviceError, describe
from ._generic import GenericDevice
from ._jax import JaxDevice
from ._ndonnx import NdonnxDevice
from ._numpy import NumPyDevice, cpu
from ._strict import StrictDevice
from ._torch import TorchDevice

__all__ = ["LIBRARIES", "as_device", "current_device", "device_of", "library_of", "local_device", "namespace_entry",
           "register", "unregister"]

LIBRARIES: list[type[Device]] = [CuPyDevice, JaxDevice, NdonnxDevice, NumPyDevice, StrictDevice, TorchDevice]

_NAMESPACES: dict[type, tuple[Any, Any]] = {}  # array type -> (namespace, its Device class's device_key)
_DEVICES: dict[tuple[type, Any], Device] = {}


def register(cls: type[Device]) -> type[Device]:
    """Make a ``Device`` subclass known to ``as_device`` (by its ``prefixes``) and ``library_of``.

    **Arguments:**

    - ``cls``: the class; usable as a class decorator.

    **Returns:** ``cls``.
    """
    if cls not in LIBRARIES:
        LIBRARIES.append(cls)
        _NAMESPACES.clear()  # an array type may now belong to it
        _DEVICES.clear()
    return cls


def unregister(cls: type[Device]) -> None:
    """Forget a class ``register`` added (ValueError if it is not there)."""
    LIBRARIES.remove(cls)
    _NAMESPACES.clear()
    _DEVICES.clear()


def library_of(xp: Any) -> type[Device]:
    """The ``Device`` class of the array-api-compat namespace ``xp``."""
    for cls in LIBRARIES:
        if cls.owns(xp):
            return cls
    return GenericDevice


def current_device() -> Device:
    """The device new arrays are born on: the innermost ``anynet.device``, else the CPU."""
    dev = entered_device()
    return cpu() if dev is None else dev


def _spec_help() -> str:
    return (
        "use 'cpu', 'cuda', 'cuda:N', 'torch:cpu', 'torch:cuda', 'jax:cpu', "
        "'array_api_strict:device1', 'ndonnx', or a namespace and a device"
    )


def as_device(spec: Any = None, dev: Any = None) -> Device:
    """Turn a device description into a ``Device``.

    **Arguments:**

    - ``spec``: a ``Device``; an array (its device); a string such as ``"cpu"``, ``"cuda"``,
      ``"cuda:1"``, ``"torch:cpu"``, ``"torch:cuda"``, ``"jax:cpu"``, ``"array_api_strict:device1"``;
      an array namespace module (``torch``, ``jax.numpy``, ``array_api_strict``); None: the
      current device.
    - ``dev``: with a namespace module, its device object (None: its default).

    **Returns:** the ``Device``; DeviceError saying what is accepted when ``spec`` names none.
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


def namespace_entry(x: Any, where: str) -> tuple[Any, Any]:
    """The namespace of ``x`` and its library's ``device_key``, cached by array type; TypeError
    naming ``where`` when ``x`` is not an array."""
    found = _NAMESPACES.get(type(x))
    if found is None:
        try:
            xp = array_api_compat.array_namespace(x)
        except TypeError as err:
            raise TypeError(f"{where}: expected an array, got {describe(x)}") from err
        found = _NAMESPACES[type(x)] = (xp, library_of(xp).device_key)
    return found


def device_of(x: Any) -> Device:
    """The ``Device`` an array lives on."""
    if isinstance(x, np.ndarray):
        return cpu()
    xp, device_key = namespace_entry(x, "device_of")
    key = (type(x), device_key(x))
    found = _DEVICES.get(key)
    if found is None:  # building a Device allocates; per-step callers (dropout) hit the cache
        found = _DEVICES[key] = library_of(xp).of(xp, array_api_compat.device(x))
    return found
