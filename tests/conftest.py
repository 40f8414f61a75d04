"""Fixtures over the backend matrix of ``anynet.testing``: every layer, loss and optimizer test
takes ``backend`` (or ``cpu_backend``), a ``Device`` the test runs under. A backend whose library
is missing, or that needs a GPU this machine lacks, is skipped with the reason; CI installs all
four CPU backends. Also: the libraries' global test settings and a summary line per backend.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

import anynet
from anynet.testing import BACKENDS, CPU_BACKENDS, backend_fixture

if importlib.util.find_spec("torch") is not None:
    import torch

    torch.set_num_threads(1)  # the tests' arrays are tiny: threads only add overhead

if importlib.util.find_spec("jax") is not None:
    # JAX compiles every operation for every new shape it meets, also outside jit: most of the
    # JAX tests' time. One compilation cache on disk for the whole run lets the pytest-xdist
    # workers (and the CLI subprocesses) reuse each other's compilations; the controller makes
    # it (the workers inherit its environment) and removes it at the end.
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        os.environ.update(JAX_COMPILATION_CACHE_DIR=tempfile.mkdtemp(prefix="anynet-test-jax-"),
                          ANYNET_TEST_OWNS_JAX_CACHE=str(os.getpid()))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
    import jax

    jax.config.update("jax_enable_x64", True)  # gradient checks run in float64

# Property-based tests stay small (each sets max_examples) and never time one example: the
# machine is shared. A function-scoped fixture (the backend) is the same for every example.
# Under CI=true the examples are derandomized, so a run is repeatable.
settings.register_profile("anynet", deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("ci", settings.get_profile("anynet"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "anynet")

backend = backend_fixture("backend")  # every backend; the test body runs with it as the current device
# Training, precision, checkpoint and resume runs: the CPU backends, which are cheap to repeat on every
# run of the suite. ANYNET_TEST_GPU=1 (set by `ci/gpu.sh tests`) adds the GPU backends, so the GPU leg
# runs what a user runs on a GPU; on a machine without one they are skipped with the reason.
GPU_BACKENDS = tuple(name for name in BACKENDS if name not in CPU_BACKENDS)
GPU_TESTS = os.environ.get("ANYNET_TEST_GPU", "") == "1"
cpu_backend = backend_fixture("cpu_backend", CPU_BACKENDS + (GPU_BACKENDS if GPU_TESTS else ()))


def pytest_unconfigure(config):
    if os.environ.get("ANYNET_TEST_OWNS_JAX_CACHE") == str(os.getpid()):
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(autouse=True)
def _seeded():
    anynet.seed(12345)


@pytest.fixture
def fashion_mnist():
    """The installed Fashion-MNIST, (train, test) DataSets; the test is skipped where its files are not
    found without a download (nothing is downloaded at test time)."""
    try:
        return anynet.data.fashion_mnist(download=False)
    except anynet.data.DataNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


# -- a summary line per backend ----------------------------------------------

_COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_SKIP_REASONS: dict[str, str] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    params = getattr(getattr(item, "callspec", None), "params", {})
    name = params.get("backend", params.get("cpu_backend", "(no backend)"))
    # on the report, which pytest-xdist carries from its workers to the process that prints
    outcome.get_result().user_properties.append(("backend", name))


def pytest_runtest_logreport(report):
    name = dict(report.user_properties).get("backend", "(no backend)")
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _COUNTS[name][report.outcome] += 1
        if report.skipped and name not in _SKIP_REASONS and isinstance(report.longrepr, tuple):
            _SKIP_REASONS[name] = report.longrepr[2].removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter):
    if not _COUNTS:
        return
    terminalreporter.section("tests per backend")
    for name in [*BACKENDS, "(no backend)"]:
        if name in _COUNTS:
            c = _COUNTS[name]
            line = f"{name:>13}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"
            if c["passed"] == 0 and name in _SKIP_REASONS:
                line += f" ({_SKIP_REASONS[name]})"
            terminalreporter.write_line(line)
