"""The ``anynet`` command end to end: train, evaluate, and its refusals."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

import anynet
import anynet.data.images
from anynet.cli import main


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


def test_unknown_device_optimizer_and_model(tmp_path, capsys):
    assert main(["train", "--device", "tpu", "--out", str(tmp_path)]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    assert main(["train", "--optimizer", "lbfgs", "--out", str(tmp_path)]) == 2
    assert "unknown optimizer 'lbfgs'" in capsys.readouterr().err
    assert main(["train", "--model", "lenet5", "--out", str(tmp_path)]) == 2
    assert "needs image data" in capsys.readouterr().err


def test_absent_data_is_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANYNET_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(anynet.data.images, "SYSTEM_DATA", tmp_path)
    assert main(["train", "--data", "fashion-mnist", "--no-download", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "fashion-mnist: the files" in err and "apt-get install dataset-fashion-mnist" in err


def test_evaluate_refuses_a_damaged_checkpoint(tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    assert main(["evaluate", str(tmp_path / "bad.npz")]) == 2
    assert "truncated or corrupted" in capsys.readouterr().err


def test_train_help_lists_the_choices(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0 and "simple-convnet" in text and "fashion-mnist" in text


def test_train_and_evaluate_on_fashion_mnist_when_installed(tmp_path, capsys):
    try:
        anynet.data.fashion_mnist(download=False)
    except anynet.data.DataNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    assert main(["train", "--data", "fashion-mnist", "--no-download", "--limit", "3000", "--epochs", "2",
                 "--verbose", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(2700 samples)" in out  # 3000 less the 10% held out for validation
    acc = out.strip().splitlines()[-1].split("test accuracy ")[1]
    assert float(acc.rstrip("%")) > 60.0
    assert main(["evaluate", str(tmp_path / "checkpoint.npz"), "--no-download"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"accuracy {acc}")
