"""``anynet train`` (anynet.cli.train): the frozen run description and whole runs."""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

import anynet
from anynet.cli import build_parser, main
from anynet.cli.build import ModelSpec
from anynet.cli.train import TrainRun, _trainer

from .test_main import run_main


def _run_of(*flags):
    return TrainRun.from_args(build_parser().parse_args(["train", *flags]))


# -- the run description --------------------------------------------------------------------------


def test_defaults_are_the_data_sets():
    spiral = _run_of()
    assert spiral.model == ModelSpec("mlp", "spiral", hidden=30, layers=1)
    assert (spiral.epochs, spiral.batch_size, spiral.lr, spiral.val_fraction) == (300, 30, 1.0, 0.0)
    assert spiral.checkpoint_every == 30 and spiral.out == "runs/spiral-mlp" and spiral.download
    image = _run_of("--data", "mnist", "--model", "lenet5", "--no-download")
    assert image.model == ModelSpec("lenet5", "mnist", hidden=100, layers=2)
    assert (image.epochs, image.batch_size, image.lr, image.val_fraction) == (5, 100, 0.1, 0.1)
    assert image.checkpoint_every == 1 and image.out == "runs/mnist-lenet5" and not image.download


def test_given_flags_win_and_batch_size_0_is_full_batch():
    run = _run_of("--epochs", "7", "--batch-size", "0", "--lr", "0.5", "--hidden", "8", "--layers", "3",
                  "--val-fraction", "0.2", "--checkpoint-every", "2", "--out", "here", "--optimizer", "Adam")
    assert run.model == ModelSpec("mlp", "spiral", hidden=8, layers=3)
    assert (run.epochs, run.batch_size, run.lr, run.val_fraction) == (7, None, 0.5, 0.2)
    assert (run.checkpoint_every, run.out, run.optimizer, run.checkpoint) == (2, "here", "adam", "here/checkpoint.npz")


def test_weight_decay_reaches_the_optimizer_that_takes_one():
    run = _run_of("--optimizer", "adamw", "--weight-decay", "0.05")
    assert run.weight_decay == 0.05 and run.metadata()["weight_decay"] == 0.05
    optimizer = _trainer(run, anynet.parallel.Group(), updates=10).optimizer
    assert isinstance(optimizer, anynet.AdamW) and optimizer.weight_decay == 0.05
    assert _run_of("--optimizer", "adamw").weight_decay is None  # the optimizer's own default
    with pytest.raises(ValueError, match="--weight-decay: optimizer 'sgd' has no weight_decay"):
        _run_of("--weight-decay", "0.05")
    with pytest.raises(ValueError, match="--weight-decay must be"):
        _run_of("--optimizer", "adamw", "--weight-decay", "-1")


def test_the_arguments_are_left_unchanged_and_the_run_is_frozen():
    args = build_parser().parse_args(["train", "--data", "fashion-mnist"])
    before = copy.deepcopy(vars(args))
    run = TrainRun.from_args(args)
    assert vars(args) == before and args.hidden is None and args.out is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.epochs = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.model.hidden = 1


def test_the_checkpoint_metadata_keeps_the_resolvedrun_main():
    meta = _run_of("--batchnorm", "--label-smoothing", "0.1", "--seed", "3").metadata()
    assert meta == {"model": "mlp", "data": "spiral", "hidden": 30, "layers": 1, "batchnorm": True, "dropout": None,
                    "optimizer": "sgd", "lr": 1.0, "schedule": "constant", "label_smoothing": 0.1, "augment": None,
                    "batch_size": 30, "seed": 3, "precision": "float32", "width": None, "weight_decay": None}
    assert ModelSpec.from_metadata(meta) == _run_of("--batchnorm").model


# -- whole runs -----------------------------------------------------------------------------------


