"""The GPU leg's set-up (ci/gpu.sh) and benchmark pins, checked on a CPU machine: a GPU machine's
time must go to measurements, not to set-up failures found there."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "ci" / "gpu.sh"


def _run_setup(tmp_path, needs: str, *steps: str) -> subprocess.CompletedProcess:
    """ci/gpu.sh in a copy of the repository without .whl/, offline (PIP_NO_INDEX), with a fake nvidia-smi."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "anynet", repo / "anynet")
    (repo / "ci").mkdir()
    shutil.copy(SCRIPT, repo / "ci" / "gpu.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'name, memory.total, driver_version'\necho 'Fake, 1 MiB, 0'\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PIP_NO_INDEX": "1", "OUT": str(tmp_path / "out"),
           "ANYNET_GPU_NEEDS": needs, "HOME": str(tmp_path)}
    return subprocess.run(["bash", str(repo / "ci" / "gpu.sh"), *steps], capture_output=True, text=True,
                          timeout=120, env=env)


def test_offline_setup_fails_early_naming_the_wheels(tmp_path):
    out = _run_setup(tmp_path, "numpy no_such_module_anynet array_api_nothing")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "still missing: no_such_module_anynet array_api_nothing" in text
    assert "pip download --no-deps -d .whl no-such-module-anynet array-api-nothing" in text
    assert "set-up failed: nothing else runs" in text
    assert not (tmp_path / "out" / "gpu-tests.log").exists()


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="needs CuPy installed (ci/backends.txt)")
def test_setup_without_a_working_gpu_stops_with_the_driver_hint(tmp_path):
    """CuPy imports, nvidia-smi answers, but no kernel runs: the set-up says so and runs nothing else."""
    pytest.importorskip("cupy")
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        pytest.skip("a GPU is present")
    except Exception:  # noqa: BLE001 - no GPU or driver: the case under test
        pass
    out = _run_setup(tmp_path, "numpy cupy")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "imports ok" in text and "driver" in text and "set-up failed" in text
    assert not (tmp_path / "out" / "gpu-tests.log").exists()


def test_gpu_leg_environment_and_steps():
    script = SCRIPT.read_text()
    assert "export JAX_PLATFORMS=cpu" in script  # else a CUDA JAX takes 75% of the GPU
    assert "export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-$HOME/.cupy/kernel_cache}" in script
    assert '-k "cupy or torchcuda"' in script  # the CPU matrix is ci/test.sh's
    out = subprocess.run(["bash", str(SCRIPT), "nonsense"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "use setup, tests or bench" in out.stdout


def test_benchmark_pins_tf32_alike_on_both_sides():
    pytest.importorskip("torch")
    code = (
        "import os, torch\n"
        "from benchmarks.gpu import pin_tf32\n"
        "for on in (True, False):\n"
        "    pin_tf32(on)\n"
        "    assert torch.backends.cudnn.allow_tf32 is on and torch.backends.cuda.matmul.allow_tf32 is on\n"
        "    assert os.environ['CUPY_TF32'] == ('1' if on else '0')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_gpu_extras_bring_the_cuda_libraries():
    """A machine with only the NVIDIA driver: CuPy without [ctk] imports, then fails at its first kernel."""
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra, package in (("cuda12", "cupy-cuda12x[ctk]"), ("cuda13", "cupy-cuda13x[ctk]")):
        assert [r for r in extras[extra] if r.startswith(package)], extras[extra]
    readme = (ROOT / "README.md").read_text()
    assert "R580" in readme and "Install only one CuPy package" in readme
