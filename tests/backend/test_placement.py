"""The device context ``anynet.device(spec, dev, dtype)``: where new arrays are born, in which dtype."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

import anynet
from anynet import backend
from anynet.testing import resolve_backend


def test_parameters_are_born_on_the_context_device(backend):
    net = anynet.MLP(3, [4], 2, batchnorm=True)
    for p in net.params:
        assert anynet.device_of(p.data) == backend
        assert p.data.dtype == backend.xp.float32  # float32 by default on every library
    assert anynet.device_of(net[1].running_mean) == backend


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


def test_the_dtype_is_float32_outside_and_inner_blocks_keep_the_outers():
    assert backend.current_dtype() == "float32"
    with anynet.device("cpu", dtype="float64") as dev:
        assert dev == anynet.as_device("cpu") and backend.current_dtype() == "float64"
        with anynet.device(resolve_backend("strict")):
            assert backend.current_dtype() == "float64"
        with anynet.device("cpu", dtype="float16"):
            assert backend.current_dtype() == "float16"
        assert backend.current_dtype() == "float64"
    assert backend.current_dtype() == "float32"


def test_a_dtype_the_device_lacks_is_refused_naming_both_and_changes_nothing():
    with pytest.raises(anynet.DeviceError, match=r"device 'cpu' has no bfloat16; it has float16, float32, "
                                                  r"float64; bfloat16 runs on 'torch:cpu'"):
        with anynet.device("cpu", dtype="bfloat16"):
            pass
    with pytest.raises(anynet.DeviceError, match="unknown floating dtype 'half': use one of float16"):
        with anynet.device("cpu", dtype="half"):
            pass
    assert backend.current_dtype() == "float32" and anynet.current_device().name == "cpu"


def test_the_dtype_is_per_task():
    async def inside(name):
        with anynet.device("cpu", dtype=name):
            await asyncio.sleep(0)
            return backend.current_dtype()

    async def both():
        return await asyncio.gather(inside("float64"), inside("float16"))

    assert asyncio.run(both()) == ["float64", "float16"]
