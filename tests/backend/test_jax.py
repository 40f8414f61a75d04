"""JAX's device class: keys that split on every draw, the same masks inside and outside a compiled step."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import backend

jax = pytest.importorskip("jax")


def test_the_threaded_key_draws_what_the_stateful_generator_draws():
    dev = anynet.as_device("jax:cpu")
    streams = backend.RandomStreams(seed=2)
    x = dev.zeros((4,))
    with backend.use_streams(streams):
        key = backend.step_key(dev)
        with backend.threaded_key(key) as holder:
            inside = np.asarray(backend.uniform_like(x))
        outside = np.asarray(backend.uniform_like(x))
        backend.set_step_key(dev, holder.key)
        after = np.asarray(backend.uniform_like(x))
    np.testing.assert_array_equal(inside, outside)
    assert not np.array_equal(after, outside)


def test_the_key_saves_and_restores():
    dev = anynet.as_device("jax:cpu")
    rng = dev.random.new_rng(9)
    saved = dev.random.rng_state(rng)
    first = np.asarray(dev.random.uniform(rng, (3,), jax.numpy.float32))
    again = np.asarray(dev.random.uniform(dev.random.restore_rng(saved), (3,), jax.numpy.float32))
    np.testing.assert_array_equal(first, again)


def test_float64_needs_jaxs_64_bit_mode_and_says_how(monkeypatch):
    dev = anynet.as_device("jax:cpu")
    monkeypatch.setattr(jax.config, "read", lambda name: False if name == "jax_enable_x64" else None)
    # the command's user sets the environment; Python code may update the config
    advice = r"no float64.*JAX_ENABLE_X64=1.*jax.config.update\('jax_enable_x64', True\)"
    with pytest.raises(anynet.DeviceError, match=advice):
        with anynet.device(dev, dtype="float64"):
            pass


def test_jit_compiles_the_step_and_reports_each_trace():
    traces = []
    step = anynet.as_device("jax:cpu").compiler.compile_step(lambda a: a * 2, (), lambda: traces.append(1))
    assert float(step(jax.numpy.float32(3.0))) == 6.0 and float(step(jax.numpy.float32(4.0))) == 8.0
    assert traces == [1]
