"""Any other array-API library: built only on ``__array_namespace__`` and DLPack."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ._device import Device

__all__ = ["GenericDevice"]


class GenericDevice(Device):
    """A device of a library no module here knows; random numbers are drawn on the host and moved."""

    library = "other"

    @classmethod
    def owns(cls, xp: Any) -> bool:
        return True

    @staticmethod
    def device_key(x: Any) -> Any:
        return repr(array_api_compat.device(x))  # an unknown library's device may not hash

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        if dev is None:
            dev = xp.__array_namespace_info__().default_device()
        return cls(xp, dev, f"{getattr(xp, '__name__', 'array')}:{dev}")

    def from_numpy(self, a: np.ndarray) -> Any:
        try:
            return self.xp.from_dlpack(a, device=self.device)
        except (TypeError, BufferError, ValueError):
            return self.xp.asarray(a, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        try:
            return np.from_dlpack(x)
        except (TypeError, BufferError, RuntimeError):
            return np.asarray(x)
