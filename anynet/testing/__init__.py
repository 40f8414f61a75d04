"""The backend matrix anynet's own tests run on, for tests of code built on anynet.

Each backend is a name, a device spec and what to install when it is missing. A backend whose
library is absent, or that needs a GPU the machine lacks, is skipped with that reason under
pytest (and raises ``BackendUnavailable`` elsewhere). Usage, in a test module of your own::

    import anynet, pytest
    from . import arr, backends, host, resolve_backend

    @pytest.mark.parametrize("name", backends())
    def test_my_layer(name):
        with anynet.device(resolve_backend(name)) as dev:
            assert host(MyLayer().forward(arr(dev, [[1.0, 2.0]]))).shape == (1, 2)

or, in a conftest.py, ``backend = backend_fixture("backend")`` gives tests a ``backend`` fixture.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

import numpy as np

from .. import backend
from .gradcheck import check_layer

__all__ = [
    "BACKENDS",
    "CPU_BACKENDS",
    "BackendUnavailable",
    "arr",
    "away_from_zero",
    "backend_fixture",
    "backends",
    "check_inputs_unchanged",
    "host",
    "layer_table_tests",
    "resolve_backend",
    "tie_free",
]

# name -> (device spec, what to install if missing)
BACKENDS: dict[str, tuple[str, str | None]] = {
    "numpy": ("cpu", None),
    "strict": ("array_api_strict:device1", "array-api-strict"),
    "torch": ("torch:cpu", "torch"),
    "jax": ("jax:cpu", "jax"),
    "cupy": ("cuda:0", "cupy and an NVIDIA GPU"),
    "torchcuda": ("torch:cuda:0", "torch with CUDA and an NVIDIA GPU"),
}
"""Backend name -> (device spec, what to install when its library is missing)."""
CPU_BACKENDS: tuple[str, ...] = ("numpy", "strict", "torch", "jax")
"""The backends that need no GPU: NumPy, array-api-strict, PyTorch CPU, JAX CPU."""


class BackendUnavailable(RuntimeError):
    """A backend of the matrix cannot run on this machine (library or device missing)."""


def backends(names: Iterable[str] | None = None) -> list[str]:
    """The backend names to parametrize over: all of ``BACKENDS``, or ``names`` checked against it."""
    chosen = list(BACKENDS) if names is None else list(names)
    unknown = [n for n in chosen if n not in BACKENDS]
    if unknown:
        raise ValueError(f"anynet.testing: unknown backends {unknown}; known: {list(BACKENDS)}")
    return chosen


def resolve_backend(name: str) -> backend.Device:
    """The ``Device`` of backend ``name``, checked by creating an array on it.

    When it cannot run here: ``pytest.skip`` with the reason if pytest is running,
    else ``BackendUnavailable``.
    """
    spec, needs = BACKENDS[backends([name])[0]]
    try:
        dev = backend.as_device(spec)
        dev.zeros((1,))  # a backend that imports but has no device fails here
        return dev
    except Exception as err:  # noqa: BLE001 - any failure means "not available here"
        reason = f"backend {name} not available ({needs}): {type(err).__name__}: {err}"
        error = err
    pytest = sys.modules.get("pytest")  # imported by a running pytest; never imported here
    if pytest is None:
        raise BackendUnavailable(reason) from error
    pytest.skip(reason)


def backend_fixture(name: str, names: Iterable[str] | None = None) -> Callable[..., Any]:
    """A pytest fixture called ``name``, over the backends ``names`` (default: all), that yields
    each ``Device`` with the test body running under it as the current device.

    Assign it in a conftest.py or test module: ``cpu_backend = backend_fixture("cpu_backend", CPU_BACKENDS)``.
    """
    import pytest

    @pytest.fixture(name=name, params=backends(names))
    def fixture(request: Any) -> Any:
        dev = resolve_backend(request.param)
        with backend.device(dev):
            yield dev

    return fixture


def arr(dev: backend.Device, a: Any, dtype: Any = None) -> Any:
    """A host array (or nested list) on ``dev``, optionally cast to a NumPy dtype first."""
    a = np.asarray(a)
    return dev.from_numpy(a.astype(dtype) if dtype is not None else a)


def host(x: Any) -> np.ndarray:
    """Any backend's array as a NumPy array (a copy where the library needs one)."""
    return np.asarray(backend.to_numpy(x))


def away_from_zero(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Host inputs at least 0.1 from zero (either sign), away from the kinks of ReLU-like layers."""
    return rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)


def tie_free(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Distinct host values (a shuffled ramp plus noise), far enough apart that a small
    numerical step never changes which element of a pooling window is the largest."""
    n = int(np.prod(shape))
    ramp = rng.permutation(n).astype(float) / n
    return (ramp * 4.0 - 2.0 + rng.uniform(0, 0.1 / n, n)).reshape(shape)


def check_inputs_unchanged(dev: backend.Device, layer: Any, x0: np.ndarray, train: bool | None = None) -> None:
    """Forward and backward of ``layer`` on ``dev`` leave ``x`` and ``dout`` exactly as they were.

    x0: host array of any shape the layer takes; dout is random of the output's shape.
    """
    x0 = np.asarray(x0)
    x = arr(dev, x0.copy())  # a copy: on NumPy the device array would otherwise be x0 itself
    out = layer.forward(x, train)
    d0 = np.random.default_rng(1).standard_normal(tuple(out.shape))
    dout = arr(dev, d0.copy())
    layer.backward(dout)
    np.testing.assert_array_equal(host(x), x0)
    np.testing.assert_array_equal(host(dout), d0)


def layer_table_tests(table: dict[str, tuple], inputs: Callable[..., np.ndarray] = tie_free) -> tuple[Any, Any]:
    """The two checks every layer gets, as pytest tests parametrized over ``table``: a gradient
    check (``gradcheck.check_layer``) and the inputs-unchanged check. ``table`` maps a name to
    ``(factory, input shape)`` or ``(factory, input shape, train, reseed, input maker)``;
    ``inputs(shape, rng)`` makes the host input where an entry names none. In a test module::

        test_gradient, test_inputs_left_unchanged = layer_table_tests(LAYERS)
    """
    import pytest  # the test tools: imported only by what builds tests

    def case(name: str) -> tuple:
        entry = tuple(table[name])
        return entry[:2] + entry[2:] + (None, None, inputs)[len(entry) - 2:]

    @pytest.mark.parametrize("name", list(table))
    def test_gradient(backend, name):
        make, shape, train, reseed, maker = case(name)
        check_layer(make(), arr(backend, maker(shape, np.random.default_rng(0))), train=train, reseed=reseed)

    @pytest.mark.parametrize("name", list(table))
    def test_inputs_left_unchanged(backend, name):
        make, shape, train, _, maker = case(name)
        check_inputs_unchanged(backend, make(), maker(shape, np.random.default_rng(1)), train)

    return test_gradient, test_inputs_left_unchanged
