"""Conv, MaxPool, AvgPool, LRN and 4-D BatchNorm on every backend: gradients, closed forms, shapes, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import anynet
from anynet.gradcheck import check_layer
from anynet.layers._windows import col2im, im2col
from anynet.testing import arr, check_inputs_unchanged, host

F64 = "float64"


def tie_free(shape, rng):
    """Distinct values (a shuffled ramp plus noise), far enough apart that a small
    numerical step never changes which element of a pooling window is the largest."""
    n = int(np.prod(shape))
    ramp = rng.permutation(n).astype(float) / n
    return (ramp * 4.0 - 2.0 + rng.uniform(0, 0.1 / n, n)).reshape(shape)


# name -> (layer factory (float64), input shape, train flag)
LAYERS = {
    "Conv": (lambda: anynet.Conv(2, 2, 3, dtype=F64), (2, 2, 4, 4), None),
    "Conv-pad-stride": (lambda: anynet.Conv(2, 2, 3, stride=2, pad=1, dtype=F64), (1, 2, 5, 4), None),
    "Conv-nonsquare": (lambda: anynet.Conv(1, 2, (2, 3), stride=(1, 2), pad=(1, 0), dtype=F64), (1, 1, 4, 5), None),
    "MaxPool": (lambda: anynet.MaxPool(2), (2, 2, 4, 4), None),
    "MaxPool-overlap-pad": (lambda: anynet.MaxPool(3, stride=2, pad=1), (2, 2, 5, 5), None),
    "MaxPool-remainder": (lambda: anynet.MaxPool((2, 3)), (1, 2, 5, 7), None),
    "AvgPool": (lambda: anynet.AvgPool(2), (2, 2, 4, 4), None),
    "AvgPool-overlap-pad": (lambda: anynet.AvgPool(3, stride=2, pad=1), (2, 2, 5, 5), None),
    "LRN": (lambda: anynet.LRN(size=3, alpha=0.5, beta=0.75, k=1.0), (2, 5, 2, 3), None),
    "LRN-even": (lambda: anynet.LRN(size=4, alpha=0.3, beta=0.6, k=2.0), (2, 5, 2, 2), None),
    "BatchNorm-4d-train": (lambda: anynet.BatchNorm(3, dtype=F64), (4, 3, 2, 3), True),
    "BatchNorm-4d-eval": (lambda: anynet.BatchNorm(3, dtype=F64), (4, 3, 2, 3), False),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradient(backend, name):
    make, shape, train = LAYERS[name]
    x = arr(backend, tie_free(shape, np.random.default_rng(0)))
    check_layer(make(), x, train=train)


@pytest.mark.parametrize("name", list(LAYERS))
def test_inputs_left_unchanged(backend, name):
    make, shape, train = LAYERS[name]
    check_inputs_unchanged(backend, make(), tie_free(shape, np.random.default_rng(1)), train)


def loop_conv(x, W, b, stride, pad):
    """The definition, one output element at a time."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    (sh, sw), (ph, pw) = stride, pad
    xp_ = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH, OW = (H + 2 * ph - FH) // sh + 1, (Wd + 2 * pw - FW) // sw + 1
    out = np.zeros((N, FN, OH, OW))
    for n, f, i, j in itertools.product(range(N), range(FN), range(OH), range(OW)):
        out[n, f, i, j] = np.sum(xp_[n, :, i * sh:i * sh + FH, j * sw:j * sw + FW] * W[f]) + b[f]
    return out


@pytest.mark.parametrize(("kernel", "stride", "pad"), [(3, 1, 0), ((2, 3), (2, 1), (1, 2)), (1, 3, 0), (4, 2, 1)])
def test_conv_forward_matches_loop(backend, kernel, stride, pad):
    rng = np.random.default_rng(2)
    layer = anynet.Conv(3, 4, kernel, stride, pad, dtype=F64)
    W0, b0 = rng.standard_normal(layer.W.shape), rng.standard_normal(layer.b.shape)
    layer.load_state_dict({"W": arr(backend, W0), "b": arr(backend, b0)})
    x0 = rng.standard_normal((2, 3, 7, 6))
    y = layer.forward(arr(backend, x0))
    np.testing.assert_allclose(host(y), loop_conv(x0, W0, b0, layer.stride, layer.pad), rtol=1e-10, atol=1e-10)
    assert [p.name for p in layer.params] == ["W", "b"]


def test_conv_float32_stays_float32(backend):
    layer = anynet.Conv(1, 2, 3, pad=1)
    x = arr(backend, np.random.default_rng(3).standard_normal((2, 1, 5, 5)), "float32")
    y = layer.forward(x)
    dx = layer.backward(y)
    assert y.dtype == x.dtype and dx.dtype == x.dtype
    assert layer.W.grad.dtype == x.dtype and layer.b.grad.dtype == x.dtype


def test_conv_without_input_grad(backend):
    rng = np.random.default_rng(4)
    a, b = anynet.Conv(1, 2, 3, dtype=F64), anynet.Conv(1, 2, 3, input_grad=False, dtype=F64)
    b.load_state_dict(a.state_dict())
    x = arr(backend, rng.standard_normal((2, 1, 5, 5)))
    dout = arr(backend, rng.standard_normal((2, 2, 3, 3)))
    a.forward(x), b.forward(x)
    assert a.backward(dout) is not None and b.backward(dout) is None
    np.testing.assert_allclose(host(a.W.grad), host(b.W.grad))


