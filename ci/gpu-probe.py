"""Probe each CUDA library anynet touches, one line each: ``probe NAME ok|FAIL|skip SECONDS DETAIL``.

NVRTC (elementwise kernels, float32 and float16), cuBLAS (float32, float64, float16 GEMMs), CUB
reductions, cuRAND (Philox and CuPy's default XORWOW), NCCL on one GPU, DLPack between CuPy and
PyTorch, then anynet's own devices. Each probe checks its result against NumPy. A failed probe
prints the real error on its line (with a hint where the cause is known) and its traceback below;
the next probe still runs. Exit status: the number of failed probes.

    python3 ci/gpu-probe.py          # what `ci/gpu.sh probe` runs
"""

from __future__ import annotations

import ctypes
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree's anynet, not an installed one

FAILED: list[str] = []
GPU = ("cupy", "gpu")
LIBS: dict[str, Any] = {}  # what works ("cupy", "torch", "gpu"): a probe that needs a missing one is skipped


def driver_cuda() -> str | None:
    """The CUDA version the NVIDIA driver supports (``cuDriverGetVersion``), e.g. "13.0"; None without a driver."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    version = ctypes.c_int()
    if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return f"{version.value // 1000}.{version.value % 1000 // 10}"


def hint(err: BaseException, cuda: str | None) -> str:
    """What to do about ``err``, where the cause is known; "" otherwise.

    **Arguments:** err: the exception a probe raised; cuda: ``driver_cuda()``.
    **Returns:** one sentence, or "".
    """
    text = f"{type(err).__name__}: {err}"
    wheel = f"cupy-cuda{cuda.split('.')[0]}x" if cuda else "the cupy-cudaNNx wheel of the driver's CUDA major version"
    missing = getattr(err, "name", None) or ""
    if isinstance(err, ImportError) and missing.split(".")[0] == "cuda":
        return "CuPy 14 imports cuda.pathfinder: carry the cuda-pathfinder wheel (pure Python) in .whl/"
    if isinstance(err, ImportError) and missing.split(".")[0] == "cupy":
        return f"no CuPy for {sys.executable}: install {wheel} (the driver supports CUDA {cuda or 'unknown'})"
    if "InsufficientDriver" in text or "NoDevice" in text:
        if cuda is None:
            return "no NVIDIA driver here (libcuda.so.1 does not load): nvidia-smi should list the GPU"
        return f"the driver supports CUDA {cuda}; this CuPy needs a newer one: use {wheel}"
    if "nvrtc" in text.lower() or "header" in text.lower() or "cuda_fp16" in text:
        return "NVRTC needs the CUDA headers: set CUDA_PATH to the toolkit (ci/gpu.sh uses /usr/local/cuda)"
    if "nccl" in text.lower():
        return "NCCL: the nvidia-nccl wheel of the CUDA major version, and NCCL_SOCKET_IFNAME=lo"
    return ""


def probe(name: str, fn: Callable[[], Any], needs: tuple[str, ...] = ("cupy",)) -> None:
    """Run ``fn`` and print its line: ok with what it returned, or FAIL with the error and hint."""
    gone = [lib for lib in needs if lib not in LIBS]
    if gone:
        print(f"probe {name:40s} skip   0.00 s  (needs {', '.join(gone)}, which failed above)", flush=True)
        return
    t0 = time.perf_counter()
    try:
        detail = fn()
    except Exception as err:  # noqa: BLE001 - every failure is reported and the next probe runs
        FAILED.append(name)
        why = hint(err, driver_cuda())
        print(f"probe {name:40s} FAIL {time.perf_counter() - t0:6.2f} s  {type(err).__name__}: {err}"
              f"{'  | ' + why if why else ''}", flush=True)
        traceback.print_exc(file=sys.stdout)
        return
    print(f"probe {name:40s} ok   {time.perf_counter() - t0:6.2f} s  {'' if detail is None else detail}", flush=True)


def load(lib: str) -> str:
    """Import ``lib`` (the real error, if any, goes on the probe's line) and name its version."""
    module = __import__(lib)
    LIBS[lib] = module
    return f"{lib} {module.__version__} from {module.__file__}"


def cupy_versions() -> str:
    cp = LIBS["cupy"]
    rt = cp.cuda.runtime
    count = rt.getDeviceCount()
    names = rt.getDeviceProperties(0)["name"]
    name = names.decode() if isinstance(names, bytes) else str(names)
    LIBS["gpu"] = count
    return (f"{count} GPU(s), {name}; driver {rt.driverGetVersion()}, runtime {rt.runtimeGetVersion()}, "
            f"NVRTC {cp.cuda.nvrtc.getVersion()}, CUDA path {getattr(cp.cuda, 'get_cuda_path', lambda: '?')()}")


def host_matrix() -> np.ndarray:
    return (np.arange(256 * 256, dtype=np.float32).reshape(256, 256) % 97) / 97


def close(got: Any, want: np.ndarray, rtol: float) -> str:
    """Compare a CuPy array with the NumPy result; the largest relative difference."""
    got = LIBS["cupy"].asnumpy(got).astype(np.float64)
    err = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))
    if not err <= rtol:
        raise AssertionError(f"largest relative difference {err:.2e} > {rtol:g}")
    return f"max rel diff {err:.1e}"


