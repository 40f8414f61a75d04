"""The trainer: the book's three modes, history, early stopping, the NaN guard, exact resume, progress."""

from __future__ import annotations

import re

import numpy as np
import pytest

import anynet
from anynet.testing import host, resolve_backend
from anynet.training import Callback, Checkpoint, EarlyStopping, TrainingDiverged, checkpoint


def _regression(lr=0.05):
    net = anynet.Sequential(anynet.Affine(2, 1, weight_init=0.01))
    trainer = anynet.Trainer(net, anynet.MeanSquaredError(), anynet.SGD(lr=lr), verbose=0, accuracy=False)
    return net, trainer


@pytest.mark.parametrize(("batch_size", "steps_per_epoch"), [(None, 1), (1, 40), (16, 3)])
def test_full_batch_stochastic_and_mini_batch(cpu_backend, batch_size, steps_per_epoch):
    x, t = anynet.data.linear_regression(n=40, noise=0.0)
    net, trainer = _regression(lr={None: 0.3, 1: 0.1, 16: 0.3}[batch_size])
    epochs = {None: 60, 1: 5, 16: 20}[batch_size]
    history = trainer.fit((x, t), epochs=epochs, batch_size=batch_size)
    assert trainer.optimizer.iterations == epochs * steps_per_epoch  # the partial batch of 8 is kept
    assert len(history["loss"]) == epochs and history["loss"][-1] < 0.05 * history["loss"][0]
    assert "accuracy" not in history and anynet.device_of(net.params[0].data) == cpu_backend
    w = host(net.params[0].data)[:, 0]
    np.testing.assert_allclose(w, [2.0, -30.0], rtol=0.2)


def test_history_has_train_and_validation_metrics():
    x, t = anynet.data.spiral()
    train, val = anynet.data.train_val_split((x, t), 0.2)
    trainer = anynet.Trainer(anynet.MLP(2, [20], 3), anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.5), verbose=0)
    history = trainer.fit(train, val, epochs=3, batch_size=30)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "time"}
    assert all(len(v) == 3 and all(isinstance(f, float) for f in v) for v in history.values())
    assert trainer.evaluate(val) == (history["val_loss"][-1], history["val_accuracy"][-1])


class _Snapshots(Callback):
    def on_train_begin(self, trainer):
        self.states = {}

    def on_epoch_end(self, trainer, epoch, logs):
        self.states[epoch] = [host(p.data).copy() for p in trainer.model.params]


def test_early_stopping_stops_and_restores_the_best_weights():
    x, t = anynet.data.spiral()
    rng = np.random.default_rng(0)
    noise = (x, rng.permutation(t))  # labels unrelated to x: the validation loss soon rises
    snaps = _Snapshots()
    stop = EarlyStopping(patience=3)
    trainer = anynet.Trainer(anynet.MLP(2, [50], 3), anynet.SoftmaxWithLoss(), anynet.SGD(lr=1.0),
                             callbacks=[snaps, stop], verbose=0)
    history = trainer.fit((x, t), noise, epochs=200, batch_size=30)
    ran = len(history["val_loss"])
    best = int(np.argmin(history["val_loss"])) + 1
    assert ran < 200 and ran == best + 3 and "early stopping" in trainer.stop_reason
    for saved, now in zip(snaps.states[best], trainer.model.params):
        np.testing.assert_array_equal(saved, host(now.data))


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    x, t = anynet.data.linear_regression(n=40)
    net, trainer = _regression()
    trainer.callbacks.append(Checkpoint(tmp_path / "ck.npz"))
    trainer.fit((x, t), epochs=2, batch_size=10)
    good = [host(p.data).copy() for p in net.params]
    trainer.optimizer.lr = 1e20  # diverges within the epoch
    with pytest.raises(TrainingDiverged, match="the loss became (nan|inf) in epoch 3"), np.errstate(all="ignore"):
        trainer.fit((x, t), epochs=10, batch_size=10)
    assert trainer.diverged and trainer.epoch == 2 and len(trainer.history["loss"]) == 2
    fresh, _ = _regression()
    meta = checkpoint.load(tmp_path / "ck.npz", fresh)
    assert meta["trainer"]["epoch"] == 2
    for a, p in zip(good, fresh.params):
        np.testing.assert_array_equal(a, host(p.data))


