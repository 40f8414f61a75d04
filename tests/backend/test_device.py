"""Where arrays are born, where results go, and what happens when devices mix."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import types

import numpy as np
import pytest

import anynet
from anynet.layers.base import Layer
from anynet.testing import CPU_BACKENDS, arr, host, resolve_backend


def test_parameters_are_born_on_the_context_device(backend):
    net = anynet.MLP(3, [4], 2, batchnorm=True)
    for p in net.params:
        assert anynet.device_of(p.data) == backend
        assert p.data.dtype == backend.xp.float32  # float32 by default on every library
    assert anynet.device_of(net[1].running_mean) == backend


def test_outputs_follow_the_inputs_namespace(backend):
    net = anynet.MLP(3, [4], 2)
    x = arr(backend, np.ones((2, 3)), "float32")
    with anynet.device("cpu"):  # the context places new arrays only; maths follows the data
        y = net.forward(x)
    assert type(y) is type(x)
    assert anynet.device_of(y) == backend


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


def test_mixing_libraries_is_a_clear_error(backend):
    if backend.is_host:
        pytest.skip("needs a second library")
    net = anynet.Affine(3, 2)  # on the backend
    with pytest.raises(anynet.DeviceError, match=r"Affine: arrays from two libraries.*model.to"):
        net.forward(np.ones((1, 3), dtype=np.float32))


def test_mixing_devices_is_a_clear_error():
    strict = resolve_backend("strict")
    import array_api_strict

    with anynet.device(strict):
        net = anynet.Affine(3, 2)
    x = array_api_strict.ones((1, 3), dtype=array_api_strict.float32)  # default device
    with pytest.raises(anynet.DeviceError, match=r"Affine: arrays on two devices.*device1"):
        net.forward(x)


def test_to_moves_parameters_buffers_and_optimizer_state(backend):
    with anynet.device("cpu"):
        net = anynet.MLP(3, [4], 2, batchnorm=True)
    net.params[0].state["velocity"] = np.zeros((3, 4), dtype=np.float32)
    net.params[0].grad = np.ones((3, 4), dtype=np.float32)
    before = {k: np.array(host(v)) for k, v in net.state_dict().items()}
    net.to(backend)
    for p in net.params:
        assert anynet.device_of(p.data) == backend
    assert anynet.device_of(net.params[0].state["velocity"]) == backend
    assert anynet.device_of(net.params[0].grad) == backend
    assert anynet.device_of(net[1].running_var) == backend
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(host(v), before[k])
    x = arr(backend, np.ones((2, 3)), "float32")
    assert tuple(net.forward(x).shape) == (2, 2)


def test_same_seed_same_initial_weights_everywhere(backend):
    anynet.seed(42)
    here = [host(p.data) for p in anynet.MLP(5, [7, 6], 3).params]
    anynet.seed(42)
    with anynet.device("cpu"):
        reference = [p.data for p in anynet.MLP(5, [7, 6], 3).params]
    for a, b in zip(here, reference):
        np.testing.assert_array_equal(a, b)


def test_to_device_and_to_numpy_round_trip(backend):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = anynet.to_device(a, backend)
    assert anynet.device_of(x) == backend
    np.testing.assert_array_equal(anynet.to_numpy(x), a)
    assert anynet.to_device(x, backend) is x


def test_unknown_device_names_say_what_is_accepted():
    with pytest.raises(anynet.DeviceError, match="use 'cpu', 'cuda'"):
        anynet.as_device("tpu")


def _working_gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no CuPy, or CuPy without a GPU or driver
        return False


def test_cuda_without_cupy_or_gpu_is_a_clear_error(capsys):
    """CI installs CuPy (ci/backends.txt) on machines without a GPU: CuPy imports, and its
    CUDA errors must come out as DeviceError, which the CLI and the examples' CPU fallback catch."""
    if _working_gpu():
        pytest.skip("a GPU is present")
    installed = importlib.util.find_spec("cupy") is not None
    hint = "driver" if installed else "needs the package 'cupy'"
    for spec in ("cuda", "cuda:1", "gpu"):
        with pytest.raises(anynet.DeviceError, match=hint):
            with anynet.device(spec):
                pass
    from anynet.cli import main

    assert main(["train", "--device", "cuda", "--epochs", "1", "--verbose", "0"]) == 2
    assert hint in capsys.readouterr().err
    if installed:
        import cupy

        with pytest.raises(anynet.DeviceError, match="cannot make an array with cupy"):
            anynet.as_device(cupy, "cuda:0")


def test_a_gpu_library_failing_at_import_is_a_device_error(monkeypatch):
    from anynet.backend import _device

    def broken(name):
        raise OSError("libcuda.so.1: cannot open shared object file")

    monkeypatch.setattr(_device.importlib, "import_module", broken)
    with pytest.raises(anynet.DeviceError, match="'cupy' is installed but fails to import.*libcuda"):
        anynet.as_device("cuda")