def test_im2col_col2im_are_adjoint(backend):
    # <im2col(x), c> == <x, col2im(c)> for every x and c: col2im is im2col's transpose.
    rng = np.random.default_rng(5)
    kernel, stride, pad = (3, 2), (2, 1), (1, 1)
    x0 = rng.standard_normal((2, 3, 6, 5))
    col = im2col(arr(backend, x0), kernel, stride, pad)
    c0 = rng.standard_normal(tuple(col.shape))
    back = col2im(arr(backend, c0), x0.shape, kernel, stride, pad)
    np.testing.assert_allclose(np.sum(host(col) * c0), np.sum(x0 * host(back)), rtol=1e-10)


GRID = list(itertools.product([1, 2, 3, 5], [1, 2, 3], [0, 1, 2]))


@pytest.mark.parametrize(("k", "s", "p"), GRID)
def test_output_shapes(k, s, p):
    H, W = 9, 8
    x = np.zeros((2, 3, H, W), dtype=np.float32)
    expected = ((H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1)
    conv = anynet.Conv(3, 4, k, s, p)
    assert conv.forward(x).shape == (2, 4, *expected)
    assert conv.output_shape((3, H, W)) == (4, *expected)
    if p <= k // 2:
        for pool in (anynet.MaxPool(k, s, p), anynet.AvgPool(k, s, p)):
            assert pool.forward(x).shape == (2, 3, *expected)
            assert pool.backward(np.ones((2, 3, *expected), np.float32)).shape == x.shape


def test_kernel_larger_than_padded_input_is_refused():
    with pytest.raises(ValueError, match=r"Conv: kernel 7x7 is larger than the padded input 6x6"):
        anynet.Conv(1, 2, 7, pad=1).forward(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"MaxPool: kernel 3x3 is larger than the padded input 2x2"):
        anynet.MaxPool(3).forward(np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"Conv: expected x of shape \(N, 3, H, W\), got \(32, 1, 28, 28\)"):
        anynet.Conv(3, 2, 3).forward(np.zeros((32, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="stride"):
        anynet.Conv(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="pad"):
        anynet.MaxPool(2, pad=2)


def test_maxpool_closed_form_and_ties(backend):
    x0 = np.array([[[[1.0, 3.0, 2.0, 2.0], [0.0, -1.0, 2.0, 2.0]]]])
    pool = anynet.MaxPool(2)
    y = pool.forward(arr(backend, x0, F64))
    np.testing.assert_array_equal(host(y), [[[[3.0, 2.0]]]])
    dx = pool.backward(arr(backend, [[[[10.0, 20.0]]]], F64))
    # the tie of four 2s gives its gradient once, to the first (row-major), like argmax
    np.testing.assert_array_equal(host(dx), [[[[0.0, 10.0, 20.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])


def test_avgpool_closed_form(backend):
    x0 = np.arange(16.0).reshape(1, 1, 4, 4)
    y = anynet.AvgPool(2).forward(arr(backend, x0, F64))
    np.testing.assert_allclose(host(y), [[[[2.5, 4.5], [10.5, 12.5]]]])


def test_lrn_closed_form(backend):
    rng = np.random.default_rng(6)
    x0 = rng.standard_normal((2, 6, 2, 2))
    size, alpha, beta, k = 5, 1e-2, 0.75, 2.0
    y = host(anynet.LRN(size, alpha, beta, k).forward(arr(backend, x0, F64)))
    expected = np.empty_like(x0)
    for c in range(6):
        lo, hi = max(0, c - size // 2), min(6, c + (size - 1) // 2 + 1)
        expected[:, c] = x0[:, c] / (k + alpha / size * np.sum(x0[:, lo:hi] ** 2, axis=1)) ** beta
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_batchnorm_4d_normalises_per_channel(backend):
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((8, 3, 4, 4)) * np.array([1.0, 2.0, 3.0])[:, None, None] + 5.0
    y = host(anynet.BatchNorm(3, dtype=F64).forward(arr(backend, x0), train=True))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1.0, atol=1e-3)


def test_conv_in_batch_chunks_matches_one_piece(backend):
    rng = np.random.default_rng(8)
    whole, chunked = anynet.Conv(2, 3, 3, pad=1, dtype=F64), anynet.Conv(2, 3, 3, pad=1, dtype=F64)
    chunked.load_state_dict(whole.state_dict())
    chunked.max_col_elements = 2 * 18 * 16  # two images of 4x4 outputs per chunk: chunks 2, 2, 1
    x = arr(backend, rng.standard_normal((5, 2, 4, 4)))
    dout = arr(backend, rng.standard_normal((5, 3, 4, 4)))
    np.testing.assert_allclose(host(chunked.forward(x)), host(whole.forward(x)), rtol=1e-12)
    np.testing.assert_allclose(host(chunked.backward(dout)), host(whole.backward(dout)), rtol=1e-12)
    np.testing.assert_allclose(host(chunked.W.grad), host(whole.W.grad), rtol=1e-12)
    assert len(chunked._chunks(5, 18, 16)) == 3
