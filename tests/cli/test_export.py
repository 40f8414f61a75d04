"""``anynet export`` (anynet.cli.export): its run description and the shapes it takes from the registry.
The ONNX files themselves are checked in tests/export."""

from __future__ import annotations

import dataclasses

import pytest

import anynet
from anynet.cli import UsageError, build_parser
from anynet.cli.export import ExportRun

from .test_main import run_main


def _export_of(*flags):
    return ExportRun.from_args(build_parser().parse_args(["export", "c.npz", "out.onnx", *flags]))


def test_the_run_description():
    assert _export_of() == ExportRun(checkpoint="c.npz", out="out.onnx", input_shape=None, batch=None, traced=False)
    assert _export_of("--input-shape", "1x28x28", "--batch", "9", "--traced") == ExportRun(
        checkpoint="c.npz", out="out.onnx", input_shape=(1, 28, 28), batch=9, traced=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        _export_of().batch = 3


@pytest.mark.parametrize(("flags", "message"), [
    (["--batch", "0"], "--batch must be a positive batch size, got 0"),
    (["--input-shape", "1,0"], "--input-shape must be positive sizes separated by commas, such as 1,28,28; "
                               "got '1,0'"),
    (["--input-shape", "a,b"], "--input-shape must be positive sizes"),
])
def test_malformed_flags_are_refused_before_the_checkpoint_is_read(tmp_path, flags, message):
    with pytest.raises(UsageError, match=message):
        _export_of(*flags)
    code, _, err = run_main(["export", str(tmp_path / "missing.npz"), str(tmp_path / "o.onnx"), *flags])
    assert code == 2 and err.startswith(f"anynet: {message}")
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize(("model", "shape"), [("lenet5", "1, 28, 28"), ("mlp", "784")])
def test_the_input_shape_is_the_trained_on_data_sets(tmp_path, model, shape):
    pytest.importorskip("onnx")
    net = anynet.cli.build_model(model, "mnist", hidden=8, layers=1)
    anynet.training.checkpoint.save(tmp_path / "c.npz", net,
                                    metadata={"model": model, "data": "mnist", "hidden": 8, "layers": 1})
    code, out, err = run_main(["export", str(tmp_path / "c.npz"), str(tmp_path / "o.onnx")])
    assert code == 0, err
    assert f"wrote {tmp_path / 'o.onnx'}: {model} from {tmp_path / 'c.npz'}, input x (N, {shape}), output y" in out
    assert (tmp_path / "o.onnx").stat().st_size > 0


def test_a_bfloat16_checkpoint_exports_in_float32(tmp_path):
    """Trained on torch:cpu in bfloat16: the command (on NumPy, which has no bfloat16) takes the
    weights as float32 instead of asking for a device it has no flag for."""
    pytest.importorskip("onnx")
    torch_cpu = pytest.importorskip("torch") and anynet.as_device("torch:cpu")
    if "bfloat16" not in torch_cpu.float_dtypes:
        pytest.skip("this PyTorch has no bfloat16")
    with anynet.device(torch_cpu):
        net = anynet.cli.build_model("mlp", "spiral", hidden=8, layers=1)
    anynet.Precision.named("bfloat16").prepare(net)
    anynet.training.checkpoint.save(tmp_path / "c.npz", net, metadata={
        "model": "mlp", "data": "spiral", "hidden": 8, "layers": 1, "precision": "bfloat16"})
    code, out, err = run_main(["export", str(tmp_path / "c.npz"), str(tmp_path / "o.onnx")])
    assert code == 0, err
    assert "(trained in bfloat16, exported in float32)" in out and (tmp_path / "o.onnx").stat().st_size > 0
