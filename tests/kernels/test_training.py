"""The fast kernels inside training: the compiled JAX step traces XLA's convolution, and a zoo
model trains a few steps to the same weights with the fast kernels and with the reference."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import host, resolve_backend
from anynet.training import TrainStep, compile_step


def _simple_convnet(dev):
    anynet.seed(0)
    with anynet.device(dev):
        model = anynet.SimpleConvNet(input_shape=(1, 10, 10), filter_num=4, filter_size=3, pad=1, hidden_size=8)
    return model, anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.1)


def _batch(dev, n=4):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 1, 10, 10)).astype(np.float32)
    return anynet.to_device(x, dev), anynet.to_device(rng.integers(0, 10, n), dev)


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
def test_the_compiled_jax_step_holds_xlas_convolution(reference):
    import jax

    dev = resolve_backend("jax")
    model, loss, opt = _simple_convnet(dev)
    step = compile_step(model, loss, opt)
    with anynet.device(dev), anynet.debug(False), anynet.kernels.reference(reference):
        jaxpr = str(jax.make_jaxpr(step.fn)(*step.state(), _batch(dev)))
        eager = str(jax.make_jaxpr(TrainStep(model, loss, opt).pure)(*step.state(), _batch(dev)))
    for text in (jaxpr, eager):
        assert ("conv_general_dilated" in text) is not reference
        assert ("reduce_window_max" in text or "select_and_scatter_add" in text) is not reference


def test_a_zoo_model_trains_to_the_same_weights_with_and_without_fast_kernels(cpu_backend):
    weights = []
    for reference in (False, True):
        model, loss, opt = _simple_convnet(cpu_backend)
        step = TrainStep(model, loss, opt)
        with anynet.kernels.reference(reference):
            for _ in range(3):
                step(*_batch(cpu_backend))
        weights.append([host(p.data) for p in model.params])
    for fast, ref in zip(*weights):
        np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-5)
    start = [host(p.data) for p in _simple_convnet(cpu_backend)[0].params]
    assert all(not np.array_equal(w, s) for w, s in zip(weights[0], start))  # every parameter trained
