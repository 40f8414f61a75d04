"""The command's parser (anynet.cli.parser): choices, the help text, the defaults it states."""

from __future__ import annotations

import pytest

from anynet.cli import build_parser, main
from anynet.data import DATASETS


def test_train_help_lists_the_choices(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0 and "simple-convnet" in text and "fashion-mnist" in text


def _help(monkeypatch, *argv):
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps at the terminal's width, hyphenated words too
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["export"]])
def test_the_help_documents_the_environment(capsys, monkeypatch, command):
    _help(monkeypatch, *command)
    text = " ".join(capsys.readouterr().out.split())
    for name in ("ANYNET_DATA", "XDG_CACHE_HOME", "ANYNET_CPU_WORKERS", "ANYNET_KEEP_FREED_MEMORY", "ANYNET_MPIEXEC"):
        assert name in text, (command, name)


def test_the_help_states_the_registrys_defaults(capsys, monkeypatch):
    _help(monkeypatch, "train")
    text = " ".join(capsys.readouterr().out.split())
    assert "default: 300 on spiral, 5 on fashion-mnist and mnist" in text
    assert "MLP hidden width (default: 30 on spiral, 100 on fashion-mnist and mnist)" in text
    assert "MLP hidden layers (default: 1 on spiral, 2 on fashion-mnist and mnist)" in text
    assert "0 for full-batch; default: 30 on spiral, 100 on fashion-mnist and mnist" in text


def test_the_data_choices_are_the_registrys():
    train = build_parser().parse_args(["train"])
    assert train.data == "spiral" and train.model == "mlp" and train.hidden is None
    for name in DATASETS:
        assert build_parser().parse_args(["train", "--data", name]).data == name
        assert build_parser().parse_args(["evaluate", "c.npz", "--data", name]).data == name


def test_optimizer_names_are_case_blind_and_gd_is_gone(capsys):
    assert build_parser().parse_args(["train", "--optimizer", "AdamW"]).optimizer == "adamw"
    assert main(["train", "--optimizer", "gd"]) == 2
    assert "unknown optimizer 'gd': choose one of sgd, momentum" in capsys.readouterr().err
