"""Reading a ``Device`` from a spec, an array or a namespace; the list of libraries."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import anynet
from anynet import backend
from anynet.testing import CPU_BACKENDS, resolve_backend


def test_each_library_has_its_own_device_class_and_its_name_reads_back(backend):
    cls = anynet.backend.library_of(backend.xp)
    assert type(backend) is cls
    assert cls is not anynet.backend.GenericDevice
    # true of every library (CuPy's devices are "cuda:N", its library "cupy"): the name is a spec
    again = anynet.as_device(backend.name)
    assert again == backend and type(again) is cls


def test_unknown_device_names_say_what_is_accepted():
    with pytest.raises(anynet.DeviceError, match="use 'cpu', 'cuda'"):
        anynet.as_device("tpu")


@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_device_names_round_trip(name):
    dev = resolve_backend(name)
    assert anynet.as_device(dev.name) == dev


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


def test_arrays_and_namespaces_name_their_device(backend):
    x = backend.zeros((2,))
    assert anynet.as_device(x) == backend and anynet.device_of(x) == backend
    assert anynet.as_device(None) == anynet.current_device() == backend  # the fixture entered it


def test_a_registered_library_is_asked_and_can_be_removed():
    class Fake(anynet.backend.GenericDevice):
        library = "fake"
        prefixes = ("fake",)

        @classmethod
        def parse(cls, rest, spec):
            return cls(backend.as_device("cpu").xp, "cpu", f"fake:{rest or 0}")

    assert backend.register(Fake) is Fake
    try:
        assert anynet.as_device("fake:3").name == "fake:3"
    finally:
        backend.unregister(Fake)
    with pytest.raises(anynet.DeviceError, match="unknown device 'fake:3'"):
        anynet.as_device("fake:3")


def test_a_gpu_named_without_a_number_stays_itself_on_the_cpu():
    assert backend.local_device("cpu", 1) is backend.as_device("cpu")
    assert isinstance(anynet.to_numpy(backend.as_device("cpu").zeros((1,))), np.ndarray)
