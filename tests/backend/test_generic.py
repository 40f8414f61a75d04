"""A library no module knows: moves through the standard (DLPack), draws on the host."""

from __future__ import annotations

import numpy as np
import pytest

import anynet


def test_generic_device_moves_and_draws_through_the_standard():
    strict = pytest.importorskip("array_api_strict")
    dev = anynet.backend.GenericDevice.of(strict, strict.Device("device1"))
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = dev.from_numpy(a)
    assert x.device == strict.Device("device1")
    np.testing.assert_array_equal(np.asarray(x.to_device(strict.Device("CPU_DEVICE"))), a)
    u = dev.random.uniform(dev.random.new_rng(3), (4,), x.dtype)
    assert u.device == strict.Device("device1") and u.dtype == strict.float32
    np.testing.assert_array_equal(np.asarray(u.to_device(strict.Device("CPU_DEVICE"))),
                                  np.random.default_rng(3).random(4, dtype=np.float32))
