"""The devices' fused flat updates (``anynet.kernels.fused_update``): on every backend that supplies
them, each equal to its optimizer's own flat step (the reference, run under ``reference()``) over
several steps, in float32 and float64, with a weight-decay hook and a learning-rate schedule,
around a skipped mixed-precision step, and across a checkpoint; ``reference()`` switches them off;
CuPy's are unchecked and run only inside ``unchecked()``. Here torch:cpu runs them; the cupy and
torchcuda cases run on a GPU (``ci/gpu.sh tests``) and are skipped with the reason elsewhere."""

from __future__ import annotations

import types

import numpy as np
import pytest

import anynet
from anynet import kernels
from anynet import optim as O
from anynet.backend import UPDATES, DeviceError, FusedUpdates
from anynet.optim.base import fused, fused_steps
from anynet.testing import arr, backend_fixture, host
from anynet.training.precision import LossScaler, Precision

from ._common import save_and_load

# the backends that supply fused updates, under the name the per-backend summary of conftest.py reads
backend = backend_fixture("backend", ("torch", "cupy", "torchcuda"))

SHAPES = [(4, 5), (4,), (3, 2, 2)]  # the first as the first weights of MLP(4, [5], 3)
STEPS = 6
NAMES = ["SGD", "Momentum", "Nesterov", "Adam", "AdamW"]
TOLERANCE = {"float32": {"rtol": 2e-5, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-14}}


def _optimizer(name):
    """``name`` with a warm-up and cosine schedule and a weight-decay hook (AdamW decays its own way too)."""
    lr = anynet.Warmup(anynet.CosineDecay(0.05, total=STEPS), steps=2)
    extra = {"weight_decay": 0.1} if name == "AdamW" else {}
    return getattr(anynet, name)(lr=lr, hooks=[anynet.WeightDecay(0.01, only_weights=False)], **extra)


def _operation(name):
    return fused_steps()[getattr(O, name)]


def _need(dev, name):
    """The update's name on ``dev``, skipping where the device does not supply it."""
    operation = _operation(name)
    if not anynet.as_device(dev).updates.supplies(operation):
        pytest.skip(f"{dev.name} supplies no {operation}: {name} runs its in-place step there")
    return operation


def _grads(step, dtype):
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def _run(dev, name, dtype, steps, opt=None, params=None):
    """``steps`` updates of ``name`` on fresh (or the given) parameters; returns (params, opt)."""
    rng = np.random.default_rng(0)
    params = params or [anynet.Parameter(arr(dev, rng.standard_normal(s), dtype), f"p{i}")
                        for i, s in enumerate(SHAPES)]
    opt = opt or _optimizer(name)
    for _ in range(steps):
        for p, g in zip(params, _grads(opt.iterations, dtype)):
            p.grad = arr(dev, g, dtype)
        opt.update(params)
    return params, opt


def _assert_close(a, b, dtype):
    for p, q in zip(a, b):
        np.testing.assert_allclose(host(p.data), host(q.data), **TOLERANCE[dtype], err_msg=p.name)
        assert set(p.state) == set(q.state)
        for key in p.state:
            np.testing.assert_allclose(host(p.state[key]), host(q.state[key]), **TOLERANCE[dtype], err_msg=key)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_each_fused_update_equals_the_reference_flat_step(backend, name, dtype):
    operation = _need(backend, name)
    with kernels.unchecked():  # CuPy's are unchecked: this test is what checks them on a GPU
        assert kernels.implementation(operation, backend) == anynet.as_device(backend).updates.name
        fast, opt = _run(backend, name, dtype, STEPS)
        with kernels.reference():
            assert kernels.implementation(operation, backend) == "reference"
            ref, _ = _run(backend, name, dtype, STEPS)
    assert opt._buffer is not None and opt.iterations == STEPS
    assert all(p.data.dtype == backend.float_dtype(dtype) for p in fast)
    _assert_close(fast, ref, dtype)