def _spiral_run(tmp_path=None, epochs=4, resume=None, seed=0):
    anynet.seed(seed)
    net = anynet.MLP(2, [20], 3, dropout=0.1)  # dropout: the device generator must be restored too
    callbacks = [Checkpoint(tmp_path / "ck.npz")] if tmp_path is not None else []
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.5), callbacks=callbacks, verbose=0)
    trainer.fit(anynet.data.spiral(), epochs=epochs, batch_size=32, resume=resume)
    return net, trainer


def test_resume_is_bit_identical_to_a_straight_run(tmp_path):
    straight, s_trainer = _spiral_run(epochs=4)
    _spiral_run(tmp_path, epochs=2)
    resumed, r_trainer = _spiral_run(epochs=4, resume=tmp_path / "ck.npz", seed=99)
    assert r_trainer.epoch == 4
    for a, b in zip(straight.params, resumed.params):
        np.testing.assert_array_equal(host(a.data), host(b.data))
    assert r_trainer.history["loss"] == s_trainer.history["loss"]


def test_progress_is_silent_at_verbose_0_and_plain_lines_off_a_terminal(capsys):
    x, t = anynet.data.spiral(points_per_class=10)
    net = anynet.MLP(2, [5], 3)
    anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.1), verbose=0).fit((x, t), epochs=2)
    assert capsys.readouterr().out == ""
    lines = []
    anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.1), report=lines.append).fit((x, t), epochs=3)
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert "samples/s" in lines[0] and "loss" in lines[0]


def test_fashion_mnist_mlp_reaches_80_percent():
    try:
        train, test = anynet.data.fashion_mnist(download=False)
    except anynet.data.DataNotFoundError as err:
        pytest.skip(f"Fashion-MNIST is not installed ({str(err).splitlines()[-1]})")
    anynet.seed(0)
    net = anynet.MLP(784, [100], 10)
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.1), verbose=0)
    trainer.fit(train.subset(slice(0, 20000)), epochs=3, batch_size=100)
    loss, acc = trainer.evaluate(test)
    assert acc >= 0.80, f"test accuracy {acc:.2%} after 3 epochs on 20000 samples"


