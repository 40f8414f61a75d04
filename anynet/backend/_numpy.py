"""NumPy: the host, and the default device ``"cpu"``."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from .. import config
from ._comm import Comm
from ._cpu_threads import CpuThreads
from ._device import Device, DeviceError
from ._malloc import keep_freed_memory
from ._numpy_kernels import NumPyKernels

__all__ = ["NumPyDevice", "cpu"]


class NumPyExecutor(CpuThreads):
    """The CPU threads; no data set is copied for the loader: NumPy's arrays are the host's."""

    data_budget = 0


class NumPyComm(Comm):
    """NumPy arrays are host buffers already: MPI reads and writes them in place."""

    def host_buffer(self, x: Any) -> tuple[np.ndarray, bool]:
        return x, bool(x.flags.writeable and x.flags.c_contiguous)

    def from_host(self, a: np.ndarray) -> Any:
        return a


class NumPyDevice(Device):
    """The host's NumPy arrays; one object, ``cpu()``."""

    library = "numpy"
    prefixes = ("cpu", "numpy")
    is_host = True
    comm_class = NumPyComm
    executor = NumPyExecutor()
    kernels = NumPyKernels()  # im2col as one copy of a strided window view

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

    def from_numpy(self, a: np.ndarray) -> Any:
        return np.asarray(a)

    def can_share(self, x: Any) -> bool:
        return bool(x.flags.writeable)  # DLPack consumers may write where NumPy forbids it


_CPU: NumPyDevice | None = None


def cpu() -> NumPyDevice:
    """The NumPy device: one object, set up on first use.

    Setting it up is where anynet changes the process beyond its own objects: when
    ``anynet.config.current().keep_freed_memory`` (the default), glibc's allocator is told to keep
    freed memory for the next training step (``_malloc``; process-wide, once). Configure
    ``keep_freed_memory=False`` before the first use of the CPU device to leave it alone.
    """
    global _CPU
    if _CPU is None:
        if config.current().keep_freed_memory:
            keep_freed_memory()
        _CPU = NumPyDevice(array_api_compat.array_namespace(np.empty(0)), "cpu", "cpu")
    return _CPU