@pytest.mark.parametrize("name", NAMES)
def test_a_run_resumed_from_a_checkpoint_equals_the_uninterrupted_run(backend, name):
    _need(backend, name)
    with kernels.unchecked():
        straight, _ = _run(backend, name, "float32", STEPS)
        first, opt = _run(backend, name, "float32", 3)
        saved = save_and_load(opt.state_dict(first))
        resumed = [anynet.Parameter(arr(backend, host(p.data), "float32"), p.name) for p in first]
        opt = _optimizer(name)
        opt.load_state_dict(saved, resumed)
        resumed, _ = _run(backend, name, "float32", STEPS - 3, opt, resumed)
    for p, q in zip(straight, resumed):  # the same kernel on the same numbers: bit for bit
        np.testing.assert_array_equal(host(p.data), host(q.data))
        for key in p.state:
            np.testing.assert_array_equal(host(p.state[key]), host(q.state[key]))


def _state(params):
    return [{key: host(value).copy() for key, value in p.state.items()} for p in params]


def _mixed_run(dev, name):
    """Mixed precision as the training step runs it (float16 parameters, float32 master weights in
    a FlatBuffer, dynamic loss scaling) on fixed scaled float16 gradients, the third of five holding
    an Inf: that step must change nothing. Returns the parameters."""
    xp = dev.xp
    anynet.seed(1)
    model, opt = anynet.MLP(4, [5], 3), _optimizer(name)
    prec = Precision("float16", loss_scaler=LossScaler(init_scale=2.0**10))
    prec.prepare(model, opt)
    for step in range(5):
        before = _state(model.params)
        grads = [g * 2.0**10 for g in _grads(step, "float32")[:1]] + [np.ones(p.shape) for p in model.params[1:]]
        if step == 2:
            grads[0][0, 1] = np.inf
        for p, g in zip(model.params, grads):
            p.grad = xp.astype(arr(dev, g, "float32"), xp.float16)
        for p, g in zip(model.params, prec.transform(model.params, [p.grad for p in model.params])):
            p.grad = g
        prec.update(opt.update, model.params)
        if step == 2:  # skipped: the master weights and the optimizer's state as they were
            for old, new in zip(before, _state(model.params)):
                assert old.keys() == new.keys() and len(old) >= 1
                for key in old:
                    np.testing.assert_array_equal(old[key], new[key], err_msg=key)
    assert float(prec.loss_scaler.scale) == 2.0**9
    assert opt._buffer is not None and opt._buffer.data.dtype == xp.float32  # the masters, stepped flat
    return model.params


@pytest.mark.parametrize("name", NAMES)
def test_fused_mixed_precision_skips_a_non_finite_step_as_the_reference_does(backend, name):
    _need(backend, name)
    if "float16" not in backend.float_dtypes:
        pytest.skip(f"{backend.name} has no float16")
    with kernels.unchecked():
        fast = _mixed_run(backend, name)
        with kernels.reference():
            ref = _mixed_run(backend, name)
    for p, q in zip(fast, ref):
        for key in p.state:
            np.testing.assert_allclose(host(p.state[key]), host(q.state[key]), **TOLERANCE["float32"], err_msg=key)


def test_reference_switches_the_fused_updates_off(monkeypatch):
    """Inside reference() the device's fused update is not called at all (a call would raise here)."""
    pytest.importorskip("torch")
    from anynet.backend._torch_updates import TorchFusedUpdates

    dev = anynet.as_device("torch:cpu")

    def refuse(*args, **kwargs):
        raise AssertionError("the fused Adam ran")

    monkeypatch.setattr(TorchFusedUpdates, "adam_update", refuse)
    with kernels.reference():
        _run(dev, "Adam", "float32", 2)
    with pytest.raises(AssertionError, match="fused Adam ran"):
        _run(dev, "Adam", "float32", 2)


