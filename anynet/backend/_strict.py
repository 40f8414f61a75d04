"""array-api-strict: the reference namespace, with pretend devices (``"array_api_strict:device1"``)
that catch stray NumPy calls in tests."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ._device import Device, DeviceError, import_library

__all__ = ["StrictDevice"]


def _name(dev: Any) -> str:
    return str(getattr(dev, "_device", dev))  # its repr is not a name


class StrictDevice(Device):
    """array-api-strict's arrays, on its CPU device or one of its pretend devices."""

    library = "array_api_strict"
    prefixes = ("array_api_strict", "strict")

    owns = staticmethod(array_api_compat.is_array_api_strict_namespace)

    @classmethod
    def parse(cls, rest: str, spec: str) -> Device:
        strict = import_library("array_api_strict", spec, "pip install array-api-strict")
        devices = {_name(d): d for d in strict.__array_namespace_info__().devices()}
        if (rest or "CPU_DEVICE") not in devices:
            raise DeviceError(f"device {spec!r}: array-api-strict's devices are {sorted(devices)}")
        return cls.of(strict, devices[rest or "CPU_DEVICE"])

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        import array_api_strict as strict

        if dev is None:
            dev = strict.__array_namespace_info__().default_device()
        elif isinstance(dev, str):
            dev = strict.Device(dev)
        return cls(array_api_compat.array_namespace(strict.empty(0)), dev, f"array_api_strict:{_name(dev)}")

    def from_numpy(self, a: np.ndarray) -> Any:
        return self.xp.asarray(a, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        import array_api_strict as strict

        return np.asarray(x.to_device(strict.Device("CPU_DEVICE")))

    def receive(self, x: Any, source: Device) -> Any:
        if isinstance(source, StrictDevice):
            return x.to_device(self.device)
        return super().receive(x, source)
