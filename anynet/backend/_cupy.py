"""CuPy: NVIDIA GPUs, ``"cuda"`` / ``"cuda:N"``."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import array_api_compat
import numpy as np

from ._comm import Comm
from ._cupy_kernels import CuDnnFrontendKernels
from ._cupy_random import Philox, cupy_words
from ._cupy_updates import CuPyFusedUpdates
from ._device import Device, DeviceError, import_library, parse_index
from ._executor import GpuExecutor
from ._generators import DeviceRandom

__all__ = ["SYNCING", "CuPyDevice"]

# array-api-compat functions that read from the GPU on CuPy (a sync that drains its queue):
# clip and sign index with boolean masks (CuPy counts the True entries on the host), nonzero and
# unique_* have shapes that depend on the data. anynet's own code calls none of them
# (tests/test_host_traffic.py); use minimum/maximum and comparisons instead.
SYNCING = ("clip", "sign", "nonzero", "unique_all", "unique_counts", "unique_inverse", "unique_values")

_INSTALL = "pip install 'anynet[cuda12]' or 'anynet[cuda13]', by the CUDA major version of your driver"


_HINT = ("check the NVIDIA driver (nvidia-smi): cupy-cuda12x needs an R525+ driver, cupy-cuda13x an R580+ one; "
         "install one CuPy package only, with its CUDA libraries ('anynet[cuda12]' or 'anynet[cuda13]'), "
         "or use 'cpu'")
_EXECUTORS: dict[int, GpuExecutor] = {}  # per GPU: its memory is asked once
_COPY_STREAMS = threading.local()  # each prefetch thread's own copy stream, per GPU
_WORKING: set[int] = set()  # GPUs that ran a kernel once: the probe is not repeated


def _no_gpu(spec: str, what: str, err: BaseException) -> DeviceError:
    return DeviceError(f"device {spec!r}: CuPy is installed but {what} ({type(err).__name__}: {err}); {_HINT}")


def _gpu_count(cp: Any, spec: str) -> int:
    try:
        return cp.cuda.runtime.getDeviceCount()
    except Exception as err:  # noqa: BLE001 - CuPy raises its own CUDA errors; all mean "no GPU"
        raise _no_gpu(spec, "no CUDA GPU works here", err) from err


def _probe(cp: Any, index: int, spec: str) -> None:
    """Run one small kernel on GPU ``index``: CuPy imports and counts GPUs without a working
    driver or CUDA libraries (NVRTC, cuBLAS), and would otherwise fail at the first layer."""
    if index in _WORKING:
        return
    try:
        with cp.cuda.Device(index):
            cp.zeros(1, dtype=cp.float32) + 1
    except Exception as err:  # noqa: BLE001 - any CUDA error here means the GPU cannot run kernels
        raise _no_gpu(spec, f"GPU {index} cannot run a kernel", err) from err
    _WORKING.add(index)


class CuPyRandom(DeviceRandom):
    """Philox4x32-10 streams on the GPU (``_cupy_random``): the state is two integers (key, counter),
    saved as ``{"cupy_philox": [key, counter]}``, so a resumed run draws the same numbers."""

    def new_rng(self, seed: int | None) -> Any:
        return Philox(seed, 0, cupy_words)  # no allocation: the key is the seed

    def uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        with self.dev.scope():
            return rng.uniform(shape, dtype)

    def rng_state(self, rng: Any) -> dict[str, Any]:
        return {"cupy_philox": rng.state()}

    def restore_rng(self, saved: dict[str, Any]) -> Any | None:
        if "cupy_philox" not in saved:
            return None
        return Philox.from_state(saved["cupy_philox"], cupy_words)


class CuPyComm(Comm):
    """NCCL between the processes' GPUs where this CuPy has it; else host buffers."""

    def collective(self, size: int, rank: int, share: Any) -> Any:
        try:
            from cupy.cuda import nccl
        except ImportError:
            return None  # a CuPy without NCCL: messages go through host buffers
        if not getattr(nccl, "available", True):
            return None  # CuPy 14 imports the module without NCCL and says so here
        return _Nccl(nccl, self.dev, size, rank, share)


