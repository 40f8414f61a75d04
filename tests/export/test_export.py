"""ONNX export (anynet.export, ``anynet export``): every zoo model traced on ndonnx with a symbolic
batch size, checked by onnx.checker and run in onnxruntime against ``predict`` on NumPy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import anynet
from anynet import backend
from anynet.cli import main
from anynet.models import (
    MLP,
    VGG,
    AlexNet,
    DeepConvNet,
    LanguageModel,
    LeNet5,
    SequenceClassifier,
    SimpleConvNet,
    TransformerLM,
    TwoLayerNet,
)

_WHY = "the extra 'onnx' is not installed (pip install 'anynet[onnx]')"
ndonnx = pytest.importorskip("ndonnx", reason=_WHY)
ort = pytest.importorskip("onnxruntime", reason=_WHY)
onnx = pytest.importorskip("onnx", reason=_WHY)

from anynet.export import ExportError, to_onnx  # noqa: E402 - after the skip

VOCAB = 7

# name -> (a small model of the zoo, the shape of one example, the ONNX operators its layers become)
ZOO = {
    "MLP": (lambda: MLP(6, [8, 8], 3, batchnorm=True, dropout=0.5), (6,), {"Gemm"}),
    "TwoLayerNet": (lambda: TwoLayerNet(6, 8, 3), (6,), {"Gemm"}),
    "SimpleConvNet": (lambda: SimpleConvNet((1, 8, 8), 3, filter_num=4, filter_size=3, hidden_size=8), (1, 8, 8),
                      {"Conv", "MaxPool", "Gemm"}),
    "LeNet5": (lambda: LeNet5((1, 12, 12), 3, pool="avg"), (1, 12, 12), {"Conv", "AveragePool", "Gemm"}),
    "DeepConvNet": (lambda: DeepConvNet((2, 12, 12), 3, channels=(2, 2, 3, 3, 4, 4), hidden_size=8,
                                        batchnorm=True), (2, 12, 12), {"Conv", "MaxPool", "Gemm"}),
    "VGG": (lambda: VGG((1, 8, 8), 3, blocks=((2,), (3,)), hidden_size=8), (1, 8, 8), {"Conv", "MaxPool", "Gemm"}),
    "AlexNet": (lambda: AlexNet((1, 12, 12), 3, channels=(2, 3, 4, 4, 3), hidden_size=8), (1, 12, 12),
                {"Conv", "LRN", "MaxPool", "Gemm"}),
    "SequenceClassifier": (lambda: SequenceClassifier(4, 5, 3, cell="gru", layers=2), (3, 4), {"GRU", "Gemm"}),
    "LanguageModel": (lambda: LanguageModel(VOCAB, 4, 5, cell="lstm", layers=2, dropout=0.3), (3,),
                      {"LSTM", "MatMul"}),
    "TransformerLM": (lambda: TransformerLM(VOCAB, 8, 2, layers=1, max_len=16, dropout=0.1), (5,), {"MatMul"}),
}


def _model(name):
    model = ZOO[name][0]()
    # Running statistics away from (0, 1), so that using them (and not the batch's) shows.
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if hasattr(layer, "running_var"):
            n = layer.num_features
            layer.running_mean = rng.normal(size=n).astype(np.float32)
            layer.running_var = rng.uniform(0.5, 2.0, n).astype(np.float32)
    return model


def _batch(name, n, seed=1):
    rng = np.random.default_rng(seed)
    shape = (n, *ZOO[name][1])
    if name in ("LanguageModel", "TransformerLM"):
        return rng.integers(0, VOCAB, shape)
    return rng.standard_normal(shape).astype(np.float32)


def _zero_states(session, n):
    return {i.name: np.zeros((n, i.shape[1]), np.float32) for i in session.get_inputs() if i.name != "x"}


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x, **_zero_states(session, x.shape[0])})[0]


@pytest.mark.parametrize("name", list(ZOO))
def test_every_zoo_model_exports_and_matches_predict_at_two_batch_sizes(name, tmp_path):
    model = _model(name)
    path = tmp_path / f"{name}.onnx"
    to_onnx(model, (None, *ZOO[name][1]), path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param == "N" and not batch_dim.HasField("dim_value")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        x = _batch(name, n)
        y = session.run(["y"], {"x": x, **_zero_states(session, n)})[0]
        if hasattr(model, "reset_state"):
            model.reset_state()
        expected = model.predict(x)
        assert y.shape == expected.shape and y.dtype == expected.dtype
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
        assert np.ptp(expected) > 1e-3  # outputs that differ: the comparison can fail


@pytest.mark.parametrize("name", list(ZOO))
def test_whole_onnx_operators_agree_with_the_traced_reference(name, tmp_path):
    model = _model(name)
    shape = (None, *ZOO[name][1])
    fast = to_onnx(model, shape, tmp_path / "fast.onnx")
    traced = to_onnx(model, shape, tmp_path / "traced.onnx", operators=False)
    onnx.checker.check_model(traced, full_check=True)
    kinds = {node.op_type for node in fast.graph.node}
    assert ZOO[name][2] <= kinds and not ZOO[name][2] & {node.op_type for node in traced.graph.node}
    assert len(fast.graph.node) < len(traced.graph.node)
    x = _batch(name, 7)
    np.testing.assert_allclose(_run(tmp_path / "fast.onnx", x), _run(tmp_path / "traced.onnx", x),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_each_recurrent_cell_as_its_onnx_operator_carries_state(cell, tmp_path):
    model = LanguageModel(VOCAB, 4, 5, cell=cell, layers=1)
    proto = to_onnx(model, (None, 3), tmp_path / "lm.onnx")
    assert cell.upper() in {node.op_type for node in proto.graph.node}
    session = ort.InferenceSession(str(tmp_path / "lm.onnx"), providers=["CPUExecutionProvider"])
    outs = [o.name for o in session.get_outputs()]
    feed = _zero_states(session, 2)
    for seed in (1, 2):
        chunk = _batch("LanguageModel", 2, seed)
        y, *state = session.run(outs, {**feed, "x": chunk})
        np.testing.assert_allclose(y, model.predict(chunk), rtol=1e-5, atol=1e-5)
        feed = dict(zip([name[:-len("_next")] for name in outs[1:]], state))


def test_an_even_lrn_window_is_traced_not_emitted(tmp_path):
    model = anynet.Sequential(anynet.Conv(1, 4, 3), anynet.LRN(size=4))
    proto = to_onnx(model, (None, 1, 6, 6), tmp_path / "lrn.onnx")
    assert "LRN" not in {node.op_type for node in proto.graph.node}  # ONNX centres even windows otherwise
    x = np.random.default_rng(0).standard_normal((3, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(_run(tmp_path / "lrn.onnx", x), model.predict(x), rtol=1e-5, atol=1e-6)


def test_export_leaves_the_model_as_it_was(tmp_path):
    model = _model("DeepConvNet")
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    to_onnx(model, (None, 2, 12, 12), tmp_path / "m.onnx")
    assert model.training
    for key, value in model.state_dict().items():
        assert isinstance(value, np.ndarray)
        np.testing.assert_array_equal(value, before[key])
    model.forward(_batch("DeepConvNet", 2), train=True)  # still trains on NumPy (dropout draws)


def test_language_model_carries_its_state_through_the_graph(tmp_path):
    model = _model("LanguageModel")
    path = tmp_path / "lm.onnx"
    to_onnx(model, (None, 3), path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x", "h0", "c0", "h1", "c1"]
    outs = [o.name for o in session.get_outputs()]
    assert outs == ["y", "h0_next", "c0_next", "h1_next", "c1_next"]
    model.reset_state()
    feed = _zero_states(session, 2)
    for chunk in (_batch("LanguageModel", 2, seed=1), _batch("LanguageModel", 2, seed=2)):
        y, *state = session.run(outs, {**feed, "x": chunk})
        np.testing.assert_allclose(y, model.predict(chunk), rtol=1e-5, atol=1e-5)  # carries its state too
        feed = dict(zip(["h0", "c0", "h1", "c1"], state))
    last = [layer for layer in model.layers if getattr(layer, "stateful", False)][-1]
    np.testing.assert_allclose(feed["h1"], backend.to_numpy(last.state[0]), rtol=1e-5, atol=1e-6)


def test_a_fixed_batch_size_and_float64(tmp_path):
    model = TwoLayerNet(6, 8, 3, dtype="float64")
    path = tmp_path / "fixed.onnx"
    to_onnx(model, (4, 6), path, dynamic_batch=False)
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, 6]
    x = np.random.default_rng(0).standard_normal((4, 6))
    y = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["y"], {"x": x})[0]
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, model.predict(x), rtol=1e-12)


def test_a_model_on_any_cpu_backend_exports(cpu_backend, tmp_path):
    model = TwoLayerNet(6, 8, 3)
    x = _batch("TwoLayerNet", 5)
    expected = backend.to_numpy(model.predict(cpu_backend.from_numpy(x)))
    to_onnx(model, (None, 6), tmp_path / "m.onnx")
    assert model.device == cpu_backend
    y = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(["y"], {"x": x})[0]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_bad_shapes_are_refused_with_the_reason():
    model = TwoLayerNet(6, 8, 3)
    with pytest.raises(ExportError, match=r"Affine: expected x of shape \(N, 6\), got \(None, 5\)"):
        to_onnx(model, (None, 5))
    with pytest.raises(ExportError, match="only the batch axis may be unknown"):
        to_onnx(model, (None, None))
    with pytest.raises(ExportError, match="needs its size"):
        to_onnx(model, (None, 6), dynamic_batch=False)


@pytest.mark.parametrize("batch", [-3, 0, 2.0, True])
def test_a_fixed_batch_that_is_no_positive_integer_is_refused_naming_input_shape(batch, tmp_path):
    with pytest.raises(ExportError, match=r"input_shape\[0\], the batch size"):
        to_onnx(MLP(4, [3], 2), (batch, 4), tmp_path / "m.onnx", dynamic_batch=False)
    assert not (tmp_path / "m.onnx").exists()


def test_a_failed_write_keeps_the_previous_model(tmp_path, monkeypatch):
    import os

    path = tmp_path / "m.onnx"
    to_onnx(MLP(4, [3], 2), (None, 4), path)
    good = path.read_bytes()

    def full(fd):
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        to_onnx(MLP(4, [5], 2), (None, 4), path)
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_cli_round_trip_from_a_training_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "anynet", "train", "--epochs", "1", "--out", str(run),
                           "--verbose", "0"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ckpt, out = run / "checkpoint.npz", tmp_path / "spiral.onnx"
    assert main(["export", str(ckpt), str(out)]) == 0
    assert "input x (N, 2), output y" in capsys.readouterr().out
    assert main(["export", str(ckpt), str(tmp_path / "traced.onnx"), "--traced", "--batch", "9"]) == 0
    assert "input x (9, 2), output y" in capsys.readouterr().out
    onnx.checker.check_model(onnx.load(out), full_check=True)
    model = MLP(2, [30], 3)
    anynet.training.checkpoint.load(ckpt, model, restore_rng=False)
    x = anynet.data.spiral(seed=2024)[0][:9]
    for path in (out, tmp_path / "traced.onnx"):
        y = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["y"], {"x": x})[0]
        np.testing.assert_allclose(y, model.predict(x), rtol=1e-5, atol=1e-5)

    assert main(["export", str(ckpt), str(tmp_path / "bad.onnx"), "--input-shape", "3"]) == 2
    assert "expected x of shape (N, 2), got (None, 3)" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.npz"), str(out)]) == 2
