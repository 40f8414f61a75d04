"""The encoder-decoder (anynet.models.seq2seq) on every backend: gradients, generation, a short training."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.data import addition
from anynet.testing import arr, host

F64 = "float64"
KINDS = ["plain", "peeky", "attention"]


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _ids(shape, V, seed):
    return np.random.default_rng(seed).integers(0, V, shape)


@pytest.mark.parametrize("kind", KINDS)
def test_seq2seq_gradient(backend, kind):
    xp = backend.xp
    V = 4
    model = anynet.Seq2seq(V, 2, 3, decoder=kind, dtype=F64)
    xs, ts = arr(backend, _ids((2, 3), V, 0)), arr(backend, _ids((2, 2), V, 1))
    dscore = arr(backend, randn((2, 2, V), seed=2))
    model.forward(xs, ts)
    assert model.backward(dscore) is None
    for i, p in enumerate(model.params):
        analytic, original = p.grad, p.data

        def objective(w, p=p):
            p.data = w
            return xp.sum(model.forward(xs, ts) * dscore)

        numeric = anynet.numerical_gradient(objective, original)
        p.data = original
        np.testing.assert_allclose(host(analytic), host(numeric), rtol=1e-6, atol=1e-8, err_msg=f"{i}:{p.name}")


@pytest.mark.parametrize("kind", KINDS)
def test_seq2seq_shapes_inputs_and_greedy_generation(backend, kind):
    xp = backend.xp
    V = 6
    model = anynet.Seq2seq(V, 3, 5, decoder=kind, dtype=F64)
    x0, t0 = _ids((3, 4), V, 0), _ids((3, 2), V, 1)
    xs, ts = arr(backend, x0), arr(backend, t0)
    d0 = randn((3, 2, V), seed=3)
    dscore = arr(backend, d0)
    assert tuple(model.forward(xs, ts).shape) == (3, 2, V)
    model.backward(dscore)
    for a, a0 in ((xs, x0), (ts, t0), (dscore, d0)):
        np.testing.assert_array_equal(host(a), a0)
    # greedy generation = the argmax of a teacher-forced pass over its own output
    out = model.generate(xs, start_id=1, length=4)
    assert tuple(out.shape) == (3, 4)
    fed = xp.concat([xp.full((3, 1), 1, dtype=out.dtype, device=out.device), out[:, :-1]], axis=1)
    np.testing.assert_array_equal(host(xp.argmax(model.forward(xs, fed), axis=2)), host(out))


def test_seq2seq_parts_and_errors():
    model = anynet.Seq2seq(10, 4, 6, decoder="peeky")
    assert list(model.parts) == ["enc_embed", "encoder", "dec_embed", "decoder", "affine"]
    assert model.decoder.Wx.shape == (4 + 6, 24) and model.affine.W.shape == (12, 10)
    assert list(anynet.Seq2seq(10, 4, 6, decoder="attention").parts)[-2:] == ["attention", "affine"]
    with pytest.raises(ValueError, match="Seq2seq: decoder must be one of"):
        anynet.Seq2seq(10, decoder="beam")
    with pytest.raises(TypeError, match=r"forward\(xs, ts\)"):
        model.forward(np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="xs has 2 sequences, ts has 3"):
        model.forward(np.zeros((2, 3), np.int64), np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError, match=r"Seq2seq: xs must lie in \[0, 10\)"):
        model.forward(np.full((2, 3), 10), np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match=r"Seq2seq: ts must lie in \[0, 10\)"):
        model.forward(np.zeros((2, 3), np.int64), np.full((2, 2), -1))
    with pytest.raises(ValueError, match=r"Seq2seq: start_id must lie in \[0, 10\), got 10"):
        model.generate(np.zeros((2, 3), np.int64), 10, 4)


@pytest.mark.parametrize("kind", KINDS)
def test_seq2seq_learns_addition(cpu_backend, kind):
    """A few Adam steps on the addition task: the loss falls (the examples train it fully)."""
    anynet.seed(0)
    x, t, vocab = addition(256, digits=2, seed=0)
    model = anynet.Seq2seq(len(vocab), 8, 32, decoder=kind)
    loss, opt = anynet.TimeSoftmaxWithLoss(), anynet.Adam(lr=0.03)
    dev = anynet.current_device()
    losses = []
    for step in range(12):
        rows = slice(64 * (step % 4), 64 * (step % 4) + 64)
        xs, ts = dev.from_numpy(x[rows]), dev.from_numpy(t[rows])
        value = loss.forward(model.forward(xs, ts[:, :-1], train=True), ts[:, 1:])
        model.backward(loss.backward())
        opt.update(model.params)
        losses.append(float(value))
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


