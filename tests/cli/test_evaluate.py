"""``anynet evaluate`` (anynet.cli.evaluate): its run description, and refusals of checkpoints it cannot read."""

from __future__ import annotations

import dataclasses

import pytest

import anynet
from anynet.cli import build_parser, main
from anynet.cli.evaluate import EvaluateRun

from .test_main import run_main


def test_the_run_description():
    run = EvaluateRun.from_args(build_parser().parse_args(["evaluate", "c.npz", "--data", "mnist", "--no-download"]))
    assert run == EvaluateRun(checkpoint="c.npz", data="mnist", device="cpu", data_dir=None, download=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.data = "spiral"


def test_evaluate_refuses_a_damaged_checkpoint(tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    assert main(["evaluate", str(tmp_path / "bad.npz")]) == 2
    assert "truncated or corrupted" in capsys.readouterr().err


def test_a_damaged_checkpoint_and_a_missing_one_in_evaluate(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip at all")
    for path in (tmp_path / "bad.npz", tmp_path / "none.npz"):
        code, _, err = run_main(["evaluate", str(path)])
        assert code == 2 and err.count("\n") == 1 and err.startswith("anynet: ")


def test_a_checkpoint_without_a_model_description_is_refused(tmp_path):
    model = anynet.models.MLP(2, [4], 3)
    anynet.training.checkpoint.save(tmp_path / "plain.npz", model, metadata={"note": "no model here"})
    code, _, err = run_main(["evaluate", str(tmp_path / "plain.npz")])
    assert code == 2
    assert err == f"anynet: {tmp_path / 'plain.npz'}: no model description; it was not written by 'anynet train'\n"


def test_a_convolutional_checkpoint_on_data_that_are_no_images_is_refused(tmp_path):
    model = anynet.models.LeNet5(input_shape=(1, 28, 28), output_size=10)
    anynet.training.checkpoint.save(tmp_path / "lenet.npz", model, metadata={"model": "lenet5", "data": "mnist"})
    code, _, err = run_main(["evaluate", str(tmp_path / "lenet.npz"), "--data", "spiral"])
    assert code == 2 and err.count("\n") == 1
    assert "its model description does not build: model 'lenet5' needs image data: use --data fashion-mnist or " \
           "--data mnist" in err


def test_a_text_file_is_not_a_checkpoint_and_no_unsafe_load_is_suggested(tmp_path):
    (tmp_path / "README.md").write_text("# anynet\n\nA text file, as a newcomer might pass by mistake.\n")
    code, _, err = run_main(["evaluate", str(tmp_path / "README.md")])
    assert code == 2 and "not a readable checkpoint" in err and "pickle" not in err, err
