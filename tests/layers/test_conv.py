"""Conv (anynet.layers.conv) on every backend, with the fast kernels and under the reference:
gradients, the definition, dtypes, output shapes (of the pooling layers too), the reference's
batch chunks as the device's executor plans them, errors."""

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


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradient_of_the_reference(backend, name):
    with anynet.kernels.reference():
        test_gradient(backend, name)


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
@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
def test_conv_forward_matches_loop(backend, kernel, stride, pad, reference):
    rng = np.random.default_rng(2)
    layer = anynet.Conv(3, 4, kernel, stride, pad, dtype=F64)
    W0, b0 = rng.standard_normal(layer.W.shape), rng.standard_normal(layer.b.shape)
    layer.load_state_dict({"W": arr(backend, W0), "b": arr(backend, b0)})
    x0 = rng.standard_normal((2, 3, 7, 6))
    with anynet.kernels.reference(reference):
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


def _whole_and_chunked(backend, x0, d0, monkeypatch, budget, workers=1, dtype="float64"):
    """(y, dx, dW) of one Conv(2, 3, 3, pad=1) under the reference, in one piece and in the chunks
    the executor plans with ``budget`` bytes and ``workers`` threads."""
    rng = np.random.default_rng(8)
    conv = anynet.Conv(2, 3, 3, pad=1, dtype=dtype)
    conv.load_state_dict({"W": arr(backend, rng.standard_normal((3, 2, 3, 3)), dtype),
                          "b": arr(backend, rng.standard_normal(3), dtype)})
    x, dout = arr(backend, x0, dtype), arr(backend, d0, dtype)
    executor = backend.executor
    results = []
    for limit, count in ((1 << 30, 1), (budget, workers)):
        monkeypatch.setattr(executor, "work_budget", limit)
        monkeypatch.setattr(type(executor), "workers", count)
        with anynet.kernels.reference(), anynet.configure(cpu_workers=count):
            results.append((host(conv.forward(x, train=True)), host(conv.backward(dout)), host(conv.W.grad)))
    return results


def test_conv_in_batch_chunks_matches_one_piece(backend, monkeypatch):
    rng = np.random.default_rng(8)
    x0, d0 = rng.standard_normal((5, 2, 4, 4)), rng.standard_normal((5, 3, 4, 4))
    budget = 2 * 18 * 16 * 8  # two float64 images of 4x4 outputs' columns per chunk: chunks 2, 2, 1
    # one worker, whatever the machine's BLAS threads left NumPy's executor (two workers: the next test)
    monkeypatch.setattr(type(backend.executor), "workers", 1)
    monkeypatch.setattr(backend.executor, "work_budget", budget)
    assert backend.executor.plan(5, 18 * 16 * 8) == [(0, 2), (2, 4), (4, 5)]
    whole, chunked = _whole_and_chunked(backend, x0, d0, monkeypatch, budget)
    for c, w in zip(chunked, whole):
        np.testing.assert_allclose(c, w, rtol=1e-12)


