"""``anynet`` (anynet.cli): the environment read once, refusals as one line and status 2, never a traceback."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import anynet
import anynet.data.images
from anynet.cli import OPTIMIZERS, main
from anynet.config import current


def run_main(argv):
    """``main(argv)`` with its stdout and stderr captured: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_no_command_prints_the_help_and_fails(capsys):
    # a command is required: bare ``anynet`` used to exit 0, so a script calling it by mistake passed
    assert main([]) == 2
    assert "usage: anynet" in capsys.readouterr().err


def test_warnings_are_one_line_and_only_floating_point_noise_is_silenced(capsys):
    import warnings

    import numpy as np

    from anynet.cli import warnings_as_lines

    with warnings_as_lines():
        np.float32(3e38) * np.float32(10.0)  # overflow: the trainer's guard reports a diverged run once
        warnings.warn("torch.compile: the training step does not compile into one graph", RuntimeWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err == "anynet: warning: torch.compile: the training step does not compile into one graph\n"


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


# -- the environment: read by the command only, once, for the command's duration ---------------------


def test_the_data_folders_come_from_the_environment_for_the_command_only(tmp_path, monkeypatch):
    monkeypatch.setenv("ANYNET_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(anynet.data.images, "SYSTEM_DATA", tmp_path / "system")
    before = current()
    code, _, err = run_main(["train", "--data", "mnist", "--no-download", "--out", str(tmp_path / "o")])
    assert code == 2
    searched = err.split("are not in any of:", 1)[1]
    for folder in (tmp_path / "data" / "mnist", tmp_path / "data", tmp_path / "cache" / "anynet" / "mnist"):
        assert f"\n  {folder}\n" in searched, err
    assert current() is before  # the caller's configuration is back
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ANYNET_CPU_WORKERS", "0", "ANYNET_CPU_WORKERS must be a whole number >= 1, got '0'"),
    ("ANYNET_CPU_WORKERS", "two", "ANYNET_CPU_WORKERS must be a whole number >= 1, got 'two'"),
    ("ANYNET_KEEP_FREED_MEMORY", "yes", "ANYNET_KEEP_FREED_MEMORY must be 0 or 1, got 'yes'"),
])
def test_a_malformed_environment_variable_is_one_line_and_status_2(tmp_path, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    for argv in (["train", "--epochs", "1", "--out", str(tmp_path / "o")], ["evaluate", str(tmp_path / "x.npz")]):
        assert run_main(argv) == (2, "", f"anynet: {message}\n")
    assert not (tmp_path / "o").exists()


def test_a_malformed_environment_variable_from_the_shell(tmp_path):
    env = {**os.environ, "ANYNET_CPU_WORKERS": "-3"}
    out = subprocess.run([sys.executable, "-m", "anynet", "train", "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 2 and out.stderr == "anynet: ANYNET_CPU_WORKERS must be a whole number >= 1, got '-3'\n"


def test_well_formed_settings_from_the_environment_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ANYNET_CPU_WORKERS", "1")
    monkeypatch.setenv("ANYNET_KEEP_FREED_MEMORY", "0")
    code, out, err = run_main(["train", "--epochs", "1", "--verbose", "0", "--out", str(tmp_path)])
    assert code == 0 and "test accuracy" in out, err


# -- refusals: one line on stderr, a non-zero status, never a traceback ---------------------------


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
    (["--tta", "flip"], "--tta averages views of test images: use a convolutional --model"),
    (["--model", "lenet5", "--data", "mnist", "--tta", "flip,mirror"], "--tta: unknown view.s. 'mirror'"),
    (["--label-smoothing", "1"], r"train: --label-smoothing must be a number in \[0.0, 1.0\), got 1.0"),
    (["--schedule", "warp"], "argument --schedule: invalid choice: 'warp'"),
    (["--schedule", "plateau"], "--schedule plateau follows the validation loss: give --val-fraction"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_a_bad_flag_is_one_line_and_status_2(tmp_path, flags, message):
    code, _, err = run_main(["train", "--epochs", "1", "--out", str(tmp_path), "--verbose", "0", *flags])
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("anynet: "), err
    assert re.search(message, err), err


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
    code, _, err = run_main(argv)
    event(f"exit status {code}")
    lines = err.splitlines()
    assert all(line.startswith("anynet: ") for line in lines), err
    if code != 0:
        assert code in (1, 2) and lines and not lines[-1].startswith("anynet: warning:"), err