def test_train_on_the_spiral_writes_everything(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "anynet", "train", "--epochs", "60", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("training mlp on spiral (300 samples) on cpu: 60 epochs")
    accuracy = float(lines[-1].split("test accuracy ")[1].rstrip("%"))
    assert accuracy > 80.0
    run = tmp_path / "run"
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 60 and history["loss"][-1] < history["loss"][0]
    rows = list(csv.reader(open(run / "history.csv")))
    assert rows[0][:3] == ["epoch", "loss", "accuracy"] and len(rows) == 61
    assert (run / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    meta, _ = anynet.training.checkpoint.read(run / "checkpoint.npz")
    assert meta["trainer"]["epoch"] == 60 and meta["metadata"]["model"] == "mlp"

    ev = subprocess.run([sys.executable, "-m", "anynet", "evaluate", str(run / "checkpoint.npz")],
                        capture_output=True, text=True, timeout=60)
    assert ev.returncode == 0, ev.stderr
    assert ev.stdout.strip().endswith(f"accuracy {lines[-1].split('test accuracy ')[1]}")


def test_resume_from_the_command_line(tmp_path, capsys):
    assert main(["train", "--epochs", "3", "--out", str(tmp_path), "--verbose", "0"]) == 0
    assert main(["train", "--epochs", "5", "--out", str(tmp_path), "--verbose", "0",
                 "--resume", str(tmp_path / "checkpoint.npz")]) == 0
    assert len(json.loads((tmp_path / "history.json").read_text())["loss"]) == 5


@pytest.mark.usefixtures("fashion_mnist")
def test_train_and_evaluate_on_fashion_mnist_when_installed(tmp_path, capsys):
    assert main(["train", "--data", "fashion-mnist", "--no-download", "--limit", "3000", "--epochs", "2",
                 "--verbose", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(2700 samples)" in out  # 3000 less the 10% held out for validation
    acc = out.strip().splitlines()[-1].split("test accuracy ")[1]
    assert float(acc.rstrip("%")) > 60.0
    assert main(["evaluate", str(tmp_path / "checkpoint.npz"), "--no-download"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"accuracy {acc}")


@pytest.mark.usefixtures("fashion_mnist")
def test_tta_reports_the_test_figures_both_ways_in_train_and_evaluate(tmp_path, capsys):
    assert main(["train", "--data", "fashion-mnist", "--model", "lenet5", "--no-download", "--limit", "600",
                 "--epochs", "1", "--verbose", "0", "--tta", "flip", "--out", str(tmp_path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    plain, tta = last.split("; with --tta flip (views averaged): ")
    assert plain.startswith("test loss ") and tta.startswith("test loss ") and plain != tta
    assert main(["evaluate", str(tmp_path / "checkpoint.npz"), "--no-download", "--tta", "flip"]) == 0
    assert capsys.readouterr().out.strip().endswith(last)
    assert main(["evaluate", str(tmp_path / "checkpoint.npz"), "--no-download"]) == 0
    assert capsys.readouterr().out.strip().endswith(plain)


def test_recipe_flags_build_what_they_name_and_evaluate_rebuilds_it(tmp_path, capsys):
    assert main(["train", "--epochs", "30", "--batchnorm", "--schedule", "onecycle", "--optimizer", "lion",
                 "--lr", "0.01", "--label-smoothing", "0.1", "--verbose", "0", "--out", str(tmp_path)]) == 0
    acc = capsys.readouterr().out.strip().splitlines()[-1].split("test accuracy ")[1]
    assert float(acc.rstrip("%")) > 80.0
    meta, _ = anynet.training.checkpoint.read(tmp_path / "checkpoint.npz")
    assert meta["metadata"]["batchnorm"] is True and meta["metadata"]["schedule"] == "onecycle"
    assert main(["evaluate", str(tmp_path / "checkpoint.npz")]) == 0  # the BatchNorm model is rebuilt
    assert capsys.readouterr().out.strip().endswith(f"accuracy {acc}")


def test_a_diverged_run_says_so_and_keeps_the_last_good_checkpoint(tmp_path):
    assert run_main(["train", "--epochs", "2", "--out", str(tmp_path), "--verbose", "0"])[0] == 0
    good = (tmp_path / "checkpoint.npz").read_bytes()
    code, _, err = run_main(["train", "--epochs", "3", "--lr", "1e30", "--out", str(tmp_path), "--verbose", "0"])
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("anynet: training diverged: the loss became"), err
    assert (tmp_path / "checkpoint.npz").read_bytes() == good
    assert json.loads((tmp_path / "history.json").read_text()) == {}  # no good epoch in this run


def test_a_refused_resume_prints_no_banner_and_a_replaced_run_is_noted(tmp_path):
    assert run_main(["train", "--epochs", "1", "--out", str(tmp_path / "a"), "--verbose", "0"])[0] == 0
    code, out, err = run_main(["train", "--epochs", "1", "--hidden", "7", "--out", str(tmp_path / "b"),
                               "--verbose", "0", "--resume", str(tmp_path / "a" / "checkpoint.npz")])
    assert code == 2 and "(2, 30) in the file, float32(2, 7) in the model" in err, err
    assert out == ""  # refused before training starts: no "training ..." line
    code, out, _ = run_main(["train", "--epochs", "1", "--out", str(tmp_path / "a"), "--verbose", "0"])
    assert code == 0 and out.splitlines()[1].startswith(f"note: {tmp_path / 'a'} holds an earlier run"), out
    code, out, _ = run_main(["train", "--epochs", "2", "--out", str(tmp_path / "a"), "--verbose", "0",
                             "--resume", str(tmp_path / "a" / "checkpoint.npz")])
    assert code == 0 and "note:" not in out  # continuing the run in place replaces nothing


def test_float64_training_casts_the_model_and_the_checkpoint_evaluates_in_it(tmp_path):
    """The device context carries no precision: the Trainer is given it and casts float32-born weights."""
    code, out, err = run_main(["train", "--epochs", "2", "--precision", "float64", "--out", str(tmp_path),
                               "--verbose", "0"])
    assert code == 0, err
    assert ", float64" in out.splitlines()[0]
    _, arrays = anynet.training.checkpoint.read(tmp_path / "checkpoint.npz")
    weights = [a for k, a in arrays.items() if k.startswith("model/")]
    assert weights and all(a.dtype == np.float64 for a in weights), {k: a.dtype for k, a in arrays.items()}
    code, out, err = run_main(["evaluate", str(tmp_path / "checkpoint.npz")])
    assert code == 0 and "accuracy" in out, err


def test_a_precision_the_device_lacks_is_refused_before_anything_is_written(tmp_path):
    code, _, err = run_main(["train", "--precision", "bfloat16", "--out", str(tmp_path / "run"), "--verbose", "0"])
    assert code == 2 and "device 'cpu' has no bfloat16" in err
    assert not (tmp_path / "run").exists()
