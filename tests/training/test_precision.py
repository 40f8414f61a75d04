"""Precision (anynet.training.precision): the float dtypes of each device, float64 end to end, every layer
in float16/bfloat16 against float32, float32 accumulation, loss scaling (a forced overflow halves
the scale and skips exactly that step), master weights in checkpoints, the command line."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

import anynet
from anynet import backend
from anynet.testing import arr, host, resolve_backend, tie_free
from anynet.training.precision import LossScaler, Precision

NARROW = ("float16", "bfloat16")
TOL = {"float16": 1e-2, "bfloat16": 5e-2}  # relative error of a whole array against float32


def _need(dev, name):
    if name not in dev.float_dtypes:
        pytest.skip(f"{dev.name} has no {name}; {dev.dtype_advice.get(name, '')}")
    return dev.float_dtype(name)


def test_every_device_lists_its_float_dtypes(backend):
    have = backend.float_dtypes
    assert {"float32", "float64"} <= set(have)  # the tests run JAX in 64-bit mode
    for dtype in have.values():
        assert backend.zeros((2,), dtype).dtype == dtype
        assert host(backend.zeros((2,), dtype)).dtype.kind == "f"
    assert backend.float_dtype("float32") == backend.xp.float32


def test_missing_dtype_names_device_and_alternatives():
    with pytest.raises(anynet.DeviceError, match=r"'cpu' has no bfloat16; it has float16, float32, float64; "
                                                 r"bfloat16 runs on 'torch:cpu'"):
        backend.as_device("cpu").float_dtype("bfloat16")
    with pytest.raises(anynet.DeviceError, match="unknown floating dtype 'float8'"):
        backend.as_device("cpu").float_dtype("float8")
    with pytest.raises(anynet.DeviceError, match="has no float16"):
        with anynet.device(resolve_backend("strict"), dtype="float16"):
            pass


def test_jax_without_64_bit_mode_has_no_float64():
    jax = pytest.importorskip("jax")
    dev = resolve_backend("jax")
    jax.config.update("jax_enable_x64", False)
    try:
        assert "float64" not in dev.float_dtypes
        with pytest.raises(anynet.DeviceError, match="jax_enable_x64"):
            dev.float_dtype("float64")
    finally:
        jax.config.update("jax_enable_x64", True)


# -- every layer in float16 / bfloat16 agrees with float32 -------------------------------------

def _ids(shape, rng):
    return rng.integers(0, 7, shape)


LAYERS = {
    "Affine": (lambda: anynet.Affine(6, 5), (4, 6), tie_free),
    "MatMul": (lambda: anynet.MatMul(6, 5), (4, 6), tie_free),
    "Conv": (lambda: anynet.Conv(2, 3, 3, pad=1), (2, 2, 5, 5), tie_free),
    "MaxPool": (lambda: anynet.MaxPool(2), (2, 2, 4, 4), tie_free),
    "AvgPool": (lambda: anynet.AvgPool(2), (2, 2, 4, 4), tie_free),
    "ReLU": (anynet.ReLU, (4, 6), tie_free),
    "LeakyReLU": (anynet.LeakyReLU, (4, 6), tie_free),
    "ELU": (anynet.ELU, (4, 6), tie_free),
    "Sigmoid": (anynet.Sigmoid, (4, 6), tie_free),
    "Tanh": (anynet.Tanh, (4, 6), tie_free),
    "Softmax": (anynet.Softmax, (4, 6), tie_free),
    "LogSoftmax": (anynet.LogSoftmax, (4, 6), tie_free),
    "BatchNorm": (lambda: anynet.BatchNorm(6), (8, 6), tie_free),
    "BatchNorm-4d": (lambda: anynet.BatchNorm(2), (4, 2, 3, 3), tie_free),
    "LRN": (lambda: anynet.LRN(3), (2, 4, 3, 3), tie_free),
    "Dropout": (lambda: anynet.Dropout(0.0), (4, 6), tie_free),
    "Flatten": (anynet.Flatten, (2, 3, 4), tie_free),
    "Embedding": (lambda: anynet.Embedding(7, 4), (5,), _ids),
    "TimeEmbedding": (lambda: anynet.TimeEmbedding(7, 4), (2, 3), _ids),
    "TimeAffine": (lambda: anynet.TimeAffine(4, 5), (2, 3, 4), tie_free),
    "TimeRNN": (lambda: anynet.TimeRNN(4, 5), (2, 3, 4), tie_free),
    "TimeLSTM": (lambda: anynet.TimeLSTM(4, 5), (2, 3, 4), tie_free),
    "TimeGRU": (lambda: anynet.TimeGRU(4, 5), (2, 3, 4), tie_free),
    "GELU": (anynet.GELU, (4, 6), tie_free),
    "LayerNorm": (lambda: anynet.LayerNorm(6), (2, 3, 6), tie_free),
    "MultiHeadAttention": (lambda: anynet.MultiHeadAttention(8, 2, causal=True), (2, 3, 8), tie_free),
    "PositionalEncoding": (lambda: anynet.PositionalEncoding(5, 4), (2, 3, 4), tie_free),
    "PositionalEncoding-learned": (lambda: anynet.PositionalEncoding(5, 4, learned=True), (2, 3, 4), tie_free),
    "TransformerBlock": (lambda: anynet.TransformerBlock(8, 2, causal=True), (2, 3, 8), tie_free),
}


def _run(dev, layer, x0, d0, dtype):
    """forward and backward of ``layer`` with its parameters, buffers, x and dout in ``dtype``."""
    xp = dev.xp
    for p in layer.params:
        p.data = xp.astype(p.data, dtype)
    for name in layer.buffers:
        setattr(layer, name, xp.astype(getattr(layer, name), dtype))
    x = arr(dev, x0)
    if x0.dtype.kind == "f":
        x = xp.astype(x, dtype)
    y = layer.forward(x, train=True)
    assert y.dtype == dtype, f"{layer.name}: forward in {dtype} returned {y.dtype}"
    dx = layer.backward(xp.astype(arr(dev, d0), dtype))
    grads = [p.grad for p in layer.params]
    assert all(g.dtype == dtype for g in grads)
    out = [y, *grads] + ([dx] if x0.dtype.kind == "f" else [])
    return [host(xp.astype(a, xp.float32)).astype(np.float64) for a in out]


@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_in_narrow_dtype_agrees_with_float32(cpu_backend, name, dtype):
    narrow = _need(cpu_backend, dtype)
    make, shape, inputs = LAYERS[name]
    rng = np.random.default_rng(0)
    x0 = inputs(shape, rng)
    layer = make()
    narrow_layer = copy.deepcopy(layer)
    y_shape = tuple(layer.forward(arr(cpu_backend, x0.astype(np.float32) if x0.dtype.kind == "f" else x0)).shape)
    d0 = rng.standard_normal(y_shape)
    want = _run(cpu_backend, layer, x0, d0, cpu_backend.xp.float32)
    got = _run(cpu_backend, narrow_layer, x0, d0, narrow)
    # relative to the array, or to a tenth of the largest output for a gradient that cancels to
    # (nearly) zero in exact arithmetic (attention's key bias), where the narrow dtype's rounding
    # of the cancelling terms is all that is left
    floor = 0.1 * max(np.linalg.norm(b) for b in want)
    for i, (a, b) in enumerate(zip(got, want)):
        err = np.linalg.norm(a - b) / max(np.linalg.norm(b), floor)
        assert err <= TOL[dtype], f"{name} in {dtype}: output {i} off by {err:.2e} (relative), tolerance {TOL[dtype]}"


@pytest.mark.parametrize("dtype", NARROW)
def test_losses_softmax_and_accuracy_accumulate_in_float32(cpu_backend, dtype):
    narrow = _need(cpu_backend, dtype)
    xp = cpu_backend.xp
    rng = np.random.default_rng(1)
    x0, t0 = rng.standard_normal((300, 10)) * 4, rng.integers(0, 10, 300)
    x = xp.astype(arr(cpu_backend, x0), narrow)
    t = arr(cpu_backend, t0)
    loss = anynet.SoftmaxWithLoss()
    value = loss.forward(x, t)
    assert value.dtype == xp.float32
    dx = loss.backward()
    assert dx.dtype == narrow
    x_wide = host(xp.astype(x, xp.float32)).astype(np.float64)  # the narrow values, exactly
    logp = x_wide - x_wide.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    assert abs(float(value) + logp[np.arange(300), t0].mean()) < 1e-5
    hits = anynet.accuracy(x, t)
    assert hits.dtype == xp.float32
    assert float(hits) == pytest.approx((x_wide.argmax(1) == t0).mean(), abs=1e-6)
    mse = anynet.MeanSquaredError()  # float targets of float32 with narrow scores
    assert mse.forward(x, arr(cpu_backend, x0.astype(np.float32))).dtype == xp.float32
    assert mse.backward().dtype == narrow


# -- float64 end to end -------------------------------------------------------------------------

def _spiral(n=150):
    x, t = anynet.data.spiral()
    return x[:n], t[:n]


def test_float64_trains_end_to_end_on_every_backend(cpu_backend, tmp_path):
    x, t = _spiral()
    with anynet.device(cpu_backend, dtype="float64"):
        model = anynet.MLP(2, [16], 3)
        assert all(p.data.dtype == cpu_backend.xp.float64 for p in model.params)
        trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.Adam(0.05), verbose=0)
        trainer.fit((x, t), epochs=6, batch_size=50)
    f64 = cpu_backend.xp.float64
    assert all(v.dtype == f64 for p in model.params for v in (p.data, *p.state.values()))
    assert trainer.history["loss"][-1] < trainer.history["loss"][0]
    path = anynet.training.checkpoint.save(tmp_path / "c.npz", model, trainer.optimizer)
    with anynet.device(cpu_backend, dtype="float64"):
        again = anynet.MLP(2, [16], 3)
        opt = anynet.Adam(0.05)
        anynet.training.checkpoint.load(path, again, opt)
    for p, q in zip(model.params, again.params):
        assert q.data.dtype == f64
        np.testing.assert_array_equal(host(p.data), host(q.data))
        np.testing.assert_array_equal(host(p.state["m"]), host(q.state["m"]))


def test_float64_model_from_dtype_arguments_trains_with_float32_data():
    x, t = _spiral()
    model = anynet.MLP(2, [8], 3, dtype="float64")
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.5), verbose=0)
    assert trainer.precision.compute == "float64"  # read from the model
    trainer.fit((x.astype(np.float32), t), epochs=2, batch_size=50)
    assert model.params[0].data.dtype == np.float64


# -- mixed precision: master weights, loss scaling -----------------------------------------------

@pytest.mark.parametrize("dtype", NARROW)
def test_mixed_precision_keeps_float32_master_weights_and_state(cpu_backend, dtype):
    narrow = _need(cpu_backend, dtype)
    x, t = _spiral()
    model = anynet.MLP(2, [16], 3)
    w0 = host(model.params[0].data).copy()
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.Adam(0.02), verbose=0, precision=dtype)
    trainer.fit((x, t), epochs=3, batch_size=50)
    f32 = cpu_backend.xp.float32
    for p in model.params:
        assert p.data.dtype == narrow
        assert {k: v.dtype for k, v in p.state.items()} == {"master": f32, "m": f32, "v": f32}
        master = host(cpu_backend.xp.astype(p.state["master"], narrow))
        np.testing.assert_array_equal(host(cpu_backend.xp.astype(p.data, f32)), host(
            cpu_backend.xp.astype(cpu_backend.xp.asarray(master), f32)))
    assert not np.array_equal(w0, host(model.params[0].state["master"]))
    assert trainer.history["loss"][-1] < trainer.history["loss"][0]


def _step(model, loss, prec, opt, x, t):
    """One training step as the Trainer runs it."""
    loss.forward(model.forward(x, train=True), t)
    model.backward(loss.backward(prec.seed(1.0)))
    params = [p for p in model.params if p.grad is not None]
    for p, g in zip(params, prec.transform(params, [p.grad for p in params])):
        p.grad = g
    prec.update(opt.update, params)


@pytest.mark.parametrize("compute", ["float16", "float32"])
def test_forced_overflow_halves_the_scale_and_skips_exactly_that_step(cpu_backend, compute):
    """float16 (master weights) and float32 with a scaler (where Momentum updates one flat buffer in
    place on writable arrays: the skip must still restore every array)."""
    dtype = _need(cpu_backend, compute)
    xp = cpu_backend.xp
    rng = np.random.default_rng(0)
    x = xp.astype(arr(cpu_backend, rng.standard_normal((8, 4))), dtype)
    t = arr(cpu_backend, rng.integers(0, 3, 8))
    model, loss, opt = anynet.MLP(4, [5], 3), anynet.SoftmaxWithLoss(), anynet.Momentum(0.1)
    prec = Precision(compute, loss_scaler=LossScaler(init_scale=2.0**10, growth_interval=2))
    prec.prepare(model, opt)

    def snapshot():
        return [(host(p.data).copy(), {k: host(v).copy() for k, v in p.state.items()}) for p in model.params]

    _step(model, loss, prec, opt, x, t)  # a good step: the state now holds a velocity
    assert float(prec.loss_scaler.scale) == 2.0**10 and int(prec.loss_scaler.good_steps) == 1
    before = snapshot()
    x_bad = arr(cpu_backend, np.where(np.arange(32).reshape(8, 4) == 5, np.inf, host(xp.astype(x, xp.float32))))
    with anynet.debug(False):  # an Inf in the batch: the step's gradients are non-finite
        _step(model, loss, prec, opt, xp.astype(x_bad, dtype), t)
    assert float(prec.loss_scaler.scale) == 2.0**9 and int(prec.loss_scaler.good_steps) == 0
    for (d0, s0), p in zip(before, model.params):  # skipped: everything as it was
        np.testing.assert_array_equal(host(p.data), d0)
        for k, v in s0.items():
            np.testing.assert_array_equal(host(p.state[k]), v)
    _step(model, loss, prec, opt, x, t)  # the next step updates again
    assert not np.array_equal(host(model.params[0].data), before[0][0])
    _step(model, loss, prec, opt, x, t)  # the second good step in a row: the scale doubles
    assert float(prec.loss_scaler.scale) == 2.0**10 and int(prec.loss_scaler.good_steps) == 0


def test_static_scale_never_changes():
    model, opt = anynet.MLP(2, [4], 3), anynet.SGD(0.1)
    prec = Precision("float16", loss_scaler=LossScaler(128.0, dynamic=False))
    prec.prepare(model, opt)
    x, t = _spiral(20)
    for _ in range(3):
        _step(model, anynet.SoftmaxWithLoss(), prec, opt, x.astype(np.float16), t)
    assert float(prec.loss_scaler.scale) == 128.0 and prec.loss_scaler.finite is None


@pytest.mark.parametrize("dtype", NARROW)
def test_mixed_precision_resumes_exactly(cpu_backend, tmp_path, dtype):
    _need(cpu_backend, dtype)
    x, t = _spiral()

    def trainer(callbacks=()):
        anynet.seed(3)
        return anynet.Trainer(anynet.MLP(2, [8], 3), anynet.SoftmaxWithLoss(), anynet.Adam(0.02), verbose=0,
                              precision=dtype, callbacks=callbacks)

    whole = trainer()
    whole.fit((x, t), epochs=2, batch_size=30)
    ckpt = str(tmp_path / "c.npz")
    first = trainer([anynet.training.Checkpoint(ckpt, every=1)])
    first.fit((x, t), epochs=1, batch_size=30)
    resumed = trainer()
    resumed.fit((x, t), epochs=2, batch_size=30, resume=ckpt)
    for p, q in zip(whole.model.params, resumed.model.params):
        np.testing.assert_array_equal(host(p.state["master"]), host(q.state["master"]))
        np.testing.assert_array_equal(host(p.state["v"]), host(q.state["v"]))
    assert whole.precision.state() == resumed.precision.state()


def test_checkpoint_refuses_another_precision(tmp_path):
    x, t = _spiral(30)
    a = anynet.Trainer(anynet.MLP(2, [4], 3), anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0,
                       precision="float16", callbacks=[anynet.training.Checkpoint(str(tmp_path / "c.npz"), every=1)])
    a.fit((x, t), epochs=1)
    b = anynet.Trainer(anynet.MLP(2, [4], 3), anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0)
    with pytest.raises(anynet.training.CheckpointError, match="float16"):
        b.load(str(tmp_path / "c.npz"))


def test_precision_and_scaler_arguments_are_checked():
    with pytest.raises(ValueError, match="Precision: compute must be one of"):
        Precision("float8")
    with pytest.raises(ValueError, match="Precision: master must be float32 or float64"):
        Precision("float16", master="float16")
    with pytest.raises(ValueError, match="LossScaler: growth_interval must be an integer >= 1"):
        LossScaler(growth_interval=0)
    with pytest.raises(ValueError, match="LossScaler: backoff_factor must lie in"):
        LossScaler(backoff_factor=2.0)
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        anynet.Trainer(anynet.MLP(2, [4], 3), anynet.SoftmaxWithLoss(), anynet.SGD(0.1), precision="half")


def test_the_trainers_precision_brings_the_model_to_it_when_training_starts():
    with anynet.device("cpu"):
        model = anynet.MLP(2, [4], 3)
        trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0, precision="float16")
    assert model.params[0].data.dtype == np.float32  # born in the master dtype
    assert trainer.precision.compute == "float16" and trainer.precision.loss_scaler is not None
    trainer.fit(_spiral(30), epochs=1)
    assert model.params[0].data.dtype == np.float16


# -- whole runs ---------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:overflow encountered")  # float16 steps the scaler skips
@pytest.mark.parametrize("precision", ["float32", "float64", "float16", "bfloat16"])
def test_cli_spiral_reaches_95_percent(tmp_path, capsys, precision):
    """The full run (300 epochs) on NumPy; ``--device torch:cpu`` was checked by hand (a few
    minutes each on a shared CPU). NumPy has no bfloat16: the command says so."""
    from anynet import cli

    args = ["train", "--data", "spiral", "--precision", precision, "--out", str(tmp_path), "--verbose", "0"]
    status = cli.main(args)
    out, err = capsys.readouterr()
    if precision == "bfloat16":
        assert status == 2 and "has no bfloat16" in err
        return
    assert status == 0, err
    accuracy = float(out.rsplit("test accuracy ", 1)[1].rstrip().rstrip("%")) / 100
    assert accuracy >= 0.95, out
    assert cli.main(["evaluate", os.path.join(str(tmp_path), "checkpoint.npz")]) == 0


FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(FASHION), reason=f"no Fashion-MNIST files in {FASHION}")
@pytest.mark.parametrize("model_name", ["mlp", "simple-convnet"])
def test_mixed_precision_accuracy_within_a_point_of_float32(model_name):
    """3000 training and 5000 test images, 2 epochs: float16 and bfloat16 (on PyTorch; float16 on
    NumPy without it) reach the float32 test accuracy within 1 point."""
    from anynet.cli import build_model, load_data

    train, test = load_data("fashion-mnist", model_name == "mlp", FASHION, download=False)
    train, test = train.subset(slice(0, 3000)), test.subset(slice(0, 5000))
    # on PyTorch where it is installed: NumPy's float16 has no BLAS and takes minutes here
    runs = [("torch:cpu", "float16")] if _has("torch") else [("cpu", "float16")]
    if "bfloat16" in (resolve_backend("torch").float_dtypes if _has("torch") else {}):
        runs.append(("torch:cpu", "bfloat16"))
    for spec, dtype in runs:
        acc = {}
        for precision in ("float32", dtype):
            anynet.seed(0)
            with anynet.device(spec):
                model = build_model(model_name, "fashion-mnist", hidden=100, layers=2)
                trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0,
                                         precision=precision)
                trainer.fit(train, epochs=2, batch_size=100)
                acc[precision] = trainer.evaluate(test)[1]
        # reaching float32's accuracy within a point; a short run may also land above it
        assert acc[dtype] >= acc["float32"] - 0.01, f"{model_name} on {spec}: {acc}"


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_checkpoint_schema_checks_the_precision_fields(tmp_path):
    import json
    import zipfile

    x, t = _spiral(30)
    path = str(tmp_path / "c.npz")
    trainer = anynet.Trainer(anynet.MLP(2, [4], 3), anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0,
                             precision="float16", callbacks=[anynet.training.Checkpoint(path, every=1)])
    trainer.fit((x, t), epochs=1)
    meta, _ = anynet.training.checkpoint.read(path)
    assert meta["trainer"]["precision"]["loss_scaler"]["scale"] > 0
    meta["trainer"]["precision"]["loss_scaler"]["scale"] = -1.0
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    bad = str(tmp_path / "bad.npz")
    np.savez(bad, **arrays)
    assert zipfile.is_zipfile(bad)
    with pytest.raises(anynet.training.CheckpointError, match="trainer.precision.loss_scaler"):
        anynet.training.checkpoint.read(bad)


def test_compiled_step_trains_bfloat16_and_refuses_loss_scaling():
    """The one TrainStep, compiled (jax.jit): bfloat16 with float32 master weights and state;
    float16's loss scaler keeps its scale outside the traced state, so it is refused clearly."""
    dev = resolve_backend("jax")
    x, t = _spiral()
    with anynet.device(dev):
        model = anynet.MLP(2, [16], 3)
        trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.Adam(0.02), verbose=0, compile=True,
                                 precision="bfloat16")
        trainer.fit((x, t), epochs=4, batch_size=50)
        assert trainer.history["loss"][-1] < trainer.history["loss"][0]
        p = model.params[0]
        assert (p.data.dtype, p.state["master"].dtype, p.state["m"].dtype) == (
            dev.float_dtype("bfloat16"), dev.xp.float32, dev.xp.float32)
        scaled = anynet.Trainer(anynet.MLP(2, [4], 3), anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0,
                                compile=True, precision="float16")
        with pytest.raises(anynet.training.CompileError, match="loss scaling"):
            scaled.fit((x, t), epochs=1)


