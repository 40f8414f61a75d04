"""benchmarks/gpu_profile.py, checked on the CPU: its dry run (``--device cpu --peer cpu``) runs the code
the GPU run runs, with perf_counter for the CUDA events and torch's aten ops for the kernels, so the
GPU machine's minutes go to the measurements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from benchmarks import gpu_profile as prof  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DRY = ["--device", "cpu", "--peer", "cpu", "--models", "MLP", "--batches", "8", "--quick"]


def _profile(tmp_path, *args: str) -> subprocess.CompletedProcess:
    # one thread: torch's pool spinning on a shared 2-core machine turns a 1 ms step into 100 ms
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_profile.py"), "--out", str(tmp_path),
                           *DRY, *args], cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)


def test_dry_run_writes_the_table_with_counts(tmp_path):
    """Subprocess (about 5 s): the script as ci/gpu.sh runs it, with its own process's TF32 pinning."""
    out = _profile(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    md = (tmp_path / "results-gpu-profile.md").read_text()
    assert "| " + " | ".join(prof.COLUMNS) + " |" in md and "## MLP, batch 8" in md
    rows = json.loads((tmp_path / "results-gpu-profile.json").read_text())["profile"]
    assert [r["system"] for r in rows] == ["PyTorch cpu", "anynet cpu", "anynet torch:cpu"]
    for row in rows:
        assert f"| {row['system']} | {row['step_ms']:.3f} |" in md
        assert row["step_ms"] > 0 and row["host_ms"] > 0 and row["vs_pytorch"] > 0
    numpy_row = rows[1]
    assert "kernels" not in numpy_row and "no counter" in numpy_row["note"] and numpy_row["bound"] == "-"
    for row in (rows[0], rows[2]):  # torch on both sides: counted
        assert isinstance(row["kernels"], int) and row["kernels"] > 0, row
        assert 0 < row["kernel_ms"] and row["bound"] in ("host", "GPU") and 0 <= row["gpu_idle"] < 1
        assert row["top"] and all(k["calls"] > 0 and k["ms"] >= 0 for k in row["top"])
    assert rows[0]["vs_pytorch"] == 1.0
    assert "Top kernels of anynet torch:cpu per step" in md and "Top kernels of anynet cpu" not in md


def test_dry_run_starts_no_model_after_its_time_limit(tmp_path):
    out = _profile(tmp_path, "--models", "MLP", "SimpleConvNet", "--time-limit", "1e-9")
    assert out.returncode == 0, out.stdout + out.stderr
    md = (tmp_path / "results-gpu-profile.md").read_text()
    assert md.count("| not measured: --time-limit 1e-09 s |") == 2, md
    data = json.loads((tmp_path / "results-gpu-profile.json").read_text())
    assert data["profile"] == [] and len(data["notes"]) == 2 and data["gpu"] == "cpu"


def test_count_sees_each_torch_op_of_a_step():
    a, b = torch.ones(64), torch.ones(64)
    counted = prof.count(lambda: torch.mul(torch.add(a, b), b), lambda: None, on_gpu=False, steps=3, top=5)
    assert counted["kernels"] == 2 and counted["copies"] is None and counted["kernel_ms"] > 0
    assert sorted(k["name"] for k in counted["top"]) == ["aten::add", "aten::mul"]
    assert all(k["calls"] == 1 for k in counted["top"])
    assert "no kernels" in prof.count(lambda: None, lambda: None, on_gpu=False, steps=2, top=5)["note"]


def test_host_time_leaves_out_the_synchronize():
    """The step returns at once; the device is busy 20 ms after it: the host time is the call's alone."""
    clock = prof.Clock(None, lambda: time.sleep(0.02))
    assert clock.host(lambda: None, 3) < 0.01
    wall, on_gpu = clock.block(lambda: time.sleep(0.01), 2)
    assert wall == on_gpu and 0.015 < wall < 0.2  # off the GPU the GPU's clock is the wall, the sync included


def test_verdict_compares_the_host_with_the_kernels():
    row = {"host_ms": 2.0, "gpu_ms": 4.0, "on_gpu": True, "kernel_ms": 1.0}
    assert prof.verdict(dict(row)) == {**row, "bound": "host", "gpu_idle": 0.75}
    assert prof.verdict({**row, "kernel_ms": 3.0})["bound"] == "GPU"
    no_counts = prof.verdict({"host_ms": 2.0, "gpu_ms": 4.0, "on_gpu": True})
    assert no_counts["bound"] == "GPU" and no_counts["gpu_idle"] is None  # the events' time stands in
    assert prof.verdict({"host_ms": 2.0, "gpu_ms": 4.0, "on_gpu": False})["bound"] == "-"
