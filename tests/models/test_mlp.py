"""The MLP of the book (anynet.models.mlp) on every CPU backend: a whole-net gradient check, the spiral job."""

from __future__ import annotations

import numpy as np

import anynet
from anynet.testing import arr
from anynet.testing.gradcheck import check_layer


def test_spiral_reaches_95_percent(cpu_backend):
    anynet.seed(0)
    x, t = anynet.data.spiral()
    net = anynet.MLP(2, [50], 3)
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.Adam(lr=0.03), verbose=0)
    history = trainer.fit((x, t), epochs=60, batch_size=60)
    assert history["loss"][-1] < history["loss"][0]
    assert trainer.evaluate((x, t))[1] >= 0.95
    assert anynet.device_of(net.params[0].data) == cpu_backend


def test_mlp_with_batchnorm_and_dropout_gradient(cpu_backend):
    net = anynet.MLP(4, [5, 5], 3, dropout=0.3, batchnorm=True, dtype="float64")
    x = arr(cpu_backend, np.random.default_rng(0).standard_normal((6, 4)))
    assert len(check_layer(net, x, train=True, reseed=5, directions=2)) == 2