class CuPyDevice(Device):
    """CuPy arrays on one NVIDIA GPU."""

    library = "cupy"
    prefixes = ("cuda", "gpu", "cupy")
    is_gpu = True
    random_class = CuPyRandom
    comm_class = CuPyComm
    # the cuDNN Frontend's convolutions: unchecked on a GPU, so off unless anynet.kernels.unchecked()
    kernels = CuDnnFrontendKernels()
    # one ElementwiseKernel per optimizer's flat step: unchecked on a GPU, so off unless unchecked()
    updates = CuPyFusedUpdates()

    owns = staticmethod(array_api_compat.is_cupy_namespace)

    @staticmethod
    def device_key(x: Any) -> int:
        return x.data.device_id  # x.device would build a cupy.cuda.Device on every call

    @classmethod
    def parse(cls, rest: str, spec: str) -> Device:
        cp = import_library("cupy", spec, _INSTALL)
        index = parse_index(rest, spec, _gpu_count(cp, spec), "CUDA")
        _probe(cp, index, spec)
        return cls._make(cp, index)

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        import cupy as cp

        if dev is None:
            dev = cp.cuda.Device()
        if isinstance(dev, str):  # "cuda:1" or "1"
            return cls.parse(dev.rpartition(":")[2], dev if ":" in dev else f"cuda:{dev}")
        return cls._make(cp, dev if isinstance(dev, int) else dev.id)

    @classmethod
    def _make(cls, cp: Any, index: int) -> Device:
        xp = array_api_compat.array_namespace(cp.empty(0))
        return cls(xp, cp.cuda.Device(index), f"cuda:{index}")

    @property
    def memory(self) -> tuple[str, int]:
        return ("cuda", self.device.id)

    @property
    def executor(self) -> GpuExecutor:
        """GPU-sized chunks, and a quarter of this GPU's memory for a data set."""
        found = _EXECUTORS.get(self.device.id)
        if found is None:
            found = _EXECUTORS[self.device.id] = GpuExecutor(lambda dev=self.device: dev.mem_info[1])
        return found

    @property
    def float_dtypes(self) -> dict[str, Any]:
        found = super().float_dtypes
        # bfloat16 through ml_dtypes is not checked on a GPU yet: refused clearly, never half-working
        found.pop("bfloat16", None)
        return found

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

    def prefetch_to_device(self, a: np.ndarray) -> Any:
        """Host batch ``a`` on this GPU, for the loader's prefetch threads: staged in pinned host memory
        and copied on the calling thread's own stream, so the copy runs beside the training step's
        kernels; complete when this returns. The stream is a blocking one (it follows the work already
        queued on the default stream), so the copy never writes memory the step still reads."""
        import cupy
        import cupyx

        with self.scope():
            streams = _COPY_STREAMS.__dict__.setdefault("by_gpu", {})
            stream = streams.get(self.device.id)
            if stream is None:
                stream = streams[self.device.id] = cupy.cuda.Stream(non_blocking=False)
            pinned = cupyx.empty_pinned(a.shape, a.dtype)
            pinned[...] = a
            out = cupy.empty(a.shape, a.dtype)
            out.set(pinned, stream=stream)
            stream.synchronize()
        return out

    def receive(self, x: Any, source: Device) -> Any:
        if isinstance(source, CuPyDevice):  # GPU to GPU: a device copy (peer or staged by CUDA), no host
            with self.scope():
                return x.copy()  # CuPy copies into the current device, wherever x lives
        return super().receive(x, source)

    def synchronize(self) -> None:
        self.device.synchronize()


class _Nccl:
    """NCCL among the processes of a run, one GPU each: sums and broadcasts of CuPy arrays in
    place, on the current stream, with no host copy. The unique id travels through ``share``."""

    def __init__(self, nccl: Any, dev: CuPyDevice, size: int, rank: int, share: Any):
        uid = share(nccl.get_unique_id() if rank == 0 else None)
        with dev.scope():
            self.comm = nccl.NcclCommunicator(size, uid, rank)
        self.nccl, self.dev = nccl, dev

    def _kind(self, x: Any) -> int:
        kinds = {"float16": self.nccl.NCCL_FLOAT16, "float32": self.nccl.NCCL_FLOAT32,
                 "float64": self.nccl.NCCL_FLOAT64, "int32": self.nccl.NCCL_INT32, "int64": self.nccl.NCCL_INT64}
        if str(x.dtype) not in kinds or not x.flags.c_contiguous:
            raise DeviceError(f"NCCL: expected a contiguous array of {sorted(kinds)}, got {x.dtype} "
                              f"(contiguous: {x.flags.c_contiguous})")
        return kinds[str(x.dtype)]

    def allreduce_sum(self, x: Any) -> Any:
        """``x`` summed over the processes, in place; returns ``x``."""
        import cupy

        kind = self._kind(x)
        with self.dev.scope():
            stream = cupy.cuda.get_current_stream().ptr
            self.comm.allReduce(x.data.ptr, x.data.ptr, x.size, kind, self.nccl.NCCL_SUM, stream)
        return x

    def broadcast(self, x: Any) -> Any:
        """Rank 0's ``x`` on every process, in place; returns ``x``."""
        import cupy

        kind = self._kind(x)
        with self.dev.scope():
            self.comm.bcast(x.data.ptr, x.size, kind, 0, cupy.cuda.get_current_stream().ptr)
        return x
