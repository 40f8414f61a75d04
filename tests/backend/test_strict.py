"""array-api-strict's device class: pretend devices that catch mixed devices and stray moves."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import resolve_backend


def test_mixing_devices_is_a_clear_error():
    strict = resolve_backend("strict")
    import array_api_strict

    with anynet.device(strict):
        net = anynet.Affine(3, 2)
    x = array_api_strict.ones((1, 3), dtype=array_api_strict.float32)  # default device
    with pytest.raises(anynet.DeviceError, match=r"Affine: arrays on two devices.*device1"):
        net.forward(x)


def test_moves_between_devices_of_one_library_skip_the_host(monkeypatch):
    dev1, dev2 = resolve_backend("strict"), anynet.as_device("array_api_strict:device2")
    x = dev1.from_numpy(np.arange(6.0))
    monkeypatch.setattr(type(dev1), "to_numpy", lambda self, a: pytest.fail("went through the host"))
    y = anynet.to_device(x, dev2)
    assert anynet.device_of(y) == dev2


def test_the_strict_namespace_and_its_devices_read_as_devices():
    strict = pytest.importorskip("array_api_strict")
    dev = anynet.as_device(strict, strict.Device("device2"))
    assert dev == anynet.as_device("array_api_strict:device2") == anynet.as_device("strict:device2")
    assert anynet.as_device(strict).name == "array_api_strict:CPU_DEVICE"
