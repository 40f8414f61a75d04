"""anynet.training.TensorBoard: the event file holds the trainer's figures, read back with TensorBoard's
own event reader; histograms every N epochs; argument checks. (Rank 0 only under MPI, and the
``--tensorboard`` flag: tests/cli/test_ecosystems.py.)"""

from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

import anynet  # noqa: E402
from anynet.optim.schedules import CosineDecay  # noqa: E402
from anynet.training import ReduceLROnPlateau, TensorBoard  # noqa: E402


def read_events(logdir):
    """TensorBoard's reader over ``logdir``: {tag: [(step, value)]} of the scalars, and the accumulator."""
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}, acc


def _fit(logdir, callbacks_after=(), lr=0.5, epochs=3, **kwargs):
    x, t = anynet.data.spiral(30)
    trainer = anynet.Trainer(anynet.MLP(2, [8], 3), anynet.SoftmaxWithLoss(), anynet.SGD(lr), verbose=0,
                             callbacks=[TensorBoard(logdir, **kwargs), *callbacks_after])
    trainer.fit((x, t), (x[:20], t[:20]), epochs=epochs, batch_size=30)
    return trainer


def test_the_event_file_holds_every_figure_of_every_epoch(tmp_path):
    # the callback reads Python floats from the trainer (the same on every backend); arrays only for
    # histograms, tested below on PyTorch in bfloat16, which NumPy cannot hold
    trainer = _fit(tmp_path / "tb")
    scalars, acc = read_events(tmp_path / "tb")
    assert set(scalars) == {"loss", "accuracy", "val_loss", "val_accuracy", "time", "lr"}
    for tag, values in trainer.history.items():
        assert [s for s, _ in scalars[tag]] == [1, 2, 3]
        assert [v for _, v in scalars[tag]] == pytest.approx(values, rel=1e-6)  # stored as float32
    assert scalars["lr"] == [(1, 0.5), (2, 0.5), (3, 0.5)]
    assert acc.Tags()["histograms"] == [] and len(os.listdir(tmp_path / "tb")) == 1


def test_histograms_every_n_epochs_and_the_rate_a_schedule_or_a_plateau_gave(tmp_path):
    torch_cpu = pytest.importorskip("torch") and anynet.as_device("torch:cpu")
    x, t = anynet.data.spiral(30)
    schedule = CosineDecay(0.5, total=9)
    with anynet.device(torch_cpu):
        model = anynet.MLP(2, [8], 3, batchnorm=True)
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(schedule), precision="bfloat16",
                             verbose=0, callbacks=[TensorBoard(tmp_path / "a", histograms=2)])
    trainer.fit((x, t), epochs=3, batch_size=30)  # 3 updates per epoch
    scalars, acc = read_events(tmp_path / "a")
    assert [v for _, v in scalars["lr"]] == pytest.approx([schedule(2), schedule(5), schedule(8)], rel=1e-6)
    tags = acc.Tags()["histograms"]
    assert set(tags) == {f"weights/{k}" for k in trainer.model.state_dict()} | {
        f"grads/{k}" for k in ("0.W", "0.b", "1.gamma", "1.beta", "3.W", "3.b")}
    assert [e.step for e in acc.Histograms("grads/0.W")] == [2]
    assert acc.Histograms("weights/0.W")[0].histogram_value.num == 16  # bfloat16 widened to float32
    # listed first, it logs the rate each epoch used, before ReduceLROnPlateau lowers it for the next
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)  # halves from epoch 2 on
    _fit(tmp_path / "b", lr=0.4, callbacks_after=[plateau])
    scalars, _ = read_events(tmp_path / "b")
    assert scalars["lr"] == [(1, pytest.approx(0.4)), (2, pytest.approx(0.4)), (3, pytest.approx(0.2))]


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"logdir": 3}, TypeError, "TensorBoard: logdir must be a path, got int"),
    ({"logdir": "d", "histograms": -1}, ValueError, "TensorBoard: histograms must be"),
    ({"logdir": "d", "flush_secs": 0}, ValueError, "TensorBoard: flush_secs must be"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        TensorBoard(**kwargs)


def test_without_tensorboardx_the_callback_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    with pytest.raises(ImportError, match=r"TensorBoard: needs tensorboardX \(pip install 'anynet\[tensorboard\]'\)"):
        TensorBoard("d")
