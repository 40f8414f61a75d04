"""The backend matrix: every layer, loss and optimizer test takes the ``backend`` fixture.

Each entry is a ``Device`` the test runs under (``with anynet.device(...)``).
A backend whose library is missing, or that needs a GPU this machine lacks,
is skipped with the reason; CI installs all four CPU backends.
"""

from __future__ import annotations

import collections
import importlib.util

import numpy as np
import pytest

import anynet

if importlib.util.find_spec("torch") is not None:
    import torch

    torch.set_num_threads(1)  # the tests' arrays are tiny: threads only add overhead

if importlib.util.find_spec("jax") is not None:
    import jax

    jax.config.update("jax_enable_x64", True)  # gradient checks run in float64

# name -> (device spec, what to install if missing)
BACKENDS = {
    "numpy": ("cpu", None),
    "strict": ("array_api_strict:device1", "array-api-strict"),
    "torch": ("torch:cpu", "torch"),
    "jax": ("jax:cpu", "jax"),
    "cupy": ("cuda:0", "cupy and an NVIDIA GPU"),
    "torchcuda": ("torch:cuda:0", "torch with CUDA and an NVIDIA GPU"),
}
CPU_BACKENDS = ("numpy", "strict", "torch", "jax")


def _resolve(name: str) -> anynet.Device:
    spec, needs = BACKENDS[name]
    try:
        dev = anynet.as_device(spec)
        dev.zeros((1,))  # a backend that imports but has no device fails here
        return dev
    except Exception as err:  # noqa: BLE001 - any failure means "not available here"
        pytest.skip(f"backend {name} not available ({needs}): {type(err).__name__}: {err}")


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    """A Device; the test body runs with it as the current device."""
    dev = _resolve(request.param)
    with anynet.device(dev):
        yield dev


@pytest.fixture(params=list(CPU_BACKENDS))
def cpu_backend(request):
    """The CPU backends only (training runs that would be slow to repeat on GPUs)."""
    dev = _resolve(request.param)
    with anynet.device(dev):
        yield dev


@pytest.fixture(autouse=True)
def _seeded():
    anynet.seed(12345)


def arr(dev: anynet.Device, a, dtype=None) -> object:
    """A host array (or nested list) on ``dev``, optionally cast to a NumPy dtype first."""
    a = np.asarray(a)
    return dev.from_numpy(a.astype(dtype) if dtype is not None else a)


def host(x) -> np.ndarray:
    return np.asarray(anynet.to_numpy(x))


def check_inputs_unchanged(dev: anynet.Device, layer, x0: np.ndarray, train=None) -> None:
    """Forward and backward leave ``x`` and ``dout`` exactly as they were."""
    x = arr(dev, x0)
    out = layer.forward(x, train)
    d0 = np.random.default_rng(1).standard_normal(tuple(out.shape))
    dout = arr(dev, d0)
    layer.backward(dout)
    np.testing.assert_array_equal(host(x), x0)
    np.testing.assert_array_equal(host(dout), d0)


# -- a summary line per backend ----------------------------------------------

_COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_SKIP_REASONS: dict[str, str] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    params = getattr(getattr(item, "callspec", None), "params", {})
    name = params.get("backend", params.get("cpu_backend"))
    if name is None:
        name = "(no backend)"
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