def test_what_each_backend_runs(cpu_backend):
    """torch (CPU and CUDA): PyTorch's fused SGD, Adam and AdamW, not Momentum or Nesterov (PyTorch's
    momentum buffer is not anynet's velocity); CuPy: its unchecked kernels, off by default; the rest:
    the optimizers' own flat steps."""
    expected = {"torch": {"sgd_update", "adam_update", "adamw_update"}}.get(cpu_backend.library, set())
    for operation in UPDATES:
        want = "torch" if operation in expected else "reference"
        assert kernels.implementation(operation, cpu_backend) == want, operation
    with kernels.reference():
        assert {kernels.implementation(op, cpu_backend) for op in UPDATES} == {"reference"}


def _cupy_device():
    from anynet.backend._cupy import CuPyDevice

    return CuPyDevice(None, types.SimpleNamespace(id=0), "cuda:0")  # built without a GPU


def test_cupy_supplies_all_five_unchecked_and_off_by_default():
    dev = _cupy_device()
    updates = anynet.as_device(dev).updates
    assert updates.name == "cupy-elementwise" and updates.checked is False
    assert all(updates.supplies(op) for op in UPDATES) and not updates.supplies("conv2d_forward")
    for op in UPDATES:
        assert kernels.implementation(op, dev) == "reference"
    with kernels.unchecked(), kernels.reference():
        assert kernels.implementation("adam_update", dev) == "reference"
    why = updates.unavailable()
    if why is None:
        pytest.skip("CuPy and a GPU work here: the fused tests above check the kernels")
    with kernels.unchecked():
        with pytest.raises(DeviceError, match=r"unchecked cupy-elementwise kernels were switched on .* cannot run"):
            kernels.implementation("sgd_update", dev)


def test_fused_updates_take_float32_and_float64_buffers_only():
    pytest.importorskip("torch")
    dev = anynet.as_device("torch:cpu")
    for dtype, taken in (("float16", False), ("bfloat16", False), ("float32", True), ("float64", True)):
        w = dev.zeros((3,), dev.float_dtype(dtype))
        assert (kernels.fused_update("adam_update", w) is not None) == taken, dtype
    assert kernels.fused_update("momentum_update", dev.zeros((3,), dev.xp.float32)) is None
    assert kernels.fused_update("adam_update", np.zeros(3, np.float32)) is None  # NumPy supplies none
    assert repr(FusedUpdates()) == "FusedUpdates(none)"


class _HalfAdam(O.Adam):
    """Adam at half the learning rate: a subclass that changes the rule."""

    def rule(self, w, g, state, lr, t):
        return super().rule(w, g, state, lr * 0.5, t)


def test_the_fused_updates_belong_to_exactly_these_optimizers(monkeypatch):
    """A subclass that changes the rule gets no fused update (it would run Adam's); registrations
    are one per class and a refused one changes nothing."""
    assert fused_steps() == {O.SGD: "sgd_update", O.Momentum: "momentum_update", O.Nesterov: "nesterov_update",
                             O.Adam: "adam_update", O.AdamW: "adamw_update"}
    pytest.importorskip("torch")
    from anynet.backend._torch_updates import TorchFusedUpdates

    def refuse(*args, **kwargs):
        raise AssertionError("the fused Adam ran for a subclass")

    monkeypatch.setattr(TorchFusedUpdates, "adam_update", refuse)
    dev = anynet.as_device("torch:cpu")
    p = anynet.Parameter(arr(dev, np.ones(3), "float32"))
    p.grad = arr(dev, np.ones(3), "float32")
    _HalfAdam(lr=0.1).update([p])
    with pytest.raises(ValueError, match="fused: Adam already has a fused update, adam_update; got a second, x"):
        fused(O.Adam, "x")(lambda opt, t: {})
    with pytest.raises(TypeError, match="fused: expected an Optimizer subclass, got <class 'int'>"):
        fused(int, "x")
    assert len(fused_steps()) == 5
