"""Every fast kernel against the reference on its backend (anynet.kernels), float64: odd shapes,
stride 2, padding, 1x1 and 5x5 kernels, batch 1; and the reference against the definition."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import kernels
from anynet.kernels._windows import reference_im2col
from anynet.testing import arr, host, tie_free

# name -> (x shape, W shape, stride, pad)
CONVS = {
    "3x3-pad1-batch1-odd": ((1, 3, 7, 5), (4, 3, 3, 3), (1, 1), (1, 1)),
    "3x3-stride2-pad1": ((2, 3, 9, 7), (5, 3, 3, 3), (2, 2), (1, 1)),
    "1x1": ((2, 4, 5, 6), (3, 4, 1, 1), (1, 1), (0, 0)),
    "5x5-pad2-batch1": ((1, 2, 9, 11), (3, 2, 5, 5), (1, 1), (2, 2)),
    "5x5-stride2-nonsquare": ((2, 3, 11, 8), (2, 3, 5, 3), (2, 1), (2, 0)),
    "3x3-channels-kept": ((2, 4, 6, 6), (4, 4, 3, 3), (1, 1), (1, 1)),  # the transposed-conv input gradient
}
# name -> (x shape, pool size, stride, pad)
POOLS = {
    "2x2": ((2, 3, 6, 8), (2, 2), (2, 2), (0, 0)),
    "3x3-stride2-pad1-batch1-odd": ((1, 3, 7, 9), (3, 3), (2, 2), (1, 1)),
    "2x3-remainder": ((2, 2, 5, 7), (2, 3), (2, 3), (0, 0)),
    "5x5-stride1-pad2": ((1, 2, 7, 6), (5, 5), (1, 1), (2, 2)),
}
CONV_OPS = ("conv2d_forward", "conv2d_dgrad", "conv2d_wgrad")
POOL_OPS = ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward")


def _conv_all(x, W, b, dout, stride, pad):
    return (kernels.conv2d_forward(x, W, b, stride, pad),
            kernels.conv2d_dgrad(dout, W, tuple(x.shape), stride, pad),
            kernels.conv2d_wgrad(x, dout, tuple(W.shape), stride, pad))


@pytest.mark.parametrize("name", list(CONVS))
def test_conv_kernels_equal_the_reference(backend, name):
    x_shape, W_shape, stride, pad = CONVS[name]
    rng = np.random.default_rng(0)
    x, W, b = (arr(backend, rng.standard_normal(s), "float64") for s in (x_shape, W_shape, W_shape[:1]))
    OH, OW = kernels.output_size("test", x_shape[2:], W_shape[2:], stride, pad)
    dout = arr(backend, rng.standard_normal((x_shape[0], W_shape[0], OH, OW)), "float64")
    fast = _conv_all(x, W, b, dout, stride, pad)
    with kernels.reference():
        ref = _conv_all(x, W, b, dout, stride, pad)
    for op, f, r in zip(CONV_OPS, fast, ref):
        assert f.dtype == x.dtype and tuple(f.shape) == tuple(r.shape), op
        assert anynet.device_of(f) == backend, op
        np.testing.assert_allclose(host(f), host(r), rtol=1e-10, atol=1e-11, err_msg=op)


def _pool_all(x, dout, kernel, stride, pad):
    y, saved = kernels.max_pool2d_forward(x, kernel, stride, pad)
    dx = kernels.max_pool2d_backward(dout, x, saved, kernel, stride, pad)
    a = kernels.avg_pool2d_forward(x, kernel, stride, pad)
    da = kernels.avg_pool2d_backward(dout, tuple(x.shape), kernel, stride, pad)
    return y, dx, a, da


@pytest.mark.parametrize("name", list(POOLS))
def test_pool_kernels_equal_the_reference(backend, name):
    x_shape, kernel, stride, pad = POOLS[name]
    rng = np.random.default_rng(1)
    x = arr(backend, tie_free(x_shape, rng), "float64")
    OH, OW = kernels.output_size("test", x_shape[2:], kernel, stride, pad)
    dout = arr(backend, rng.standard_normal((*x_shape[:2], OH, OW)), "float64")
    fast = _pool_all(x, dout, kernel, stride, pad)
    with kernels.reference():
        ref = _pool_all(x, dout, kernel, stride, pad)
    for op, f, r in zip(POOL_OPS, fast, ref):
        assert f.dtype == x.dtype and anynet.device_of(f) == backend, op
        np.testing.assert_allclose(host(f), host(r), rtol=1e-12, atol=1e-12, err_msg=op)


def test_the_backends_supply_their_kernels(backend):
    """What runs where (the table of docs/guides/kernels.md), and reference() turns it all off."""
    # JAX: XLA's weight gradient is slower on the CPU than the reference (see _jax_kernels.JaxKernels)
    own = {"numpy": {"im2col"}, "torch": set(CONV_OPS + POOL_OPS), "jax": set(CONV_OPS + POOL_OPS) - {"conv2d_wgrad"}}
    supplied = own.get(backend.library, set())
    for op in ("im2col", *CONV_OPS, *POOL_OPS):
        want = backend.kernels.name if op in supplied else "reference"
        assert kernels.implementation(op, backend) == want, op
        with kernels.reference():
            assert kernels.implementation(op, backend) == "reference"


@pytest.mark.parametrize("name", ["3x3-pad1-batch1-odd", "3x3-stride2-pad1", "5x5-stride2-nonsquare"])
def test_numpy_im2col_equals_the_reference(name):
    x_shape, W_shape, stride, pad = CONVS[name]
    x = np.random.default_rng(2).standard_normal(x_shape)
    view = x.transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3)  # a conv's output: (C, N, H, W) memory
    for a in (x, view):
        np.testing.assert_array_equal(kernels.im2col(a, W_shape[2:], stride, pad),
                                      reference_im2col(a, W_shape[2:], stride, pad))


def test_float32_stays_float32_on_the_fast_kernels(backend):
    rng = np.random.default_rng(3)
    x, W, b = (arr(backend, rng.standard_normal(s), "float32") for s in ((2, 3, 6, 5), (4, 3, 3, 3), (4,)))
    dout = arr(backend, rng.standard_normal((2, 4, 3, 3)), "float32")
    outs = _conv_all(x, W, b, dout, (2, 2), (1, 1)) + _pool_all(x, arr(backend, np.ones((2, 3, 3, 3)), "float32"),
                                                                  (3, 3), (2, 2), (1, 1))
    assert all(o.dtype == x.dtype and anynet.device_of(o) == backend for o in outs)
