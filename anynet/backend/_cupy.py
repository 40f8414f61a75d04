"""CuPy: NVIDIA GPUs, ``"cuda"`` / ``"cuda:N"``."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import array_api_compat
import numpy as np

from ._device import Device, DeviceError, import_library, parse_index, register

__all__ = ["CuPyDevice"]

_INSTALL = "pip install 'anynet[cuda12]' or 'anynet[cuda13]', by the CUDA major version of your driver"


def _gpu_count(cp: Any, spec: str) -> int:
    try:
        return cp.cuda.runtime.getDeviceCount()
    except Exception as err:  # noqa: BLE001 - CuPy raises its own CUDA errors; all mean "no GPU"
        raise DeviceError(
            f"device {spec!r}: CuPy is installed but no CUDA GPU works here ({type(err).__name__}: {err}); "
            "check the NVIDIA driver (nvidia-smi) and that the CuPy package matches its CUDA major "
            "version (cupy-cuda12x or cupy-cuda13x), or use 'cpu'"
        ) from err


@register
class CuPyDevice(Device):
    library = "cupy"
    prefixes = ("cuda", "gpu", "cupy")

    @classmethod
    def owns(cls, xp: Any) -> bool:
        return array_api_compat.is_cupy_namespace(xp)

    @classmethod
    def parse(cls, rest: str, spec: str) -> Device:
        cp = import_library("cupy", spec, _INSTALL)
        return cls._make(cp, parse_index(rest, spec, _gpu_count(cp, spec), "CUDA"))

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        import cupy as cp

        if dev is None:
            dev = cp.cuda.Device()
        return cls._make(cp, dev if isinstance(dev, int) else dev.id)

    @classmethod
    def _make(cls, cp: Any, index: int) -> Device:
        xp = array_api_compat.array_namespace(cp.empty(0))
        return cls(xp, cp.cuda.Device(index), f"cuda:{index}")

    @property
    def memory(self) -> tuple[str, int]:
        return ("cuda", self.device.id)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        # array-api-compat ignores device= in CuPy's creation functions: the current GPU decides.
        with self.device:
            yield

    def from_numpy(self, a: np.ndarray) -> Any:
        with self.scope():
            return self.xp.asarray(a)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.get()

    def synchronize(self) -> None:
        self.device.synchronize()

    def new_rng(self, seed: int | None) -> Any:
        import cupy

        with self.scope():
            return cupy.random.default_rng(seed)

    def uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        with self.scope():
            return rng.random(shape, dtype=dtype)

    def rng_state(self, rng: Any) -> None:
        return None  # CuPy's generators cannot save their state

    def restore_rng(self, saved: dict[str, Any]) -> None:
        return None