def test_conv_chunks_are_shared_among_the_devices_workers(backend, monkeypatch):
    """With two workers each chunk gets half the budget and the chunks come in pairs; the
    result is what one chunk in order gives (dW is summed in chunk order, whichever thread ran it)."""
    executor = backend.executor
    monkeypatch.setattr(type(executor), "workers", 2)  # NumPy's chunks on two threads
    monkeypatch.setattr(executor, "work_budget", 4 * 18 * 16 * 2)  # two float32 images
    assert executor.plan(5, 18 * 16 * 4) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]  # 1 image each
    assert executor.plan(2, 4) == [(0, 1), (1, 2)]  # small: still one chunk per worker
    rng = np.random.default_rng(3)
    x0, d0 = rng.standard_normal((5, 2, 4, 4)), rng.standard_normal((5, 3, 4, 4))
    want, got = _whole_and_chunked(backend, x0, d0, monkeypatch, 4 * 18 * 16 * 2, workers=2, dtype="float32")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_conv_chunks_follow_the_devices_work_budget(backend, monkeypatch):
    """16 MiB on a CPU; a GPU allows ~1 GiB, so DeepConvNet's widest layer at batch 1024
    (64 channels of 3x3 over 28x28) is one chunk there, not the 19 a CPU-sized limit gives."""
    executor = backend.executor
    assert executor.work_budget == (16 << 20 if not backend.is_gpu else 1 << 30)
    monkeypatch.setattr(type(executor), "workers", 1)  # one thread: the budget is the chunk's own
    sample = 64 * 9 * 28 * 28 * 4  # float32 columns of one image
    assert len(executor.plan(1024, sample)) == -(-1024 // (executor.work_budget // sample))
    monkeypatch.setattr(executor, "work_budget", 1 << 30)
    assert len(executor.plan(1024, sample)) == 2
    assert executor.plan(None, sample) == [(0, None)]  # a symbolic batch: one piece


def test_the_reference_runs_its_chunks_on_the_cpu_threads(monkeypatch):
    """NumPy's executor runs the reference's chunks on its threads (the im2col of each chunk, seen
    from inside), and the results are one thread's."""
    pytest.importorskip("threadpoolctl")
    import threading

    from anynet.backend._numpy_kernels import NumPyKernels

    seen = set()
    real = NumPyKernels.im2col

    def watched(self, *args):
        seen.add(threading.current_thread().name)
        return real(self, *args)

    monkeypatch.setattr(NumPyKernels, "im2col", watched)
    monkeypatch.setattr(anynet.as_device("cpu").executor, "work_budget", 18 * 16 * 4)  # one image per chunk
    rng = np.random.default_rng(4)
    x, dout = rng.standard_normal((4, 2, 4, 4)).astype(np.float32), rng.standard_normal((4, 3, 4, 4)).astype(np.float32)
    conv = anynet.Conv(2, 3, 3, pad=1)
    out = []
    for workers in (2, 1):
        with anynet.configure(cpu_workers=workers):
            out.append((conv.forward(x), conv.backward(dout), conv.W.grad))
    assert any(name.startswith("anynet-cpu") for name in seen)
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


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


@pytest.mark.parametrize(("kernel", "pad"), [(3, 1), (3, 2), ((2, 3), (0, 1)), (5, 2)])
def test_conv_input_grad_as_transposed_conv_matches_col2im(backend, kernel, pad):
    """The reference's stride-1 input gradient as a convolution of dout agrees with col2im of the
    columns' gradient (W2.T @ dout), in one piece and in several chunks."""
    from anynet.kernels.conv import conv2d_dgrad, dgrad_padding

    rng = np.random.default_rng(9)
    W0 = rng.standard_normal((3, 6, *anynet.layers._windows.pair(kernel, "k", "test")))  # narrows 6 -> 3
    FN, C, FH, FW = W0.shape
    x_shape = (5, 6, 6, 7)
    OH, OW = anynet.kernels.output_size("test", (6, 7), (FH, FW), (1, 1), anynet.layers._windows.pair(pad, "p", "t"))
    ph, pw = anynet.layers._windows.pair(pad, "p", "t")
    assert dgrad_padding(W0.shape, (6, 7), (OH, OW), (1, 1), (ph, pw)) is not None
    d0 = rng.standard_normal((5, FN, OH, OW))
    dcol = W0.reshape(FN, -1).T @ d0.transpose(1, 0, 2, 3).reshape(FN, -1)
    want = host(anynet.kernels.col2im(arr(backend, dcol), x_shape, (FH, FW), (1, 1), (ph, pw)))
    W, dout = arr(backend, W0), arr(backend, d0)
    np.testing.assert_allclose(host(conv2d_dgrad(dout, W, x_shape, (1, 1), (ph, pw))), want, rtol=1e-10, atol=1e-12)


def test_conv_transposed_input_grad_only_where_it_applies():
    from anynet.kernels.conv import dgrad_padding

    assert dgrad_padding((1, 1, 3, 3), (8, 8), (4, 4), (2, 2), (1, 1)) is None  # stride 2
    assert dgrad_padding((1, 1, 3, 3), (4, 4), (8, 8), (1, 1), (3, 3)) is None  # pad >= kernel
    assert dgrad_padding((1, 2, 3, 5), (6, 6), (6, 4), (1, 1), (1, 1)) == (1, 3)


def test_conv_input_grad_path_follows_the_elements_moved():
    """The transposed form runs where its gather of dout is no larger than col2im's product: a
    conv keeping channels and map size, not one that widens the channels."""
    from anynet.kernels.conv import dgrad_padding

    assert dgrad_padding((16, 16, 3, 3), (28, 28), (28, 28), (1, 1), (1, 1)) == (1, 1)
    assert dgrad_padding((32, 32, 3, 3), (14, 14), (16, 16), (1, 1), (2, 2)) == (0, 0)
    assert dgrad_padding((16, 6, 5, 5), (14, 14), (10, 10), (1, 1), (0, 0)) is None  # LeNet-5's second
    assert dgrad_padding((64, 32, 3, 3), (14, 14), (14, 14), (1, 1), (1, 1)) is None
