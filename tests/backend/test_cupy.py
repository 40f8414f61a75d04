"""CuPy's device class. Its CPU-side logic runs here against stand-in CuPy modules (no GPU on CI):
clear errors without a GPU, NCCL or host buffers, Philox generators, the bfloat16 refusal."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest

import anynet
from anynet.backend import GpuExecutor
from anynet.backend._cupy import CuPyDevice
from anynet.testing import resolve_backend


class FakeDevice:
    """Stands in for ``cupy.cuda.Device``: a context manager with an id and memory."""

    def __init__(self, index=0):
        self.id = index
        self.asked = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def mem_info(self):
        self.asked += 1
        return (1 << 30, 8 << 30)


def _gpu(xp=None, index=0):
    return CuPyDevice(xp, FakeDevice(index), f"cuda:{index}")  # built without asking for a GPU


def _working_gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no CuPy, or CuPy without a GPU or driver
        return False


def test_cuda_without_cupy_or_gpu_is_a_clear_error(capsys):
    """CI installs CuPy (ci/backends.txt) on machines without a GPU: CuPy imports, and its
    CUDA errors must come out as DeviceError, which the CLI and the examples' CPU fallback catch."""
    if _working_gpu():
        pytest.skip("a GPU is present")
    installed = importlib.util.find_spec("cupy") is not None
    hint = "driver" if installed else "needs the package 'cupy'"
    for spec in ("cuda", "cuda:1", "gpu"):
        with pytest.raises(anynet.DeviceError, match=hint):
            with anynet.device(spec):
                pass
    from anynet.cli import main

    assert main(["train", "--device", "cuda", "--epochs", "1", "--verbose", "0"]) == 2
    assert hint in capsys.readouterr().err
    if installed:
        import cupy

        with pytest.raises(anynet.DeviceError, match="cannot make an array with cupy"):
            anynet.as_device(cupy, "cuda:0")


def test_a_gpu_that_cannot_run_a_kernel_is_a_device_error(monkeypatch):
    """CuPy without its CUDA libraries (NVRTC) imports and counts GPUs, then fails at the first
    kernel: ``anynet.device`` tries one kernel, so the error comes where the device is chosen."""
    from anynet.backend import _cupy

    def no_nvrtc(*args, **kwargs):
        raise RuntimeError("CuPy failed to load libnvrtc.so.12")

    fake = types.SimpleNamespace(
        cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 2), Device=FakeDevice),
        zeros=no_nvrtc, float32="float32",
    )
    monkeypatch.setattr(_cupy, "import_library", lambda *args: fake)
    with pytest.raises(anynet.DeviceError, match=r"'cuda:1'.*GPU 1 cannot run a kernel.*libnvrtc.*\[cuda12\]"):
        anynet.as_device("cuda:1")


def _fake_cupy(monkeypatch, nccl=None, **random):
    """Stand-in ``cupy``, ``cupy.cuda`` (and ``cupy.cuda.nccl``) modules in ``sys.modules``."""
    cuda = types.ModuleType("cupy.cuda")
    cupy = types.ModuleType("cupy")
    cupy.cuda, cupy.random = cuda, types.SimpleNamespace(**random)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cuda)
    if nccl is None:
        def missing(name):
            raise ImportError(f"cannot import name {name!r} from 'cupy.cuda'")

        cuda.__getattr__ = missing  # a CuPy built without the NCCL module
    else:
        cuda.nccl = nccl
        monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", nccl)


def test_nccl_marked_unavailable_means_host_buffers(monkeypatch):
    """CuPy 14's ``cupy.cuda.nccl`` imports without NCCL and sets ``available = False``."""
    def no_nccl(*args):
        raise AssertionError("NCCL used although unavailable")

    nccl = types.SimpleNamespace(available=False, get_unique_id=no_nccl, NcclCommunicator=no_nccl)
    _fake_cupy(monkeypatch, nccl)
    assert _gpu().comm.collective(2, 0, lambda obj: obj) is None


def test_a_cupy_without_the_nccl_module_means_host_buffers(monkeypatch):
    _fake_cupy(monkeypatch)
    assert _gpu().comm.collective(2, 0, lambda obj: obj) is None


def test_available_nccl_builds_a_communicator_with_rank_0s_id(monkeypatch):
    made = []
    nccl = types.SimpleNamespace(available=True, get_unique_id=lambda: "id-0",
                                 NcclCommunicator=lambda size, uid, rank: made.append((size, uid, rank)) or "comm")
    _fake_cupy(monkeypatch, nccl)
    shared = []
    comm = _gpu().comm.collective(2, 1, lambda obj: shared.append(obj) or "id-0")
    assert made == [(2, "id-0", 1)] and shared == [None] and comm.comm == "comm"


def test_generators_are_two_integers_made_without_touching_cupy(monkeypatch):
    """A CuPy generator is a Philox4x32-10 stream (key, counter): a new one allocates nothing and
    calls no CuPy (``default_rng`` would build an XORWOW generator with 270k states per seed), and
    its state saves as two integers."""
    def no_cupy(*args, **kwargs):
        raise AssertionError("CuPy's generators used")

    _fake_cupy(monkeypatch, Philox4x3210=no_cupy, Generator=no_cupy, default_rng=no_cupy)
    dev = _gpu()
    assert dev.random.rng_state(dev.random.new_rng(7)) == {"cupy_philox": [7, 0]}


def test_bfloat16_is_refused_clearly_even_where_the_namespace_has_it():
    xp = types.SimpleNamespace(float16="f2", bfloat16="bf2", float32="f4", float64="f8")
    dev = _gpu(xp)
    assert dev.float_dtype("float16") == "f2"
    with pytest.raises(anynet.DeviceError, match=r"'cuda:0' has no bfloat16; it has float16, float32, float64; "
                                                  r"bfloat16 runs on 'torch:cpu', 'torch:cuda'"):
        dev.float_dtype("bfloat16")


def test_gpu_budgets_ask_the_gpus_memory_once():
    dev = _gpu(index=3)
    ex = dev.executor
    assert isinstance(ex, GpuExecutor) and ex is _gpu(index=3).executor
    assert ex.work_budget == 1 << 30 and ex.workers == 1
    assert ex.data_budget == (8 << 30) // 4 and ex.data_budget == (8 << 30) // 4
    assert dev.device.asked == 1


def test_cupy_moves_between_gpus_and_computes_on_the_inputs_gpu():
    """The GPU leg, on a machine with two GPUs: a GPU-to-GPU move stays on the devices, and a
    model on cuda:1 used from outside its context computes there."""
    cupy = pytest.importorskip("cupy")
    dev0 = resolve_backend("cupy")
    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    dev1 = anynet.as_device("cuda:1")
    assert anynet.as_device(cupy, "cuda:1") == dev1
    x0 = dev0.from_numpy(np.arange(6.0, dtype=np.float32))
    x1 = anynet.to_device(x0, dev1)
    assert x1.device.id == 1 and anynet.to_numpy(x1).tolist() == list(range(6))
    with anynet.device(dev1):
        model = anynet.MLP(3, [4], 2, dropout=0.5)
    xb = dev1.from_numpy(np.ones((5, 3), np.float32))
    y = model.forward(xb, train=True)  # no context: CuPy's current GPU is 0
    model.backward(y)
    anynet.SGD().update(model.params)
    assert y.device.id == 1 and all(p.data.device.id == 1 for p in model.params)
