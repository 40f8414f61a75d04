"""The backend package: one Device class per library, zero-copy moves, spec errors, generators."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import anynet
from anynet.testing import arr, host

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")


def test_each_library_has_its_own_device_class(backend):
    cls = anynet.backend.library_of(backend.xp)
    assert type(backend) is cls
    assert cls is not anynet.backend.GenericDevice
    assert backend.name.startswith("cpu") or backend.name.startswith(cls.library)


def test_generic_device_moves_and_draws_through_the_standard():
    strict = pytest.importorskip("array_api_strict")
    dev = anynet.backend.GenericDevice.of(strict, strict.Device("device1"))
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = dev.from_numpy(a)
    assert x.device == strict.Device("device1")
    np.testing.assert_array_equal(np.asarray(x.to_device(strict.Device("CPU_DEVICE"))), a)
    u = dev.uniform(dev.new_rng(3), (4,), x.dtype)
    assert u.device == strict.Device("device1") and u.dtype == strict.float32


@needs_torch
def test_numpy_and_torch_cpu_share_memory_both_ways():
    a = np.arange(6, dtype=np.float32)
    t = anynet.to_device(a, "torch:cpu")
    assert np.shares_memory(a, t.numpy())
    back = anynet.to_device(t, "cpu")
    assert isinstance(back, np.ndarray) and np.shares_memory(back, a)


@needs_torch
def test_read_only_arrays_are_copied_not_shared():
    a = np.arange(6, dtype=np.float32)
    a.setflags(write=False)
    t = anynet.to_device(a, "torch:cpu")
    assert not np.shares_memory(a, t.numpy())
    np.testing.assert_array_equal(t.numpy(), a)


def test_moves_between_libraries_keep_values(backend):
    a = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    x = arr(backend, a)
    for other in ("cpu", "array_api_strict:device1"):
        y = anynet.to_device(x, other)
        np.testing.assert_array_equal(host(y), a)
        np.testing.assert_array_equal(host(anynet.to_device(y, backend)), a)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cpu:1", "NumPy has one device"),
        ("torch:tpu", "use 'torch:cpu'"),
        ("torch:cuda:x", "torch:cuda"),
        ("jax:tpu", "JAX has no 'tpu' devices here; available"),
        ("jax:cpu:7", "no JAX cpu device 7"),
        ("jax:cpu:-1", "non-negative integer"),
        ("array_api_strict:device9", "array-api-strict's devices are"),
        ("quantum", "unknown device 'quantum': use 'cpu'"),
    ],
)
def test_malformed_device_specs_say_what_is_available(spec, message):
    lib = {"torch": "torch", "jax": "jax", "array_api_strict": "array_api_strict"}.get(spec.split(":")[0])
    if lib is not None and importlib.util.find_spec(lib) is None:
        pytest.skip(f"needs {lib}")
    with pytest.raises(anynet.DeviceError, match=message):
        anynet.as_device(spec)


def test_device_generators_save_and_restore(backend):
    x = backend.zeros((5,))
    anynet.backend.uniform_like(x)  # create the device's generator
    state = anynet.backend.rng_state()
    first = host(anynet.backend.uniform_like(x))
    anynet.backend.set_rng_state(state)
    np.testing.assert_array_equal(host(anynet.backend.uniform_like(x)), first)


def test_only_the_backend_names_array_libraries():
    import pathlib
    import re

    root = pathlib.Path(anynet.__file__).parent
    pattern = re.compile(r"^\s*(import|from)\s+(numpy|cupy|torch|jax|array_api_strict|ndonnx|spox)\b", re.M)
    # host-only files read and write NumPy arrays (testing: the host references of tests)
    host_side = {"data", "training", "cli", "testing"}
    offenders = [
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if p.relative_to(root).parts[0] not in {"backend", *host_side} and pattern.search(p.read_text())
    ]
    assert offenders == []


class _NoStateDevice(anynet.backend.GenericDevice):
    """A device whose generators cannot save their state, as CuPy's (NumPy arrays underneath)."""

    library = "nostate"
    prefixes = ("nostate",)

    @classmethod
    def parse(cls, rest, spec):
        return cls(anynet.as_device("cpu").xp, "cpu", "nostate:0")

    def from_numpy(self, a):
        return a

    def rng_state(self, rng):
        return None

    def restore_rng(self, saved):
        return None


@pytest.fixture
def no_state_device():
    from anynet.backend import _device

    _device.register(_NoStateDevice)
    try:
        yield anynet.as_device("nostate")
    finally:
        _device.LIBRARIES.remove(_NoStateDevice)


def test_resume_reseeds_generators_that_cannot_save_their_state(no_state_device):
    """After a restore, such a generator starts from the restored host state, not from the seed:
    it must not replay the first epoch's dropout masks; the host generator goes on as if never saved."""
    from anynet.backend import _random

    dev = no_state_device

    def masks():
        return dev.uniform(_random._device_rng(dev), (6,), np.float32)

    anynet.seed(0)
    epoch1 = masks()
    state = anynet.backend.rng_state()
    host_next = anynet.backend.host_rng().random(3)
    anynet.seed(99)  # a new process
    anynet.backend.set_rng_state(state)
    resumed = masks()
    assert not np.array_equal(resumed, epoch1)  # not the first epoch's masks again
    np.testing.assert_array_equal(anynet.backend.host_rng().random(3), host_next)
    anynet.backend.set_rng_state(state)
    np.testing.assert_array_equal(masks(), resumed)  # and repeatable
    assert state["unsaved"] == ["nostate:0"]
