"""Which implementation runs (anynet.kernels): reference() forces the array-API code, per context
and thread; the unchecked cuDNN Frontend kernels of CuPy are off unless switched on, and switched
on where they cannot run they say why."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest

import anynet
from anynet import kernels
from anynet.backend import DeviceError


def test_reference_nests_and_belongs_to_its_context():
    torch_cpu = pytest.importorskip("torch") and anynet.as_device("torch:cpu")
    assert kernels.implementation("conv2d_forward", torch_cpu) == "torch"
    seen = []
    with kernels.reference():
        assert kernels.implementation("conv2d_forward", torch_cpu) == "reference"
        with kernels.reference(False):
            assert kernels.implementation("conv2d_forward", torch_cpu) == "torch"
        assert kernels.implementation("conv2d_forward", torch_cpu) == "reference"
        # a thread starts from the defaults: another thread's block does not reach it
        thread = threading.Thread(target=lambda: seen.append(kernels.implementation("conv2d_forward", torch_cpu)))
        thread.start()
        thread.join()
    assert seen == ["torch"]
    assert kernels.implementation("conv2d_forward", torch_cpu) == "torch"


def test_the_reference_runs_under_reference(monkeypatch):
    """Inside reference() the device's kernel is not called at all (a call would raise here)."""
    from anynet.backend._numpy_kernels import NumPyKernels

    def refuse(*args):
        raise AssertionError("the fast im2col ran inside reference()")

    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    want = kernels.im2col(x, (3, 3), (1, 1), (1, 1))
    monkeypatch.setattr(NumPyKernels, "im2col", refuse)
    with kernels.reference():
        np.testing.assert_array_equal(kernels.im2col(x, (3, 3), (1, 1), (1, 1)), want)
    with pytest.raises(AssertionError, match="fast im2col"):
        kernels.im2col(x, (3, 3), (1, 1), (1, 1))


def _cupy_device():
    from anynet.backend._cupy import CuPyDevice

    return CuPyDevice(None, types.SimpleNamespace(id=0), "cuda:0")  # built without a GPU


def test_the_cudnn_frontend_kernels_are_unchecked_and_off_by_default():
    dev = _cupy_device()
    assert dev.kernels.name == "cudnn-frontend" and dev.kernels.checked is False
    for op in ("conv2d_forward", "conv2d_dgrad", "conv2d_wgrad"):
        assert dev.kernels.supplies(op)
        assert kernels.implementation(op, dev) == "reference"  # CuPy runs im2col + cuBLAS
    assert not dev.kernels.supplies("max_pool2d_forward")
    with kernels.unchecked(), kernels.reference():
        assert kernels.implementation("conv2d_forward", dev) == "reference"


def test_switching_the_cudnn_frontend_on_where_it_cannot_run_says_why():
    dev = _cupy_device()
    why = dev.kernels.unavailable()
    if why is None:
        pytest.skip("the cuDNN Frontend and a GPU work here: the GPU tests check it")
    with kernels.unchecked():
        with pytest.raises(DeviceError, match=r"unchecked cudnn-frontend kernels were switched on .* cannot run"):
            kernels.implementation("conv2d_forward", dev)
        assert kernels.implementation("max_pool2d_forward", dev) == "reference"  # none of its own
    assert ("anynet[cudnn]" in why) or ("GPU" in why)
