"""The attention examples run end to end on tiny settings (their full runs are measured by hand)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("task", ["dates", "addition"])
def test_seq2seq_example_runs(task):
    out = _run("seq2seq_dates.py", "--task", task, "--train", "128", "--test", "16", "--epochs", "1",
               "--hidden", "16", "--batch-size", "64")
    assert "held-out exact match" in out and " -> " in out


def test_transformer_lm_example_runs():
    out = _run("transformer_lm.py", "--epochs", "2", "--embed", "16", "--hidden", "16")
    assert "lower best held-out perplexity:" in out


EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


def _main(monkeypatch, script: str, *args: str) -> None:
    """Run an example in this process, as ``python3 examples/SCRIPT ARGS`` would."""
    import runpy

    monkeypatch.syspath_prepend(str(ROOT / "examples"))  # transformer_lm.py imports char_lm
    monkeypatch.setattr(sys, "argv", [script, *args])
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")


@pytest.mark.parametrize("script", EXAMPLES)
def test_every_example_answers_help_and_writes_nothing(script, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        _main(monkeypatch, script, "--help")
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage: ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("script", "args", "written"), [
    ("linear_gd_sgd_minibatch.py", ["--epochs", "2"], "linear_modes.png"),
    ("spiral_decision_boundary.py", ["--epochs", "3", "--hidden", "8"], "spiral.png"),
])
def test_examples_write_their_plots_where_out_says(script, args, written, tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="the examples' plots need matplotlib (pip install 'anynet[plot]')")
    monkeypatch.chdir(tmp_path)
    _main(monkeypatch, script, *args, "--out", "plots")
    assert f"wrote {os.path.join('plots', written)}" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["plots"]
    assert (tmp_path / "plots" / written).read_bytes()[:4] == b"\x89PNG"


def test_the_convnet_example_on_a_slice_of_fashion_mnist(tmp_path, monkeypatch, capsys):
    """About 3 s: most of it reads and checks the 70,000 real images, which is what this test is for."""
    if not Path("/usr/share/datasets/fashion-mnist").is_dir() and not os.environ.get("ANYNET_DATA"):
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    monkeypatch.chdir(tmp_path)
    _main(monkeypatch, "fashion_mnist_convnet.py", "--epochs", "1", "--train-size", "300", "--test-size", "100",
          "--device", "cpu",
          "--out", "run")
    assert "cpu: test accuracy" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) in (["checkpoint.npz"],
                                                                    ["checkpoint.npz", "learning_curve.png"])
