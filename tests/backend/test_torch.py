"""PyTorch's device class: zero-copy moves with NumPy, host buffers, GPU-sized budgets."""

from __future__ import annotations

import numpy as np
import pytest

import anynet

torch = pytest.importorskip("torch")


def test_numpy_and_torch_cpu_share_memory_both_ways():
    a = np.arange(6, dtype=np.float32)
    t = anynet.to_device(a, "torch:cpu")
    assert np.shares_memory(a, t.numpy())
    back = anynet.to_device(t, "cpu")
    assert isinstance(back, np.ndarray) and np.shares_memory(back, a)


def test_read_only_arrays_are_copied_not_shared():
    a = np.arange(6, dtype=np.float32)
    a.setflags(write=False)
    t = anynet.to_device(a, "torch:cpu")
    assert not np.shares_memory(a, t.numpy())
    np.testing.assert_array_equal(t.numpy(), a)


def test_a_cpu_tensor_is_its_own_host_buffer():
    dev = anynet.as_device("torch:cpu")
    t = torch.arange(4, dtype=torch.float32)
    buf, own = dev.comm.host_buffer(t)
    assert own and np.shares_memory(buf, t.numpy())
    assert np.shares_memory(dev.comm.from_host(buf).numpy(), buf)


def test_budgets_are_gpu_sized_on_a_gpu_only():
    from anynet.backend import GpuExecutor

    TorchDevice = type(anynet.as_device("torch:cpu"))
    cuda = TorchDevice(None, torch.device("cuda", 0), "torch:cuda:0")
    assert isinstance(cuda.executor, GpuExecutor) and cuda.executor is cuda.executor  # built without a GPU
    assert cuda.executor.work_budget == 1 << 30
    cpu = anynet.as_device("torch:cpu").executor
    assert cpu.work_budget == 16 << 20 and cpu.data_budget == 1 << 30 and cpu.workers == 1


def test_the_generator_saves_and_restores_its_state():
    dev = anynet.as_device("torch:cpu")
    rng = dev.random.new_rng(4)
    saved = dev.random.rng_state(rng)
    first = dev.random.uniform(rng, (3,), torch.float32)
    again = dev.random.uniform(dev.random.restore_rng(saved), (3,), torch.float32)
    assert torch.equal(first, again)
    assert dev.random.restore_rng({"numpy": {}}) is None  # another library's state


def test_several_compiled_trainers_in_one_process(monkeypatch):
    """The layers' shared code is compiled once per model's shapes: the fifth model used to hit
    dynamo's recompile limit (8) and fail. dynamo's own tracing, without code generation."""
    torch = pytest.importorskip("torch")
    import torch._dynamo.backends.registry as registry

    lookup = registry.lookup_backend
    monkeypatch.setattr(registry, "lookup_backend", lambda name: lookup("eager"))
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 8)
    torch._dynamo.reset()
    x = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
    t = np.arange(40) % 2
    try:
        for hidden in range(3, 9):
            with anynet.device("torch:cpu"):
                model = anynet.MLP(4, [hidden], 2)
            trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), compile=True, verbose=0)
            trainer.fit((x, t), epochs=1, batch_size=10)
            assert trainer.epoch == 1
    finally:
        torch._dynamo.reset()