def test_stateful_language_model_trains_and_evaluates():
    """A stateful model starts every epoch and evaluation from a fresh state, whatever the
    size of the last batch."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, (50, 5))
    model = anynet.LanguageModel(7, 4, 8, cell="rnn")
    trainer = anynet.Trainer(model, anynet.TimeSoftmaxWithLoss(), anynet.Adam(lr=0.01), verbose=0)
    history = trainer.fit((ids[:, :-1], ids[:, 1:]), epochs=2, batch_size=16)  # last batch: 2
    assert len(history["loss"]) == 2
    loss, _ = trainer.evaluate((ids[:, :-1], ids[:, 1:]), batch_size=32)  # 32 + 18
    assert np.isfinite(loss)


def test_trainer_needs_a_mean_loss():
    with pytest.raises(ValueError, match="reduction='mean'"):
        anynet.Trainer(anynet.MLP(2, [4], 3), anynet.SoftmaxWithLoss(reduction="sum"), anynet.SGD(0.1))


@pytest.mark.parametrize("name", ["torch", "strict"])
def test_device_resident_data_trains_exactly_as_host_batches(monkeypatch, name):
    """The Trainer keeps a data set that fits on the model's device for the whole fit; the
    history and weights are those of batches sent from the host."""
    dev = resolve_backend(name)
    x, t = anynet.data.spiral(20)
    runs = {}
    for budget in (1 << 30, 0):
        monkeypatch.setattr(type(dev.executor), "data_budget", budget)
        anynet.seed(0)
        with anynet.device(dev):
            model = anynet.MLP(2, [8], 3, dropout=0.1)
            trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.Adam(1e-2), verbose=0)
            history = trainer.fit((x, t), (x[:20], t[:20]), epochs=3, batch_size=16)
        runs[budget] = (history, [host(p.data) for p in model.params])
    (h_dev, w_dev), (h_host, w_host) = runs[1 << 30], runs[0]
    assert {k: v for k, v in h_dev.items() if k != "time"} == {k: v for k, v in h_host.items() if k != "time"}
    for a, b in zip(w_dev, w_host):
        np.testing.assert_array_equal(a, b)


def test_integer_targets_and_ids_of_every_shape_are_checked_on_the_host():
    """On a GPU value checks are off and CuPy wraps out-of-range indices around: the Trainer
    checks labels (N,) or (N, T) and embedding ids (N, T) once on the host, before training."""
    dev = resolve_backend("strict")  # not the host: no value checks inside the network, as on a GPU
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, (20, 5))
    with anynet.device(dev), anynet.debug(False):
        def fit(x, t, val=None):
            model = anynet.LanguageModel(7, 4, 8, cell="rnn")
            trainer = anynet.Trainer(model, anynet.TimeSoftmaxWithLoss(), anynet.SGD(), verbose=0)
            return trainer.fit((x, t), val, epochs=1, batch_size=10)

        padded = ids[:, 1:].copy()
        padded[:, -1] = -1  # the ignore label is no class index
        fit(ids[:, :-1], padded)
        bad = ids[:, 1:].copy()
        bad[3, 2] = 7
        with pytest.raises(ValueError, match=r"Trainer.fit: labels must lie in \[0, 7\).*\[0, 7\]"):
            fit(ids[:, :-1], bad)
        with pytest.raises(ValueError, match=r"Trainer.fit: labels must lie in \[0, 7\).*\[0, 7\]"):
            fit(ids[:, :-1], ids[:, 1:], (ids[:, :-1], bad))
        bad_ids = ids[:, :-1].copy()
        bad_ids[0, 0] = 9
        with pytest.raises(ValueError, match=r"Trainer.fit: ids must lie in \[0, 7\).*embedding has 7 rows.*\[0, 9\]"):
            fit(bad_ids, ids[:, 1:])
        with pytest.raises(ValueError, match=r"Trainer.fit: ids must lie in \[0, 7\).*the val data"):
            fit(ids[:, :-1], ids[:, 1:], (ids[:, :-1] - 1, ids[:, 1:]))


# -- all or nothing: a refused fit or evaluate changes nothing -----------------------------------


def _everything(trainer):
    """Model arrays (BatchNorm statistics included), optimizer state, generators, epoch, history."""
    arrays = [host(v).copy() for v in trainer.model.state_dict().values()]
    return arrays, trainer.optimizer.iterations, anynet.backend.rng_state(), trainer.epoch, dict(trainer.history)


def _assert_same(before, after):
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    assert before[1:] == after[1:]


REFUSED_FITS = [
    # (what is passed to fit, the error, its message)
    (lambda x, t: dict(train=(x, t + 1)), ValueError, r"labels must lie in \[0, 3\).*\[1, 3\]"),
    (lambda x, t: dict(train=(x, t), val=(x, t - 1)), ValueError, r"labels must lie in \[0, 3\).*val"),
    (lambda x, t: dict(train=(x[:, :1], t)), ValueError, r"Affine: expected x of shape \(N, 2\)"),
    (lambda x, t: dict(train=(x.astype(np.int64), t)), TypeError, "expected x of a floating dtype"),
    (lambda x, t: dict(train=(x, t.astype(np.float32))), TypeError, "SoftmaxWithLoss: expected integer labels"),
    (lambda x, t: dict(train=(x, t[:, None])), ValueError, r"SoftmaxWithLoss: expected labels t of shape"),
    (lambda x, t: dict(train=(x[:0], t[:0])), ValueError, "the train data holds no samples"),
    (lambda x, t: dict(train=(x, t), val=(x[:0], t[:0])), ValueError, "the val data holds no samples"),
    (lambda x, t: dict(train=x, val=t), TypeError, r"expected a DataSet or an \(x, t\) pair for train"),
    (lambda x, t: dict(train=(x, t), epochs=-1), ValueError, "Trainer.fit: epochs"),
    (lambda x, t: dict(train=(x, t), batch_size=0), ValueError, "DataLoader: batch_size"),
]


@pytest.mark.parametrize("case", range(len(REFUSED_FITS)))
def test_a_refused_fit_changes_nothing(cpu_backend, case):
    build, error, match = REFUSED_FITS[case]
    x, t = anynet.data.spiral(points_per_class=7)
    net = anynet.MLP(2, [8], 3, batchnorm=True, dropout=0.2)
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.Momentum(lr=0.1), verbose=0)
    before = _everything(trainer)
    with pytest.raises(error, match=match):
        trainer.fit(**build(x, t))
    _assert_same(before, _everything(trainer))
    trainer.fit((x, t), epochs=1)  # and the trainer still works
    assert trainer.epoch == 1


def test_a_refused_evaluate_changes_nothing(cpu_backend):
    x, t = anynet.data.spiral(points_per_class=7)
    trainer = anynet.Trainer(anynet.MLP(2, [8], 3, batchnorm=True), anynet.SoftmaxWithLoss(), anynet.SGD(0.1),
                             verbose=0)
    before = _everything(trainer)
    with pytest.raises(ValueError, match="the evaluate data holds no samples"):
        trainer.evaluate((x[:0], t[:0]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        trainer.evaluate((x, t + 5))
    with pytest.raises(TypeError, match="pair for evaluate"):
        trainer.evaluate(x)
    _assert_same(before, _everything(trainer))


def _images(n=10):
    r = np.random.default_rng(2)
    return r.uniform(0, 1, (n, 1, 4, 3)).astype(np.float32), r.integers(0, 3, n)


def test_test_time_augmentation_averages_the_scores_of_the_views(cpu_backend):
    x, t = _images()
    net = anynet.Sequential(anynet.Flatten(), anynet.Affine(12, 3, weight_init=1.0))
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), None, verbose=0)
    xd, td = anynet.testing.arr(cpu_backend, x), anynet.testing.arr(cpu_backend, t)
    y = (net.predict(xd) + net.predict(anynet.testing.arr(cpu_backend, x[..., ::-1].copy()))) / 2
    expected = (float(anynet.SoftmaxWithLoss().forward(y, td)), float(np.mean(host(y).argmax(axis=1) == t)))
    loss, acc = trainer.evaluate((x, t), batch_size=3, tta=[anynet.data.augment.Flip()])
    assert loss == pytest.approx(expected[0], rel=1e-5) and acc == pytest.approx(expected[1])
    assert (loss, acc) != pytest.approx(trainer.evaluate((x, t)))  # the mirror images score otherwise
    plain = trainer.evaluate((x, t), batch_size=3)
    assert trainer.evaluate((x, t), batch_size=3, tta=[lambda b: b]) == pytest.approx(plain, rel=1e-6)
    assert trainer.evaluate((x, t), batch_size=3, tta=()) == plain


@pytest.mark.parametrize(("tta", "error", "match"), [
    (anynet.data.augment.Flip(), TypeError, re.escape("Trainer.evaluate: tta must be a list of views (functions "
                                                      "batch -> batch, such as anynet.data.augment.Flip()), got Flip")),
    (["flip"], TypeError, r"Trainer.evaluate: tta\[0\] must be a function batch -> batch, got str"),
    ([lambda b: b[:, :, :2, :]], ValueError, r"Trainer.evaluate: tta\[0\] \(function\) must keep a batch's shape: "
     r"it turned \(1, 1, 4, 3\) into \(1, 1, 2, 3\)"),
])
def test_a_refused_test_time_augmentation_changes_nothing(cpu_backend, tta, error, match):
    x, t = _images()
    net = anynet.Sequential(anynet.Flatten(), anynet.BatchNorm(12), anynet.Affine(12, 3))
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0)
    before = _everything(trainer)
    with pytest.raises(error, match=match):
        trainer.evaluate((x, t), tta=tta)
    with pytest.raises(ValueError, match=r"Flip: expected an image batch of shape \(N, C, H, W\), got \(1, 12\)"):
        trainer.evaluate((x.reshape(10, 12), t), tta=[anynet.data.augment.Flip()])
    _assert_same(before, _everything(trainer))


def test_evaluate_of_a_diverged_model_reports_nan_instead_of_failing():
    x, t = anynet.data.spiral(points_per_class=7)
    net = anynet.MLP(2, [8], 3)
    net.params[0].data = net.params[0].data * np.nan
    loss, _ = anynet.Trainer(net, anynet.SoftmaxWithLoss(), None, verbose=0).evaluate((x, t))
    assert np.isnan(loss)


def test_a_trainer_draws_from_the_streams_it_owns_and_checkpoints_them(tmp_path):
    x, t = anynet.data.spiral()
    streams = anynet.backend.RandomStreams(seed=5)
    model = anynet.MLP(2, [8], 3, dropout=0.2)
    before = anynet.backend.rng_state()
    path = tmp_path / "c.npz"
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0, streams=streams,
                             callbacks=[anynet.training.Checkpoint(path)])
    trainer.fit((x, t), epochs=1, batch_size=50)
    assert anynet.backend.rng_state() == before  # the process's streams did not move
    assert anynet.training.checkpoint.read_metadata(path)["rng"] == streams.state()
