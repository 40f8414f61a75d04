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
