"""The ``anynet`` command end to end: train, evaluate, and its refusals."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import subprocess
import sys

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import anynet
import anynet.data.images
from anynet.cli import OPTIMIZERS, main


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


def test_recipe_flags_build_what_they_name_and_evaluate_rebuilds_it(tmp_path, capsys):
    assert main(["train", "--epochs", "30", "--batchnorm", "--schedule", "onecycle", "--optimizer", "lion",
                 "--lr", "0.01", "--label-smoothing", "0.1", "--verbose", "0", "--out", str(tmp_path)]) == 0
    acc = capsys.readouterr().out.strip().splitlines()[-1].split("test accuracy ")[1]
    assert float(acc.rstrip("%")) > 80.0
    meta, _ = anynet.training.checkpoint.read(tmp_path / "checkpoint.npz")
    assert meta["metadata"]["batchnorm"] is True and meta["metadata"]["schedule"] == "onecycle"
    assert main(["evaluate", str(tmp_path / "checkpoint.npz")]) == 0  # the BatchNorm model is rebuilt
    assert capsys.readouterr().out.strip().endswith(f"accuracy {acc}")


def test_dropout_flag_sets_the_models_rate():
    from anynet.cli import build_model

    rates = [layer.ratio for layer in build_model("deep-convnet", "fashion-mnist", dropout=0.25).layers
             if isinstance(layer, anynet.layers.Dropout)]
    assert rates == [0.25]
    assert not [layer for layer in build_model("vgg", "mnist", dropout=0.0).layers
                if isinstance(layer, anynet.layers.Dropout)]


def test_build_schedule():
    from anynet.cli import build_schedule

    assert build_schedule("constant", 0.1, 100) == 0.1 == build_schedule("plateau", 0.1, 100)
    assert build_schedule("cosine", 0.1, 100)(100) == 0.0
    assert build_schedule("onecycle", 0.1, 100)(0) == pytest.approx(0.1 / 25)


# -- refusals: one line on stderr, a non-zero status, never a traceback ---------------------------


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


BAD_FLAGS = [
    (["--epochs", "-1"], "train: --epochs must be an integer >= 1, got -1"),
    (["--epochs", "0"], "train: --epochs must be an integer >= 1, got 0"),
    (["--epochs", "ten"], "train: argument --epochs: invalid int value: 'ten'"),
    (["--batch-size", "-5"], "train: --batch-size must be an integer >= 0, got -5"),
    (["--lr", "0"], "train: --lr must be a number > 0.0, got 0.0"),
    (["--lr", "-0.1"], "train: --lr must be a number > 0.0, got -0.1"),
    (["--lr", "nan"], "train: --lr must be a number > 0.0, got nan"),
    (["--lr", "inf"], "train: --lr must be a number > 0.0, got inf"),
    (["--lr", "fast"], "train: argument --lr: invalid float value: 'fast'"),
    (["--hidden", "0"], "train: --hidden must be an integer >= 1, got 0"),
    (["--layers", "-1"], "train: --layers must be an integer >= 1, got -1"),
    (["--limit", "0"], "train: --limit must be an integer >= 1, got 0"),
    (["--val-fraction", "1"], r"train: --val-fraction must be a number in \[0.0, 1.0\), got 1.0"),
    (["--val-fraction", "-0.1"], r"train: --val-fraction must be a number in \[0.0, 1.0\), got -0.1"),
    (["--limit", "1", "--val-fraction", "0.4"], "train_val_split: val=0.4 leaves 0 of 1 samples"),
    (["--seed", "-1"], "train: --seed must be an integer >= 0, got -1"),
    (["--checkpoint-every", "0"], "train: --checkpoint-every must be an integer >= 1, got 0"),
    (["--verbose", "-1"], "train: --verbose must be an integer >= 0, got -1"),
    (["--optimizer", "lbfgs"], "train: argument --optimizer: unknown optimizer 'lbfgs'"),
    (["--model", "resnet"], "train: argument --model: invalid choice: 'resnet'"),
    (["--data", "cifar"], "train: argument --data: invalid choice: 'cifar'"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--device", "cpu:1"], "device 'cpu:1': NumPy has one device"),
    (["--device", "torch:9"], "device 'torch:9': use 'torch:cpu'"),
    (["--device", "jax:gpu"], "device 'jax:gpu': JAX has no 'gpu' devices here"),
    (["--resume", "missing.npz"], "No such file or directory: 'missing.npz'"),
    (["--model", "lenet5"], "model 'lenet5' needs image data"),
    (["--colour", "red"], "unrecognized arguments: --colour red"),
    (["--augment"], "--augment transforms image batches: use a convolutional --model"),
    (["--batchnorm", "--model", "lenet5"], "--batchnorm: model 'lenet5' has no BatchNorm option"),
    (["--dropout", "0.2", "--model", "lenet5"], "--dropout: model 'lenet5' has no dropout option"),
    (["--dropout", "1", "--model", "vgg"], r"train: --dropout must be a number in \[0.0, 1.0\), got 1.0"),
    (["--model", "lenet5", "--data", "mnist", "--augment", "flip,blur"], "--augment: unknown transform.s. 'blur'"),
    (["--label-smoothing", "1"], r"train: --label-smoothing must be a number in \[0.0, 1.0\), got 1.0"),
    (["--schedule", "warp"], "argument --schedule: invalid choice: 'warp'"),
    (["--schedule", "plateau"], "--schedule plateau follows the validation loss: give --val-fraction"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_a_bad_flag_is_one_line_and_status_2(tmp_path, flags, message):
    code, _, err = _run(["train", "--epochs", "1", "--out", str(tmp_path), "--verbose", "0", *flags])
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("anynet: "), err
    assert re.search(message, err), err


def test_a_damaged_checkpoint_and_a_missing_one_in_evaluate(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip at all")
    for path in (tmp_path / "bad.npz", tmp_path / "none.npz"):
        code, _, err = _run(["evaluate", str(path)])
        assert code == 2 and err.count("\n") == 1 and err.startswith("anynet: ")


def test_a_diverged_run_says_so_and_keeps_the_last_good_checkpoint(tmp_path):
    assert _run(["train", "--epochs", "2", "--out", str(tmp_path), "--verbose", "0"])[0] == 0
    good = (tmp_path / "checkpoint.npz").read_bytes()
    code, _, err = _run(["train", "--epochs", "3", "--lr", "1e30", "--out", str(tmp_path), "--verbose", "0"])
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("anynet: training diverged: the loss became"), err
    assert (tmp_path / "checkpoint.npz").read_bytes() == good
    assert json.loads((tmp_path / "history.json").read_text()) == {}  # no good epoch in this run


def test_a_refusal_from_the_shell_has_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "anynet", "train", "--lr", "-1", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr == "anynet: train: --lr must be a number > 0.0, got -1.0\n"


def _text():
    return st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=4)


FLAG_VALUES = {
    "--epochs": st.one_of(st.integers(-2, 2).map(str), _text()),
    "--batch-size": st.one_of(st.integers(-2, 80).map(str), _text()),
    "--lr": st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.sampled_from(["1e30", "0.5", "1e-3"]), _text()),
    "--hidden": st.integers(-1, 8).map(str),
    "--layers": st.integers(-1, 2).map(str),
    "--val-fraction": st.floats(-0.5, 1.5).map(repr),
    "--limit": st.integers(-1, 60).map(str),
    "--seed": st.integers(-2, 3).map(str),
    "--checkpoint-every": st.integers(-1, 2).map(str),
    "--verbose": st.integers(-1, 1).map(str),
    "--optimizer": st.sampled_from([*OPTIMIZERS, "ADAM", "lbfgs", ""]),
    "--model": st.sampled_from(["mlp", "lenet5", "resnet"]),
    "--device": st.sampled_from(["cpu", "tpu", "numpy:cpu", "cpu:1", "torch:9", "jax:gpu", "cuda:x", ""]),
}


@settings(max_examples=30)
@given(flags=st.dictionaries(st.sampled_from(sorted(FLAG_VALUES)), st.none(), max_size=5).flatmap(
    lambda chosen: st.fixed_dictionaries({k: FLAG_VALUES[k] for k in chosen})))
def test_random_flag_values_run_or_give_one_clear_line(tmp_path, flags):
    argv = ["train", "--epochs", "1", "--limit", "60", "--verbose", "0", "--out", str(tmp_path)]
    for flag, value in flags.items():
        argv += [f"{flag}={value}"]  # "=": a value that starts with "-" stays a value
    code, _, err = _run(argv)
    event(f"exit status {code}")
    lines = err.splitlines()
    assert all(line.startswith("anynet: ") for line in lines), err
    if code != 0:
        assert code in (1, 2) and lines and not lines[-1].startswith("anynet: warning:"), err
