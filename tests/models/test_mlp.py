"""The MLP of the book (anynet.models.mlp): the spiral job on every CPU backend."""

from __future__ import annotations

import anynet


def test_spiral_reaches_95_percent(cpu_backend):
    anynet.seed(0)
    x, t = anynet.data.spiral()
    net = anynet.MLP(2, [50], 3)
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.Adam(lr=0.03), verbose=0)
    history = trainer.fit((x, t), epochs=60, batch_size=60)
    assert history["loss"][-1] < history["loss"][0]
    assert trainer.evaluate(x, t)[1] >= 0.95
    assert anynet.device_of(net.params[0].data) == cpu_backend
