"""NumPy: the host, and the default device ``"cpu"``."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ._cpu_threads import cpu_workers, parallel_map
from ._device import Device, DeviceError, register
from ._malloc import keep_freed_memory

__all__ = ["NumPyDevice", "cpu"]


@register
class NumPyDevice(Device):
    library = "numpy"
    prefixes = ("cpu", "numpy")
    is_host = True
    data_budget = 0  # its arrays are the host's: the loader indexes them where they are

    owns = staticmethod(array_api_compat.is_numpy_namespace)

    @classmethod
    def parse(cls, rest: str, spec: str) -> Device:
        if rest not in ("", "cpu", "0"):
            raise DeviceError(f"device {spec!r}: NumPy has one device, 'cpu'")
        return cpu()

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        return cpu()

    @property
    def memory(self) -> tuple[str, int]:
        return ("cpu", 0)

    @property
    def workers(self) -> int:
        return cpu_workers()

    def parallel_map(self, fn, items):
        return parallel_map(fn, items)

    def from_numpy(self, a: np.ndarray) -> Any:
        return np.asarray(a)

    def host_buffer(self, x: Any) -> tuple[np.ndarray, bool]:
        return x, bool(x.flags.writeable and x.flags.c_contiguous)

    def from_host(self, a: np.ndarray) -> Any:
        return a

    def can_share(self, x: Any) -> bool:
        return bool(x.flags.writeable)  # DLPack consumers may write where NumPy forbids it


_CPU: NumPyDevice | None = None


def cpu() -> NumPyDevice:
    """The NumPy device (one object, built on first use, which also lets the C allocator
    keep freed memory for the next step: see ``_malloc``)."""
    global _CPU
    if _CPU is None:
        keep_freed_memory()
        _CPU = NumPyDevice(array_api_compat.array_namespace(np.empty(0)), "cpu", "cpu")
    return _CPU
