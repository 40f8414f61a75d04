"""SGD, the container and the spiral job on every backend (the command line: test_cli.py)."""

from __future__ import annotations

import numpy as np

import anynet
from anynet.testing import arr, host


def test_sgd_step_by_hand(backend):
    p = anynet.Parameter(arr(backend, [1.0, -2.0]), "w")
    shared = p.data
    p.grad = arr(backend, [0.5, 0.5])
    opt = anynet.SGD(lr=0.1)
    opt.update([p])
    opt.update([p])
    np.testing.assert_allclose(host(p.data), [0.9, -2.1])
    np.testing.assert_array_equal(host(shared), [1.0, -2.0])  # the old array is never written into


def test_sgd_skips_parameters_without_gradients(backend):
    p = anynet.Parameter(arr(backend, [1.0]), "w")
    anynet.SGD(lr=0.1).update([p])
    np.testing.assert_array_equal(host(p.data), [1.0])


def test_numerical_gradient_like_the_book(backend):
    x = arr(backend, [3.0, 4.0])
    grad = anynet.numerical_gradient(lambda v: backend.xp.sum(v * v), x)
    np.testing.assert_allclose(host(grad), [6.0, 8.0], rtol=1e-6)
    np.testing.assert_array_equal(host(x), [3.0, 4.0])


def test_spiral_reaches_95_percent(cpu_backend):
    anynet.seed(0)
    x, t = anynet.data.spiral()
    net = anynet.MLP(2, [50], 3)
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.Adam(lr=0.03), verbose=0)
    history = trainer.fit((x, t), epochs=60, batch_size=60)
    assert history["loss"][-1] < history["loss"][0]
    assert trainer.evaluate(x, t)[1] >= 0.95
    assert anynet.device_of(net.params[0].data) == cpu_backend
