"""Checkpoints: round trip, atomic writes, refusal of truncated, corrupted or ill-fitting files."""

from __future__ import annotations

import os

import numpy as np
import pytest

import anynet
from anynet.testing import host
from anynet.training import CheckpointError, checkpoint


def _net(hidden=5):
    return anynet.MLP(3, [hidden], 2, batchnorm=True)


def _params(net):
    return [host(p.data).copy() for p in net.params]


def _saved(tmp_path, hidden=5):
    anynet.seed(1)
    net, opt = _net(hidden), anynet.SGD(lr=0.05)
    opt.iterations = 7
    for i, p in enumerate(net.params):
        p.state = {"v": p.data * 0 + i}  # per-parameter optimizer state, as momentum keeps
    path = checkpoint.save(tmp_path / "ck.npz", net, opt, {"epoch": 3}, {"note": "x"})
    return net, opt, path


def test_round_trip_restores_model_optimizer_and_rng(cpu_backend, tmp_path):
    net, opt, path = _saved(tmp_path)
    expected_draw = anynet.backend.host_rng().random()
    anynet.seed(2)
    other, other_opt = _net(), anynet.SGD(lr=1.0)
    meta = checkpoint.load(path, other, other_opt)
    assert meta["trainer"] == {"epoch": 3} and meta["metadata"] == {"note": "x"}
    for a, b in zip(_params(net), _params(other)):
        np.testing.assert_array_equal(a, b)
    assert (other_opt.lr, other_opt.iterations) == (0.05, 7)
    assert [float(host(p.state["v"]).flat[0]) for p in other.params] == list(range(len(net.params)))
    assert all(anynet.device_of(p.state["v"]) == cpu_backend for p in other.params)
    assert anynet.backend.host_rng().random() == expected_draw
    with np.load(path, allow_pickle=False) as z:  # a plain npz, readable without pickle
        assert "model/0.W" in z.files


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    net, opt, path = _saved(tmp_path)
    checkpoint.save(path, net, opt)  # overwrite in place
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def _assert_refused(path, match):
    anynet.seed(9)
    victim, opt = _net(), anynet.SGD(lr=1.0)
    before = _params(victim)
    with pytest.raises(CheckpointError, match=match):
        checkpoint.load(path, victim, opt)
    for a, b in zip(before, _params(victim)):  # never half-loaded
        np.testing.assert_array_equal(a, b)
    assert opt.lr == 1.0


def test_truncated_file_is_refused(tmp_path):
    _, _, path = _saved(tmp_path)
    data = open(path, "rb").read()
    for keep in (len(data) // 2, len(data) - 30, 10):
        cut = tmp_path / f"cut{keep}.npz"
        cut.write_bytes(data[:keep])
        _assert_refused(cut, "truncated or corrupted")


def test_corrupted_file_is_refused_or_read_exactly(tmp_path):
    _, _, path = _saved(tmp_path)
    good_meta, good = checkpoint.read(path)
    data = bytearray(open(path, "rb").read())
    refused = 0
    offsets = range(60, len(data) - 60, 37)
    for offset in offsets:
        bad = bytearray(data)
        bad[offset] ^= 0xFF
        (tmp_path / "bad.npz").write_bytes(bytes(bad))
        try:
            meta, arrays = checkpoint.read(tmp_path / "bad.npz")
        except CheckpointError:
            refused += 1
            continue
        # a flip in zip bookkeeping that changes no content (timestamps, extra fields) may pass
        assert meta == good_meta and arrays.keys() == good.keys()
        for key in good:
            np.testing.assert_array_equal(arrays[key], good[key])
    assert refused > 0.8 * len(offsets)
    bad = bytearray(data)
    bad[data.index(b"\x00\x00\x80?") + 2] ^= 0x01  # one bit of a stored float
    (tmp_path / "bad.npz").write_bytes(bytes(bad))
    _assert_refused(tmp_path / "bad.npz", "truncated or corrupted|is corrupted")


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    _, _, path = _saved(tmp_path, hidden=6)
    _assert_refused(path, r"0.W is float32\(3, 6\) in the file, float32\(3, 5\) in the model")


def test_another_optimizer_class_is_refused(tmp_path):
    _, _, path = _saved(tmp_path)

    class Other(anynet.SGD):
        pass

    net = _net()
    before = _params(net)
    with pytest.raises(CheckpointError, match="optimizer state of SGD, not Other"):
        checkpoint.load(path, net, Other(lr=1.0))
    for a, b in zip(before, _params(net)):
        np.testing.assert_array_equal(a, b)


def test_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not an anynet checkpoint"):
        checkpoint.read(tmp_path / "plain.npz")


def test_optimizer_state_that_does_not_fit_changes_nothing(tmp_path):
    """The optimizer state is checked before the model is touched: a model whose parameter
    order differs from the saved one (same names and shapes) is refused whole."""

    class Reversed(anynet.Sequential):
        @property
        def params(self):
            return list(reversed(super().params))

    anynet.seed(1)
    saved, opt = anynet.Sequential(anynet.Affine(2, 3), anynet.Affine(3, 4)), anynet.Adam(lr=0.01)
    for p in saved.params:
        p.grad = p.data * 0 + 1
    opt.update(saved.params)
    path = checkpoint.save(tmp_path / "ck.npz", saved, opt)
    victim, victim_opt = Reversed(anynet.Affine(2, 3), anynet.Affine(3, 4)), anynet.Adam(lr=0.01)
    before = _params(victim)
    with pytest.raises(CheckpointError, match="has shape"):
        checkpoint.load(path, victim, victim_opt)
    for a, b in zip(before, _params(victim)):
        np.testing.assert_array_equal(a, b)
    assert victim_opt.iterations == 0


def test_resume_is_exact_with_dropout_on_every_cpu_backend(cpu_backend, tmp_path):
    """The device generators (dropout masks) are saved too: NumPy, PyTorch and JAX resume exactly."""
    from anynet.training import Checkpoint

    x, t = anynet.data.spiral(points_per_class=20)

    def run(epochs, resume=None, callbacks=()):
        anynet.seed(0)
        net = anynet.MLP(2, [8], 3, dropout=0.3)
        trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.Adam(lr=0.01), verbose=0,
                                 callbacks=list(callbacks))
        trainer.fit((x, t), epochs=epochs, batch_size=15, resume=resume)
        return _params(net)

    straight = run(3)
    run(1, callbacks=[Checkpoint(tmp_path / "ck.npz", every=1)])
    for a, b in zip(straight, run(3, resume=tmp_path / "ck.npz")):
        np.testing.assert_array_equal(a, b)
