"""The core ``Device``: dtypes, creation, the facets it hands out, and a library failing at import."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import backend
from anynet.testing import host


def test_a_gpu_library_failing_at_import_is_a_device_error(monkeypatch):
    from anynet.backend import _device

    def broken(name):
        raise OSError("libcuda.so.1: cannot open shared object file")

    monkeypatch.setattr(_device.importlib, "import_module", broken)
    with pytest.raises(anynet.DeviceError, match="'cupy' is installed but fails to import.*libcuda"):
        anynet.as_device("cuda")


def test_every_device_has_the_core_and_its_facets(backend):
    assert backend.float_dtype("float32") == backend.xp.float32
    z = backend.zeros((2, 3))
    assert z.dtype == backend.xp.float32 and anynet.device_of(z) == backend
    np.testing.assert_array_equal(host(z), np.zeros((2, 3)))
    assert isinstance(backend.random, anynet.backend.DeviceRandom) and backend.random is backend.random
    assert isinstance(backend.comm, anynet.backend.Comm)
    assert isinstance(backend.compiler, anynet.backend.Compiler)
    assert isinstance(backend.executor, anynet.backend.Executor)
    assert backend.executor is anynet.device_of(z).executor  # one executor per device, shared
    assert isinstance(backend.kernels, anynet.backend.FastKernels)
    backend.synchronize()


def test_the_core_is_small():
    """What every device is; the other concerns are facets (random, compiler, comm, executor, kernels,
    updates)."""
    public = {name for name in vars(backend.Device) if not name.startswith("_")}
    assert public == {
        "xp", "device", "name", "library", "prefixes", "is_host", "writable", "is_gpu", "dtype_advice",
        "random_class", "comm_class", "compiler", "executor", "kernels", "updates",
        "owns", "parse", "of", "device_key", "memory", "float_dtypes", "float_dtype",
        "scope", "random", "comm", "from_numpy", "to_numpy", "zeros", "receive", "can_share", "pad", "synchronize",
    }


def test_eager_libraries_compile_nothing():
    assert backend.as_device("cpu").compiler.compile_step(lambda: 0, (), lambda: None) is None


def test_host_buffers_are_writable_copies_by_default():
    strict = pytest.importorskip("array_api_strict")
    dev = backend.as_device("array_api_strict:device1")
    x = dev.from_numpy(np.arange(3.0))
    buf, own = dev.comm.host_buffer(x)
    assert not own and buf.flags.writeable
    buf[0] = 5.0
    assert host(dev.comm.from_host(buf)).tolist() == [5.0, 1.0, 2.0] and host(x).tolist() == [0.0, 1.0, 2.0]
    assert dev.comm.collective(2, 0, lambda obj: obj) is None and strict
