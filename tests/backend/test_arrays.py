"""Arrays of any library: the namespace they share, moving them, and computation following them."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.layers.base import Layer
from anynet.testing import arr, host, resolve_backend


def test_outputs_follow_the_inputs_namespace(backend):
    net = anynet.MLP(3, [4], 2)
    x = arr(backend, np.ones((2, 3)), "float32")
    with anynet.device("cpu"):  # the context places new arrays only; maths follows the data
        y = net.forward(x)
    assert type(y) is type(x)
    assert anynet.device_of(y) == backend


def test_mixing_libraries_is_a_clear_error(backend):
    if backend.is_host:
        pytest.skip("needs a second library")
    net = anynet.Affine(3, 2)  # on the backend
    with pytest.raises(anynet.DeviceError, match=r"Affine: arrays from two libraries.*model.to"):
        net.forward(np.ones((1, 3), dtype=np.float32))


def test_a_non_array_is_named_with_the_caller():
    with pytest.raises(TypeError, match="Affine: expected an array, got list"):
        anynet.backend.namespace([1.0], where="Affine")


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


def test_to_device_and_to_numpy_round_trip(backend):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = anynet.to_device(a, backend)
    assert anynet.device_of(x) == backend
    np.testing.assert_array_equal(anynet.to_numpy(x), a)
    assert anynet.to_device(x, backend) is x


def test_moves_between_libraries_keep_values(backend):
    a = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    x = arr(backend, a)
    for other in ("cpu", "array_api_strict:device1"):
        y = anynet.to_device(x, other)
        np.testing.assert_array_equal(host(y), a)
        np.testing.assert_array_equal(host(anynet.to_device(y, backend)), a)


def test_padding_follows_the_array(backend):
    x = arr(backend, np.ones((1, 2)), "float32")
    y = anynet.backend.pad(x, ((0, 0), (1, 2)), -1.0)
    assert anynet.device_of(y) == backend
    np.testing.assert_array_equal(host(y), [[-1, 1, 1, -1, -1]])


class _Where(Layer):
    """Records the current device in forward and backward (a layer creating arrays would use it)."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def forward(self, x, train=None):
        self.seen.append(("forward", anynet.current_device()))
        return x

    def backward(self, dout):
        self.seen.append(("backward", anynet.current_device()))
        return dout


def test_computation_enters_the_inputs_device():
    """A model on one device called while another is current computes inside its inputs' device:
    CuPy launches on its current GPU, so a model on cuda:1 would otherwise run on GPU 0. Checked
    here with array-api-strict's two devices; the GPU leg runs it on CuPy."""
    strict = resolve_backend("strict")
    dev1, dev2 = anynet.as_device("array_api_strict:device1"), anynet.as_device("array_api_strict:device2")
    assert strict == dev1
    seen = []
    with anynet.device(dev2):
        model = anynet.Sequential(anynet.Affine(3, 2), _Where(seen))
    opt = anynet.SGD(hooks=[lambda params, grads: seen.append(("update", anynet.current_device())) or grads])
    x = dev2.from_numpy(np.ones((4, 3), np.float32))
    with anynet.device(dev1):
        y = model.forward(x)
        model.backward(y)
        opt.update(model.params)
        assert anynet.current_device() == dev1  # left as it was
    assert seen == [("forward", dev2), ("backward", dev2), ("update", dev2)]
    seen.clear()
    with anynet.device(dev2):  # already there: nothing entered
        model.forward(x)
    assert seen == [("forward", dev2)]