def test_a_gpu_that_cannot_run_a_kernel_is_a_device_error(monkeypatch):
    """CuPy without its CUDA libraries (NVRTC) imports and counts GPUs, then fails at the first
    kernel: ``anynet.device`` tries one kernel, so the error comes where the device is chosen."""
    from anynet.backend import _cupy

    class FakeDevice:
        def __init__(self, index):
            self.id = index

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def no_nvrtc(*args, **kwargs):
        raise RuntimeError("CuPy failed to load libnvrtc.so.12")

    fake = types.SimpleNamespace(
        cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 2), Device=FakeDevice),
        zeros=no_nvrtc, float32="float32",
    )
    monkeypatch.setattr(_cupy, "import_library", lambda *args: fake)
    with pytest.raises(anynet.DeviceError, match=r"'cuda:1'.*GPU 1 cannot run a kernel.*libnvrtc.*\[cuda12\]"):
        anynet.as_device("cuda:1")


@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_device_names_round_trip(name):
    dev = resolve_backend(name)
    assert anynet.as_device(dev.name) == dev


def test_work_on_other_libraries_never_imports_cupy():
    """With CuPy installed (as on CI), training on NumPy or PyTorch must not import it: array-api-compat
    recognises arrays by type, and the backend imports CuPy only for a CUDA device."""
    code = (
        "import sys, numpy as np, anynet\n"
        "for dev in ('cpu', 'torch:cpu'):\n"
        "    with anynet.device(dev):\n"
        "        t = anynet.Trainer(anynet.MLP(3, [4], 2), anynet.SoftmaxWithLoss(), anynet.SGD(), verbose=0)\n"
        "        t.fit((np.ones((8, 3), np.float32), np.zeros(8, np.int64)), epochs=1, batch_size=4)\n"
        "assert 'cupy' not in sys.modules, 'cupy was imported'\n"
    )
    if importlib.util.find_spec("torch") is None:
        code = code.replace("'cpu', 'torch:cpu'", "'cpu',")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


class _Where(Layer):
    """Records the current device in forward and backward (a layer creating arrays would use it)."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def forward(self, x, train=None):
        self.seen.append(("forward", anynet.current_device()))
        return x

    def backward(self, dout):
        self.seen.append(("backward", anynet.current_device()))
        return dout


def test_computation_enters_the_inputs_device():
    """A model on one device called while another is current computes inside its inputs' device:
    CuPy launches on its current GPU, so a model on cuda:1 would otherwise run on GPU 0. Checked
    here with array-api-strict's two devices; the GPU leg runs it on CuPy."""
    strict = resolve_backend("strict")
    dev1, dev2 = anynet.as_device("array_api_strict:device1"), anynet.as_device("array_api_strict:device2")
    assert strict == dev1
    seen = []
    with anynet.device(dev2):
        model = anynet.Sequential(anynet.Affine(3, 2), _Where(seen))
    opt = anynet.SGD(hooks=[lambda params, grads: seen.append(("update", anynet.current_device())) or grads])
    x = dev2.from_numpy(np.ones((4, 3), np.float32))
    with anynet.device(dev1):
        y = model.forward(x)
        model.backward(y)
        opt.update(model.params)
        assert anynet.current_device() == dev1  # left as it was
    assert seen == [("forward", dev2), ("backward", dev2), ("update", dev2)]
    seen.clear()
    with anynet.device(dev2):  # already there: nothing entered
        model.forward(x)
    assert seen == [("forward", dev2)]


def test_moves_between_devices_of_one_library_skip_the_host(monkeypatch):
    dev1, dev2 = resolve_backend("strict"), anynet.as_device("array_api_strict:device2")
    x = dev1.from_numpy(np.arange(6.0))
    monkeypatch.setattr(type(dev1), "to_numpy", lambda self, a: pytest.fail("went through the host"))
    y = anynet.to_device(x, dev2)
    assert anynet.device_of(y) == dev2


def test_cupy_moves_between_gpus_and_computes_on_the_inputs_gpu():
    """The GPU leg, on a machine with two GPUs: a GPU-to-GPU move stays on the devices, and a
    model on cuda:1 used from outside its context computes there."""
    cupy = pytest.importorskip("cupy")
    dev0 = resolve_backend("cupy")
    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    dev1 = anynet.as_device("cuda:1")
    assert anynet.as_device(cupy, "cuda:1") == dev1
    x0 = dev0.from_numpy(np.arange(6.0, dtype=np.float32))
    x1 = anynet.to_device(x0, dev1)
    assert x1.device.id == 1 and anynet.to_numpy(x1).tolist() == list(range(6))
    with anynet.device(dev1):
        model = anynet.MLP(3, [4], 2, dropout=0.5)
    xb = dev1.from_numpy(np.ones((5, 3), np.float32))
    y = model.forward(xb, train=True)  # no context: CuPy's current GPU is 0
    model.backward(y)
    anynet.SGD().update(model.params)
    assert y.device.id == 1 and all(p.data.device.id == 1 for p in model.params)
