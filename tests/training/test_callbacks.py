"""Callbacks: ReduceLROnPlateau against PyTorch's rule, through the trainer, and across a resume."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import host
from anynet.training import Checkpoint, ReduceLROnPlateau

METRICS = [1.0, 0.9, 0.95, 0.91, 0.92, 0.5, 0.6, 0.6, 0.6, 0.6, 0.4, 0.45, 0.45, 0.45]


class _Stub:
    def __init__(self, lr):
        self.optimizer = anynet.SGD(lr=lr)
        self.history = {}


def test_reduces_when_pytorch_does():
    torch = pytest.importorskip("torch")
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, threshold=0.0,
                                                     threshold_mode="abs", min_lr=0.01)
    trainer, cb = _Stub(0.1), ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.01)
    cb.on_train_begin(trainer)
    for epoch, value in enumerate(METRICS, 1):
        ref.step(value)
        cb.on_epoch_end(trainer, epoch, {"val_loss": value})
        assert trainer.optimizer.lr == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
    assert trainer.optimizer.lr < 0.1


def _fit(x, t, epochs, resume=None, path=None):
    anynet.seed(1)
    model = anynet.MLP(2, [8], 3)
    cbs = [ReduceLROnPlateau(factor=0.5, patience=1)] + ([Checkpoint(path, every=1)] if path else [])
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(lr=3.0), callbacks=cbs, verbose=0)
    trainer.fit((x, t), (x[:30], t[:30]), epochs=epochs, batch_size=30, resume=resume)
    return model, trainer


def test_through_the_trainer_and_across_a_resume(tmp_path):
    x, t = anynet.data.spiral()
    straight, trainer = _fit(x, t, 12)
    assert trainer.optimizer.lr < 3.0  # a rate this large stalls, and the callback lowers it
    _fit(x, t, 6, path=tmp_path / "ck.npz")
    resumed, again = _fit(x, t, 12, resume=tmp_path / "ck.npz")
    assert again.optimizer.lr == trainer.optimizer.lr
    for a, b in zip(straight.params, resumed.params):
        np.testing.assert_array_equal(host(a.data), host(b.data))


def test_refusals():
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: factor must be a number in \(0.0, 1.0\)"):
        ReduceLROnPlateau(factor=1.0)
    cb = ReduceLROnPlateau()
    stub = _Stub(anynet.CosineDecay(0.1, total=10))
    with pytest.raises(ValueError, match="ReduceLROnPlateau: the optimizer's lr is a schedule"):
        cb.on_train_begin(stub)
    stub = _Stub(0.1)
    cb.on_train_begin(stub)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: no metric 'val_loss'"):
        cb.on_epoch_end(stub, 1, {"loss": 1.0})


def test_an_interrupted_epoch_leaves_the_last_checkpoint_and_resumes_as_the_straight_run(tmp_path):
    """Checkpoints every 2 epochs, Ctrl-C in the middle of epoch 4: the checkpoint on disk stays
    epoch 2's (not epoch 3 with a part of epoch 4 in it, labelled as epoch 3), and resuming from
    it gives the straight run's weights."""
    x, t = anynet.data.spiral()

    def run(path, epochs, resume=None, interrupt_at=None):
        anynet.seed(3)
        model = anynet.MLP(2, [8], 3)
        calls = []

        def shifted(xb):  # a host augmentation that can be interrupted
            calls.append(1)
            if interrupt_at is not None and len(calls) == interrupt_at:
                raise KeyboardInterrupt
            return xb

        trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.Adam(0.01), verbose=0,
                                 callbacks=[anynet.training.Checkpoint(path, every=2)])
        trainer.fit((x, t), epochs=epochs, batch_size=30, augment=shifted, resume=resume)
        return model, trainer

    straight, _ = run(tmp_path / "straight.npz", 4)
    path = tmp_path / "c.npz"
    with pytest.raises(KeyboardInterrupt):
        run(path, 4, interrupt_at=35)  # 10 batches an epoch: the 5th batch of epoch 4
    assert anynet.training.checkpoint.read_metadata(path)["trainer"]["epoch"] == 2
    resumed, trainer = run(path, 4, resume=path)
    assert trainer.epoch == 4
    for p, q in zip(straight.params, resumed.params):
        np.testing.assert_allclose(host(q.data), host(p.data), rtol=1e-6, atol=1e-7)
