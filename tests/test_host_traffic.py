"""No hidden host traffic in a training step.

On a GPU every ``float()``, ``bool()`` or copy to the host is a device sync.
array-api-strict on ``Device("device1")`` lets us count them on the CPU: each
conversion of one of its arrays to a Python number or to the host is counted
while the Trainer runs. An epoch may read its metrics once; the count must not
grow with the number of steps (the batch upload is host-to-device and is not
counted).
"""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.hooks import ClipByNorm
from anynet.testing import resolve_backend

strict_array = pytest.importorskip("array_api_strict._array_object").Array
READS = ("__float__", "__bool__", "__int__", "__index__", "__complex__", "__array__", "__dlpack__", "to_device")


@pytest.fixture
def host_reads(monkeypatch):
    """A counter of device-to-host conversions of array-api-strict arrays."""
    count = {"n": 0}
    for name in READS:
        original = getattr(strict_array, name)

        def counted(self, *args, _original=original, **kwargs):
            count["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(strict_array, name, counted)
    return count


MODELS = {
    "mlp": (lambda: anynet.MLP(12, [16, 16], 3, dropout=0.2, batchnorm=True), (12,)),
    "lstm": (lambda: anynet.models.SequenceClassifier(4, 8, 3, cell="lstm"), (3, 4)),
    "convnet": (lambda: anynet.SimpleConvNet((1, 8, 8), 3, filter_num=4, filter_size=3, hidden_size=8), (1, 8, 8)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_reads_per_epoch_do_not_grow_with_steps(host_reads, name):
    make, shape = MODELS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, *shape)).astype(np.float32)
    t = rng.integers(0, 3, 80)
    reads = {}
    for batch_size in (40, 10):  # 2 and 8 steps per epoch
        with anynet.device(resolve_backend("strict")):
            model = make()
            opt = anynet.Adam(lr=1e-3, hooks=[ClipByNorm(1.0)])
            trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), opt, verbose=0)
            with anynet.debug(False):  # as on a GPU: value checks off
                host_reads["n"] = 0
                trainer.fit((x, t), epochs=1, batch_size=batch_size)
                reads[batch_size] = host_reads["n"]
    assert reads[10] == reads[40], f"host reads grow with the steps: {reads}"
    assert reads[40] <= 4, f"more host reads per epoch than the metrics need: {reads}"


def test_no_synchronisation_in_cupy_training_steps():
    """On a real GPU: forward, loss, backward and update never wait for the device.
    ``cupyx.allow_synchronize(False)`` makes any device synchronisation (every device-to-host
    read) raise; the batches are uploaded before it, as a loader would."""
    dev = resolve_backend("cupy")
    cupyx = pytest.importorskip("cupyx")
    rng = np.random.default_rng(0)
    for make, shape in MODELS.values():
        with anynet.device(dev):
            model = make()
        loss = anynet.SoftmaxWithLoss()
        opt = anynet.Adam(lr=1e-3, hooks=[ClipByNorm(1.0)])
        batches = [(anynet.to_device(rng.standard_normal((16, *shape)).astype(np.float32), dev),
                    anynet.to_device(rng.integers(0, 3, 16), dev)) for _ in range(3)]
        with anynet.debug(False), cupyx.allow_synchronize(False):
            for x, t in batches:
                y = model.forward(x, train=True)
                loss.forward(y, t)
                model.backward(loss.backward())
                opt.update(model.params)