# -- the precision plug-in's own state ---------------------------------------------------------


def test_mixed_precision_builds_the_optimizers_flat_buffer_once(monkeypatch):
    """The master weights are the same Parameter objects every step: the optimizer recognises
    them and lays them in one flat buffer once, as in float32 (it was rebuilt every step)."""
    from anynet.parameter import FlatBuffer

    built = []
    original = FlatBuffer.__init__

    def counting(self, params):
        built.append(len(list(params)))
        original(self, params)

    monkeypatch.setattr(FlatBuffer, "__init__", counting)
    counts = {}
    for precision in ("float32", "float16"):
        built.clear()
        anynet.seed(0)
        model = anynet.MLP(2, [8], 3)
        trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.Adam(1e-3), verbose=0, precision=precision)
        trainer.fit(_spiral(100), epochs=1, batch_size=10)  # 10 steps
        counts[precision] = len(built)
    assert counts == {"float32": 1, "float16": 1}


class _Block(anynet.Composite):
    """An Affine and a BatchNorm as the parts of a composite layer."""

    def __init__(self):
        super().__init__()
        self.add("affine", anynet.Affine(2, 3))
        self.add("bn", anynet.BatchNorm(3))

    def forward(self, x, train=None):
        return self.bn.forward(self.affine.forward(x, train), train)

    def backward(self, dout):
        return self.affine.backward(self.bn.backward(dout))