def elementwise(dtype: str, rtol: float) -> Callable[[], str]:
    def run() -> str:
        a = host_matrix()
        x = LIBS["cupy"].asarray(a.astype(dtype))
        return close(LIBS["cupy"].exp(x * 2 + 1) - x, np.exp(a.astype(dtype) * 2 + 1) - a.astype(dtype), rtol)
    return run


def matmul(dtype: str, rtol: float) -> Callable[[], str]:
    def run() -> str:
        a = host_matrix().astype(dtype)
        x = LIBS["cupy"].asarray(a)
        return close(x @ x.T, a.astype(np.float64) @ a.T.astype(np.float64), rtol)
    return run


def reductions() -> str:
    a = host_matrix()
    x = LIBS["cupy"].asarray(a)
    close(x.max(axis=1), a.max(axis=1), 0)
    close(x.sum(), np.asarray(a.sum(dtype=np.float64)), 1e-5)
    return close(x.sum(axis=0), a.sum(axis=0, dtype=np.float64), 1e-5)


def philox() -> str:
    cp = LIBS["cupy"]
    draws = cp.random.Generator(cp.random.Philox4x3210(1)).random(100_000, dtype=cp.float32)
    mean = float(draws.mean())
    if not (float(draws.min()) >= 0 and float(draws.max()) < 1 and abs(mean - 0.5) < 0.01):
        raise AssertionError(f"Philox draws outside [0, 1) or mean {mean}")
    return f"mean {mean:.4f}"


def xorwow() -> str:
    cp = LIBS["cupy"]
    t0 = time.perf_counter()
    cp.random.default_rng(1).random((3,), dtype=cp.float32)
    cp.cuda.Device().synchronize()
    return f"default_rng(seed) + one draw: {time.perf_counter() - t0:.3f} s (anynet.seed pays the init)"


def nccl_one_gpu() -> str:
    cp = LIBS["cupy"]
    from cupy.cuda import nccl

    if not getattr(nccl, "available", True):
        raise ImportError("cupy.cuda.nccl.available is False: CuPy found no NCCL library", name="nccl")
    comm = nccl.NcclCommunicator(1, nccl.get_unique_id(), 0)
    x = cp.arange(5, dtype=cp.float32)
    comm.allReduce(x.data.ptr, x.data.ptr, x.size, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, cp.cuda.Stream.null.ptr)
    cp.cuda.Stream.null.synchronize()
    return f"NCCL {nccl.get_version()}, allReduce on one rank: {close(x, np.arange(5.0), 0)}"


def dlpack() -> str:
    cp, torch = LIBS["cupy"], LIBS["torch"]
    t = torch.arange(6.0, device="cuda")
    c = cp.from_dlpack(t)
    back = torch.from_dlpack(c * 2)
    if c.data.ptr != t.data_ptr():
        raise AssertionError("cupy.from_dlpack(torch tensor) copied the memory")
    agree = close(cp.asarray(back), np.arange(6.0) * 2, 0)
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) shares the memory; {agree}"


def bfloat16() -> str:
    import ml_dtypes

    cp = LIBS["cupy"]
    x = cp.asarray(np.ones(4, dtype=ml_dtypes.bfloat16))
    return f"cupy array of {x.dtype}; x * 2 -> {(x * 2).dtype} (anynet refuses bfloat16 on CuPy today)"


def anynet_devices() -> str:
    import anynet

    out = []
    for spec in ("cuda", "torch:cuda"):
        with anynet.device(spec) as dev:
            layer = anynet.Affine(4, 3)
            y = layer.forward(dev.from_numpy(np.ones((2, 4), dtype=np.float32)))
            layer.backward(dev.xp.ones_like(y))
            out.append(f"{dev.name} {anynet.to_numpy(layer.W.grad).shape}")
    return ", ".join(out)


def main() -> int:
    print(f"python {sys.version.split()[0]}; NVIDIA driver supports CUDA {driver_cuda()}", flush=True)
    probe("import cupy", lambda: load("cupy"), needs=())
    probe("import torch", lambda: load("torch"), needs=())
    probe("GPU, driver, runtime, NVRTC", cupy_versions)
    probe("elementwise float32 (NVRTC)", elementwise("float32", 1e-6), needs=GPU)
    probe("elementwise float16 (NVRTC, cuda_fp16.h)", elementwise("float16", 5e-3), needs=GPU)
    probe("matmul float32 (cuBLAS)", matmul("float32", 1e-5), needs=GPU)
    probe("matmul float64 (cuBLAS)", matmul("float64", 1e-12), needs=GPU)
    probe("matmul float16 (cuBLAS GemmEx)", matmul("float16", 5e-3), needs=GPU)
    probe("axis and full reductions (CUB)", reductions, needs=GPU)
    probe("cuRAND Philox4x32-10", philox, needs=GPU)
    probe("cuRAND default_rng (XORWOW init)", xorwow, needs=GPU)
    probe("NCCL all-reduce on one GPU", nccl_one_gpu, needs=GPU)
    probe("DLPack cupy <-> torch:cuda", dlpack, needs=(*GPU, "torch"))
    probe("bfloat16 arrays (ml_dtypes)", bfloat16, needs=GPU)
    probe("anynet devices cuda, torch:cuda", anynet_devices, needs=(*GPU, "torch"))
    print(f"probe summary: {len(FAILED)} failed{': ' + ', '.join(FAILED) if FAILED else ''}", flush=True)
    return min(len(FAILED), 100)


if __name__ == "__main__":
    sys.exit(main())
