"""Conv (anynet.layers.conv) on every backend: gradients, the definition, dtypes, output shapes
(of the pooling layers too), chunked batches, errors."""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest

import anynet
from anynet.testing import arr, host, layer_table_tests

F64 = "float64"


# name -> (layer factory (float64), input shape)
LAYERS = {
    "Conv": (lambda: anynet.Conv(2, 2, 3, dtype=F64), (2, 2, 4, 4)),
    "Conv-pad-stride": (lambda: anynet.Conv(2, 2, 3, stride=2, pad=1, dtype=F64), (1, 2, 5, 4)),
    "Conv-nonsquare": (lambda: anynet.Conv(1, 2, (2, 3), stride=(1, 2), pad=(1, 0), dtype=F64), (1, 1, 4, 5)),
}


test_gradient, test_inputs_left_unchanged = layer_table_tests(LAYERS)


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


def test_conv_chunks_are_shared_among_the_devices_workers(backend, monkeypatch):
    """With two workers each chunk gets half the budget and the chunks come in pairs; the
    result is what one chunk in order gives (dW is summed in chunk order, whichever thread ran it)."""
    executor = backend.executor
    monkeypatch.setattr(type(executor), "workers", 2)  # NumPy's chunks on two threads
    monkeypatch.setattr(executor, "work_budget", 4 * 18 * 16 * 2)  # two float32 images
    rng = np.random.default_rng(3)
    x = arr(backend, rng.standard_normal((5, 2, 4, 4)), "float32")
    conv = anynet.Conv(2, 3, 3, pad=1)
    assert conv._chunks(5, 18, 16, x) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]  # 1 image each
    assert conv._chunks(2, 1, 1, x) == [(0, 1), (1, 2)]  # small: still one chunk per worker
    dout = arr(backend, rng.standard_normal((5, 3, 4, 4)), "float32")
    with anynet.configure(cpu_workers=2):
        got = host(conv.forward(x, train=True)), host(conv.backward(dout)), host(conv.W.grad)
    monkeypatch.setattr(type(executor), "workers", 1)
    monkeypatch.setattr(executor, "work_budget", 1 << 30)
    with anynet.configure(cpu_workers=1):
        want = host(conv.forward(x, train=True)), host(conv.backward(dout)), host(conv.W.grad)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_conv_chunks_follow_the_devices_work_budget(backend, monkeypatch):
    """16 MiB on a CPU; a GPU allows ~1 GiB, so DeepConvNet's widest layer at batch 1024
    (64 channels of 3x3 over 28x28) is one chunk there, not the 19 a CPU-sized limit gives."""
    executor = backend.executor
    assert executor.work_budget == (16 << 20 if not backend.is_gpu else 1 << 30)
    monkeypatch.setattr(type(executor), "workers", 1)  # one thread: the budget is the chunk's own
    x = arr(backend, np.zeros((1024, 1, 1, 1)), "float32")
    conv = anynet.Conv(1, 1, 1)
    rows, P = 64 * 9, 28 * 28
    assert len(conv._chunks(1024, rows, P, x)) == -(-1024 // (executor.work_budget // 4 // (rows * P)))
    monkeypatch.setattr(executor, "work_budget", 1 << 30)
    assert len(conv._chunks(1024, rows, P, x)) == 2
    whole, chunked = anynet.Conv(2, 3, 3, pad=1), anynet.Conv(2, 3, 3, pad=1)
    chunked.load_state_dict(whole.state_dict())
    monkeypatch.setattr(executor, "work_budget", 4 * 18 * 16 * 2)  # two float32 images per chunk
    x = arr(backend, np.random.default_rng(0).standard_normal((5, 2, 4, 4)), "float32")
    assert len(chunked._chunks(5, 18, 16, x)) == 3
    # float32 sums of 18 products: a GPU's BLAS may add them in another order than one product does
    np.testing.assert_allclose(host(chunked.forward(x)), host(whole.forward(x)), rtol=1e-6, atol=1e-5)


def test_gpu_devices_have_gpu_sized_budgets():
    from anynet.backend import GpuExecutor
    from anynet.backend._cupy import CuPyDevice
    from anynet.backend._torch import TorchDevice

    cupy_executor = CuPyDevice(None, types.SimpleNamespace(id=0), "cuda:0").executor  # built without a GPU
    assert CuPyDevice.is_gpu and cupy_executor.work_budget >= 64 * anynet.as_device("cpu").executor.work_budget
    torch = pytest.importorskip("torch")
    cuda = TorchDevice(None, torch.device("cuda", 0), "torch:cuda:0")  # built without asking for a GPU
    assert cuda.is_gpu and cuda.executor.work_budget == cupy_executor.work_budget == GpuExecutor.work_budget
    assert not anynet.as_device("torch:cpu").is_gpu and anynet.as_device("torch:cpu").executor.work_budget == 16 << 20


@pytest.mark.parametrize(("kernel", "pad"), [(3, 1), (3, 2), ((2, 3), (0, 1)), (5, 0)])
def test_conv_input_grad_as_transposed_conv_matches_col2im(backend, kernel, pad):
    """The stride-1 input gradient as a convolution of dout agrees with the col2im reference path,
    and forward columns kept for backward give what rebuilt ones give."""
    rng = np.random.default_rng(9)
    fast, ref = anynet.Conv(3, 4, kernel, pad=pad, dtype=F64), anynet.Conv(3, 4, kernel, pad=pad, dtype=F64)
    ref.load_state_dict(fast.state_dict())
    assert fast._transposed_pad() is not None
    fast.transposed_dx, ref.transposed_dx, ref.keep_col_elements = True, False, 0
    fast.max_col_elements = 3 * 4 * int(np.prod(fast.kernel)) * 8 * 8  # several chunks
    x = arr(backend, rng.standard_normal((5, 3, 6, 7)))
    y = fast.forward(x, train=True)
    assert fast.cols is not None and len(fast.cols) > 1
    np.testing.assert_allclose(host(y), host(ref.forward(x, train=True)), rtol=1e-10, atol=1e-12)
    dout = arr(backend, rng.standard_normal(tuple(y.shape)))
    np.testing.assert_allclose(host(fast.backward(dout)), host(ref.backward(dout)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(fast.W.grad), host(ref.W.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(fast.b.grad), host(ref.b.grad), rtol=1e-10, atol=1e-12)


def test_conv_transposed_input_grad_only_where_it_applies():
    assert anynet.Conv(1, 1, 3, stride=2, pad=1)._transposed_pad() is None
    assert anynet.Conv(1, 1, 3, pad=3)._transposed_pad() is None
    assert anynet.Conv(1, 1, (3, 5), pad=(1, 1))._transposed_pad() == (1, 3)


def test_conv_input_grad_path_follows_the_elements_moved():
    """By default the transposed form runs where its gather of dout is no larger than col2im's
    product: a conv keeping channels and map size, not one that widens the channels."""
    assert anynet.Conv(16, 16, 3, pad=1)._input_grad_pad((28, 28), (28, 28)) == (1, 1)
    assert anynet.Conv(32, 32, 3, pad=2)._input_grad_pad((14, 14), (16, 16)) == (0, 0)
    assert anynet.Conv(6, 16, 5)._input_grad_pad((14, 14), (10, 10)) is None  # LeNet-5's second
    assert anynet.Conv(32, 64, 3, pad=1)._input_grad_pad((14, 14), (14, 14)) is None
    forced = anynet.Conv(6, 16, 5)
    forced.transposed_dx = True
    assert forced._input_grad_pad((14, 14), (10, 10)) == (4, 4)
    forced.transposed_dx = False
    assert forced._input_grad_pad((28, 28), (28, 28)) is None
