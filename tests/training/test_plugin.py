"""The step's one seam (StepPlugin): seeds in order, transforms in order, updates nested."""

from __future__ import annotations

import numpy as np

import anynet
from anynet.testing import host
from anynet.training import StepPlugin, TrainStep


class _Recorder(StepPlugin):
    def __init__(self, name, log, factor):
        self.name, self.log, self.factor = name, log, factor

    def seed(self, seed):
        self.log.append((self.name, "seed"))
        return seed * 2.0

    def transform(self, params, grads):
        self.log.append((self.name, "transform"))
        return [g * self.factor for g in grads]

    def update(self, apply, params):
        self.log.append((self.name, "update in"))
        apply(params)
        self.log.append((self.name, "update out"))


def _grads(plugins):
    anynet.seed(0)
    model = anynet.MLP(3, [4], 2)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 3)).astype(np.float32), rng.integers(0, 2, 5)
    TrainStep(model, anynet.SoftmaxWithLoss(), anynet.SGD(1e-9), plugins=plugins)(x, t)
    return [host(p.grad) for p in model.params]


def test_plugins_seed_transform_and_wrap_the_update_in_order():
    log = []
    plain = _grads([])
    both = _grads([_Recorder("a", log, 3.0), _Recorder("b", log, 5.0)])
    assert log == [("a", "seed"), ("b", "seed"), ("a", "transform"), ("b", "transform"),
                   ("a", "update in"), ("b", "update in"), ("b", "update out"), ("a", "update out")]
    for g0, g in zip(plain, both):  # seeds 2 * 2, transforms 3 * 5
        np.testing.assert_allclose(g, g0 * 60.0, rtol=1e-5)


def test_an_inactive_precision_stays_out_of_the_step():
    model = anynet.MLP(3, [4], 2)
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0)
    assert trainer.plugins == []
    mixed = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0, precision="float16")
    assert mixed.plugins == [mixed.precision]
