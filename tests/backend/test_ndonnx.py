"""The ndonnx device: constants with values, graph values without, padding as one ONNX Pad, no RNG."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import backend

pytest.importorskip("ndonnx", reason="the extra 'onnx' is not installed (pip install 'anynet[onnx]')")


def test_the_ndonnx_device():
    dev = anynet.as_device("onnx")
    assert dev == anynet.as_device("ndonnx") and dev.name == "ndonnx"
    a = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    c = dev.from_numpy(a)
    assert backend.device_of(c) == dev
    np.testing.assert_array_equal(backend.to_numpy(c), a)  # constants have values
    padded = backend.to_numpy(backend.pad(c, ((0, 0), (0, 0), (1, 0), (0, 2)), -1.0))
    np.testing.assert_array_equal(padded, np.pad(a, ((0, 0), (0, 0), (1, 0), (0, 2)), constant_values=-1.0))
    x = dev.argument(("N", 3), "float32")
    assert tuple(x.shape) == (None, 3)
    with pytest.raises(anynet.DeviceError, match="known only when the graph runs"):
        backend.to_numpy(x)
    with pytest.raises(anynet.DeviceError, match="draws no random numbers"):
        anynet.Dropout(0.5).forward(x, train=True)
