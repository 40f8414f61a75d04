"""Where arrays are born, where results go, and what happens when devices mix."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import anynet
from anynet.testing import CPU_BACKENDS, arr, host, resolve_backend


def test_parameters_are_born_on_the_context_device(backend):
    net = anynet.MLP(3, [4], 2, batchnorm=True)
    for p in net.params:
        assert anynet.device_of(p.data) == backend
        assert p.data.dtype == backend.xp.float32  # float32 by default on every library
    assert anynet.device_of(net[1].running_mean) == backend


def test_outputs_follow_the_inputs_namespace(backend):
    net = anynet.MLP(3, [4], 2)
    x = arr(backend, np.ones((2, 3)), "float32")
    with anynet.device("cpu"):  # the context places new arrays only; maths follows the data
        y = net.forward(x)
    assert type(y) is type(x)
    assert anynet.device_of(y) == backend


def test_default_device_is_numpy_cpu():
    assert anynet.current_device().name == "cpu"
    assert isinstance(anynet.Affine(2, 2).W.data, np.ndarray)


def test_contexts_nest_and_are_per_thread():
    seen = {}
    strict = resolve_backend("strict")
    with anynet.device(strict):
        with anynet.device("cpu"):
            assert anynet.current_device().name == "cpu"
        assert anynet.current_device() == strict
        thread = threading.Thread(target=lambda: seen.setdefault("dev", anynet.current_device().name))
        thread.start()
        thread.join()
    assert seen["dev"] == "cpu"
    assert anynet.current_device().name == "cpu"


def test_mixing_libraries_is_a_clear_error(backend):
    if backend.is_host:
        pytest.skip("needs a second library")
    net = anynet.Affine(3, 2)  # on the backend
    with pytest.raises(anynet.DeviceError, match=r"Affine: arrays from two libraries.*model.to"):
        net.forward(np.ones((1, 3), dtype=np.float32))


def test_mixing_devices_is_a_clear_error():
    strict = resolve_backend("strict")
    import array_api_strict

    with anynet.device(strict):
        net = anynet.Affine(3, 2)
    x = array_api_strict.ones((1, 3), dtype=array_api_strict.float32)  # default device
    with pytest.raises(anynet.DeviceError, match=r"Affine: arrays on two devices.*device1"):
        net.forward(x)


def test_to_moves_parameters_buffers_and_optimizer_state(backend):
    with anynet.device("cpu"):
        net = anynet.MLP(3, [4], 2, batchnorm=True)
    net.params[0].state["velocity"] = np.zeros((3, 4), dtype=np.float32)
    net.params[0].grad = np.ones((3, 4), dtype=np.float32)
    before = {k: np.array(host(v)) for k, v in net.state_dict().items()}
    net.to(backend)
    for p in net.params:
        assert anynet.device_of(p.data) == backend
    assert anynet.device_of(net.params[0].state["velocity"]) == backend
    assert anynet.device_of(net.params[0].grad) == backend
    assert anynet.device_of(net[1].running_var) == backend
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(host(v), before[k])
    x = arr(backend, np.ones((2, 3)), "float32")
    assert tuple(net.forward(x).shape) == (2, 2)


def test_same_seed_same_initial_weights_everywhere(backend):
    anynet.seed(42)
    here = [host(p.data) for p in anynet.MLP(5, [7, 6], 3).params]
    anynet.seed(42)
    with anynet.device("cpu"):
        reference = [p.data for p in anynet.MLP(5, [7, 6], 3).params]
    for a, b in zip(here, reference):
        np.testing.assert_array_equal(a, b)


def test_to_device_and_to_numpy_round_trip(backend):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = anynet.to_device(a, backend)
    assert anynet.device_of(x) == backend
    np.testing.assert_array_equal(anynet.to_numpy(x), a)
    assert anynet.to_device(x, backend) is x


def test_unknown_device_names_say_what_is_accepted():
    with pytest.raises(anynet.DeviceError, match="use 'cpu', 'cuda'"):
        anynet.as_device("tpu")


def test_cuda_without_cupy_or_gpu_is_a_clear_error():
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        pytest.skip("a GPU is present")
    except Exception:  # noqa: BLE001
        pass
    with pytest.raises(anynet.DeviceError):
        with anynet.device("cuda"):
            pass


@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_device_names_round_trip(name):
    dev = resolve_backend(name)
    assert anynet.as_device(dev.name) == dev