def test_precision_reaches_the_buffers_of_a_batchnorm_inside_a_composite():
    model = anynet.Sequential(_Block(), anynet.ReLU(), anynet.Affine(3, 3))
    anynet.Precision("float64").prepare(model)
    bn = model.layers[0].bn
    assert bn.running_mean.dtype == np.float64 and bn.running_var.dtype == np.float64
    assert all(p.data.dtype == np.float64 for p in model.params)


class _InfGradient(anynet.Affine):
    """An Affine whose weight gradient overflows at every step (the loss stays finite)."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.W.grad = self.W.grad * float("inf")
        return dx


def test_loss_scaling_has_a_floor_and_a_run_that_skips_every_step_stops(tmp_path):
    x, t = _spiral(50)
    model = anynet.Sequential(_InfGradient(2, 3))
    w0 = host(model.params[0].data).copy()
    precision = anynet.Precision("float32", loss_scaler=anynet.LossScaler(2.0**4, min_scale=1.0))
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0, precision=precision)
    with pytest.raises(anynet.TrainingDiverged, match="skipped every step of epoch 1"):
        trainer.fit((x, t), epochs=20, batch_size=10)
    assert precision.loss_scaler.state()["scale"] == 1.0  # 16 -> 8 -> 4 -> 2 -> 1, then held there
    np.testing.assert_array_equal(host(model.params[0].data), w0)
    path = anynet.training.checkpoint.save(tmp_path / "c.npz", model, trainer.optimizer, trainer.state())
    again = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0,
                           precision=anynet.Precision("float32", loss_scaler=anynet.LossScaler(2.0**4)))
    again.load(path)  # resumable: the saved scale is the floor, not 0
    assert again.precision.loss_scaler.state()["scale"] == 1.0


def test_a_floor_above_the_initial_scale_is_refused():
    with pytest.raises(ValueError, match="min_scale"):
        anynet.LossScaler(2.0, min_scale=4.0)
