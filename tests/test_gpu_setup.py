"""The GPU leg (ci/gpu.sh, ci/gpu-probe.py, benchmarks/gpu.py), checked on a CPU machine: a GPU
machine's few minutes must go to measurements, not to script errors found there. The dry runs use
the CPU devices in place of the GPU ones, as the runbook's dry run does."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "ci" / "gpu.sh"
OUT_FILES = {"summary.txt", "setup.log", "smoke.log", "gpu-bench.log", "results-gpu.md", "results-gpu.json",
             "gpu-tests.log", "cupy-cache.tgz", "results-gpu-profile.md", "results-gpu-profile.json"}
CPU_BENCH = "--device cpu --peer cpu --models MLP --batches 16 --quick --agree-steps 2"
CPU_PROFILE = "--device cpu --peer cpu --models MLP --batches 16 --quick"


def _gpu_sh(tmp_path, *steps: str, cwd: Path = ROOT, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    """``bash ci/gpu.sh STEPS`` in ``cwd`` with $OUT, the kernel cache and the wheel folder under tmp_path."""
    env = {**os.environ, "OUT": str(tmp_path / "out"), "CUPY_CACHE_DIR": str(tmp_path / "cache"),
           "SITE": str(tmp_path / "site"), "WORKERS": "0", **env}
    return subprocess.run(["bash", str(cwd / "ci" / "gpu.sh"), *steps], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _summary_printed_last(out: subprocess.CompletedProcess, tmp_path) -> str:
    """The summary file, checked to be what the script printed last; at most the 8 known files in $OUT."""
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert out.stdout.endswith(summary), out.stdout[-2000:]
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert files <= OUT_FILES and len(files) <= 8, files
    return summary


def _repo_copy(tmp_path) -> Path:
    """anynet and the GPU leg's scripts alone (no .whl/), with an nvidia-smi that answers like one GPU's."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "anynet", repo / "anynet", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "ci").mkdir()
    for name in ("gpu.sh", "gpu-probe.py"):
        shutil.copy(ROOT / "ci" / name, repo / "ci" / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'Fake, 1 MiB, 0'\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    return repo


def test_offline_setup_fails_early_naming_the_wheels(tmp_path):
    repo = _repo_copy(tmp_path)
    pkg = tmp_path / "lib" / "needs_a_dependency"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import a_missing_dependency_anynet\n")
    out = _gpu_sh(tmp_path, "setup", cwd=repo, PIP_NO_INDEX="1", HOME=str(tmp_path),
                  PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", PYTHONPATH=str(tmp_path / "lib"),
                  ANYNET_GPU_NEEDS="numpy no_such_module_anynet array_api_nothing needs_a_dependency")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "still missing: no_such_module_anynet array_api_nothing needs_a_dependency" in text
    # the real import error, and the wheel that brings the module that is really missing
    assert "import needs_a_dependency: ModuleNotFoundError: No module named 'a_missing_dependency_anynet'" in text
    assert ("pip download --no-deps -d .whl no-such-module-anynet array-api-nothing a-missing-dependency-anynet "
            "(needs_a_dependency imports a_missing_dependency_anynet))") in text
    assert "set-up failed: nothing else runs" in text
    assert not (tmp_path / "out" / "gpu-tests.log").exists()
    _summary_printed_last(out, tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="needs CuPy installed (ci/backends.txt)")
def test_all_without_a_working_gpu_fails_soft_with_the_driver_hint(tmp_path):
    """CuPy imports, nvidia-smi answers, but no kernel runs: the set-up says so, the probe names the
    real error, every other step reports that it was skipped, and the summary comes last."""
    import cupy

    try:
        cupy.cuda.runtime.getDeviceCount()
        pytest.skip("a GPU is present")
    except Exception:  # noqa: BLE001 - no GPU or driver: the case under test
        pass
    repo = _repo_copy(tmp_path)
    out = _gpu_sh(tmp_path, "all", cwd=repo, HOME=str(tmp_path), PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
                  ANYNET_GPU_NEEDS="numpy cupy")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "imports ok" in text and "driver" in text and "set-up failed" in text
    assert "probe import cupy" in text and "probe GPU, driver, runtime, NVRTC" in text and " FAIL " in text
    assert "CUDARuntimeError" in text  # the real error on the probe's line, not a hidden one
    summary = _summary_printed_last(out, tmp_path)
    for step in ("smoke", "profile", "bench", "tests"):
        assert f"== {step}: skipped, the set-up failed" in summary
    assert not (tmp_path / "out" / "gpu-tests.log").exists()


def test_probe_hints_name_the_right_wheel():
    spec = importlib.util.spec_from_file_location("gpu_probe", ROOT / "ci" / "gpu-probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    assert "cuda-pathfinder" in probe.hint(ModuleNotFoundError("No module named 'cuda'", name="cuda"), "13.0")
    assert "cupy-cuda13x" in probe.hint(ModuleNotFoundError("No module named 'cupy'", name="cupy"), "13.0")
    assert "cupy-cuda12x" in probe.hint(RuntimeError("cudaErrorInsufficientDriver: too old"), "12.8")
    assert "no NVIDIA driver" in probe.hint(RuntimeError("cudaErrorInsufficientDriver"), None)
    assert "CUDA_PATH" in probe.hint(RuntimeError("Failed to find CUDA headers (cuda_fp16.h)"), "13.0")
    assert probe.hint(ValueError("something else"), "13.0") == ""


def test_gpu_leg_environment_and_unknown_steps(tmp_path):
    script = SCRIPT.read_text()
    assert "export JAX_PLATFORMS=cpu" in script  # else a CUDA JAX takes 75% of the GPU
    assert "export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-$HOME/.cupy/kernel_cache}" in script
    assert "export HOME=${HOME:-/root} PYTHONUNBUFFERED=1" in script  # set -u; logs of a killed step keep their end
    assert "NCCL_SOCKET_IFNAME=${NCCL_SOCKET_IFNAME:-lo}" in script and "export CUDA_PATH=/usr/local/cuda" in script
    assert 'SEL=${SEL:-"cupy or torchcuda or nccl"}' in script and "ANYNET_TEST_GPU=1" in script
    out = _gpu_sh(tmp_path, "setup", "nonsense", timeout=30)
    assert out.returncode == 2 and "use setup, probe, smoke, profile, bench, tests, list or all" in out.stdout
    assert not (tmp_path / "out").exists()  # the arguments are read before anything runs


def test_selection_runs_the_gpu_backends_the_trainer_and_nccl(tmp_path):
    """ANYNET_TEST_GPU=1 (which `ci/gpu.sh tests` sets) adds the GPU backends to ``cpu_backend``;
    the selection then holds the checkpoint tests on both and the NCCL tests. Without HOME: set -u."""
    env = {k: v for k, v in os.environ.items() if k != "HOME"}
    env.update(OUT=str(tmp_path / "out"), CUPY_CACHE_DIR=str(tmp_path / "cache"), SITE=str(tmp_path / "site"),
               TESTS="tests/training/test_checkpoint.py tests/training/parallel/test_parallel.py")
    out = subprocess.run(["bash", str(SCRIPT), "list"], cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "unbound variable" not in out.stderr
    ids = (tmp_path / "out" / "gpu-tests.log").read_text()
    for name in ("test_checkpoint.py::test_round_trip_restores_model_optimizer_and_rng[cupy]",
                 "test_checkpoint.py::test_resume_is_exact_with_dropout_on_every_cpu_backend[torchcuda]",
                 "test_parallel.py::test_nccl_sums_and_broadcasts_in_place_on_one_gpu",
                 "test_parallel.py::test_gradients_average_over_nccl_on_two_gpus"):
        assert name in ids, ids
    assert "[numpy]" not in ids and "nccl 2," in out.stdout
    plain = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                            "tests/training/test_checkpoint.py"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, env={**os.environ, "ANYNET_TEST_GPU": "0"})
    assert "[numpy]" in plain.stdout and "[cupy]" not in plain.stdout  # the CPU matrix is unchanged


def test_dry_run_of_smoke_bench_and_tests_on_the_cpu(tmp_path):
    """With the profile too: 9 files before the JSON twins go, the tables' .md files stay."""
    out = _gpu_sh(tmp_path, "smoke", "profile", "bench", "tests", BUDGET="420", SEL="numpy and dropout",
                  TESTS="tests/layers", SMOKE_DEVICES="cpu;torch:cpu --precision bfloat16", BENCH_ARGS=CPU_BENCH,
                  PROFILE_ARGS=CPU_PROFILE, OMP_NUM_THREADS="1")  # torch spinning on 2 loaded cores: 100x slower
    summary = _summary_printed_last(out, tmp_path)
    assert "== profile: rc 0" in summary and "## MLP, batch 16" in summary and "| anynet torch:cpu |" in summary
    assert {"results-gpu.md", "results-gpu-profile.md"} <= {p.name for p in (tmp_path / "out").iterdir()}
    log = (tmp_path / "out" / "gpu-bench.log").read_text()
    assert "### benchmarks/gpu_profile.py" in log and "### benchmarks/gpu.py" in log
    assert out.returncode == 0, summary + out.stderr
    assert "### exit 0 (cpu)" in summary and "### exit 0 (torch:cpu --precision bfloat16)" in summary
    assert "resumed = uninterrupted" in summary and summary.count("test accuracy") == 5
    assert "== bench: rc 0" in summary and "| MLP | 16 |" in summary and "| MLP | torch:cpu |" in summary
    assert "numpy: " in summary and " passed" in summary and "== tests: rc 0" in summary
    assert "FAILED" not in summary


def test_budget_bounds_every_step(tmp_path):
    """A smoke run that would train for hours is stopped at what the budget leaves; the tests,
    with no time left, report that they were skipped; the summary still comes last."""
    t0 = time.monotonic()
    slow = "cpu --hidden 4096 --layers 8 --batch-size 1"  # minutes of training
    out = _gpu_sh(tmp_path, "smoke", "tests", BUDGET="32", SMOKE_DEVICES=slow,
                  SEL="numpy", TESTS="tests/layers")
    took = time.monotonic() - t0
    summary = _summary_printed_last(out, tmp_path)
    assert out.returncode == 1, summary
    limit = int(re.search(r"== smoke: done at \d+ s \(limit (\d+) s", summary).group(1))
    assert limit <= 32 - 10 and f"### exit 124 ({slow})" in summary  # 10 s kept for the summary
    assert "== tests: skipped" in summary and "FAILED: smoke tests" in summary
    assert took < 32 + 10, took


def _bench(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--out", str(tmp_path),
                             *CPU_BENCH.split(), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_benchmark_writes_each_row_as_it_is_measured(tmp_path):
    """The first row is in both files while the benchmark is still measuring the next ones."""
    proc = _bench(tmp_path, "--models", "MLP", "SimpleConvNet", "DeepConvNet", "--batches", "8")
    md, seen_running = tmp_path / "results-gpu.md", False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if md.exists() and "| MLP | 8 |" in md.read_text():
            seen_running = proc.poll() is None
            break
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    assert seen_running, md.read_text() if md.exists() else "no results-gpu.md"
    data = json.loads((tmp_path / "results-gpu.json").read_text())
    row = data["throughput"][0]
    assert (row["model"], row["batch"]) == ("MLP", 8) and row["samples_per_s"]["anynet cpu"] > 0
    assert [a["device"] for a in data["agreement"] if a["model"] == "MLP"] == ["cpu", "torch:cpu"]
    assert data["agreement"][0]["final"] == 0.0 and data["agreement"][1]["loss"] < 1e-5


def test_benchmark_starts_no_row_after_its_time_limit(tmp_path):
    proc = _bench(tmp_path, "--time-limit", "1e-9")
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, log
    text = (tmp_path / "results-gpu.md").read_text()
    assert "| MLP | 16 | not measured: --time-limit 1e-09 s |" in text and "a third of --time-limit" in text
    assert json.loads((tmp_path / "results-gpu.json").read_text())["throughput"] == []


def test_benchmark_measures_the_devices_that_work(tmp_path):
    """Without a working GPU for --device, the benchmark says so and still measures anynet on torch:<peer>."""
    proc = _bench(tmp_path, "--device", "cuda:99")  # the last --device counts
    log, _ = proc.communicate(timeout=180)
    assert proc.returncode == 1, log
    text = (tmp_path / "results-gpu.md").read_text()
    assert "device cuda:99 does not work: DeviceError:" in text and "| MLP | torch:cpu |" in text, text
    assert "| MLP | 16 |" in text


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


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="needs CuPy installed (ci/backends.txt)")
def test_benchmark_refuses_tf32_once_cupy_has_read_it():
    """CuPy 14 reads CUPY_TF32 once: asking for another setting after cupy is imported is an error."""
    code = (
        "import os\n"
        "os.environ.pop('CUPY_TF32', None)\n"
        "import cupy\n"
        "from benchmarks.gpu import pin_tf32\n"
        "pin_tf32(False)\n"
        "try:\n"
        "    pin_tf32(True)\n"
        "except RuntimeError as err:\n"
        "    assert 'before cupy is imported' in str(err), err\n"
        "else:\n"
        "    raise SystemExit('pin_tf32(True) after import cupy was accepted')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout


def test_gpu_extras_bring_the_cuda_libraries():
    """A machine with only the NVIDIA driver: CuPy without [ctk] imports, then fails at its first kernel."""
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra, package in (("cuda12", "cupy-cuda12x[ctk]"), ("cuda13", "cupy-cuda13x[ctk]")):
        assert [r for r in extras[extra] if r.startswith(package)], extras[extra]
    guide = (ROOT / "docs" / "guides" / "devices.md").read_text()  # the README links to it
    assert "R580" in guide and "Install only one CuPy package" in guide
    assert "docs/guides/devices.md#installing-cupy" in (ROOT / "README.md").read_text()
