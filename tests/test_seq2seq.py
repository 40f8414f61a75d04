"""TimeAttention and the encoder-decoder on every backend; the addition and date data."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import arr, host

import anynet
from anynet.data import addition, dates

F64 = "float64"
KINDS = ["plain", "peeky", "attention"]


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _numeric_checks(analytic: dict, objective, inputs: dict, params) -> None:
    """Central differences of ``objective`` against the analytic gradients, inputs and parameters."""
    numeric = {}
    for name, value in inputs.items():
        def of_input(v, name=name):
            return objective(**{**inputs, name: v})
        numeric[name] = anynet.numerical_gradient(of_input, value)
    for i, p in enumerate(params):
        original = p.data

        def of_param(w, p=p):
            p.data = w
            return objective(**inputs)

        numeric[f"{i}:{p.name}"] = anynet.numerical_gradient(of_param, original)
        p.data = original
    for key, value in numeric.items():
        np.testing.assert_allclose(host(analytic[key]), host(value), rtol=1e-6, atol=1e-8, err_msg=key)


# -- TimeAttention --------------------------------------------------------------------


def test_time_attention_gradient(backend):
    xp = backend.xp
    layer = anynet.TimeAttention()
    hs_enc, hs_dec = arr(backend, randn((2, 4, 3))), arr(backend, randn((2, 3, 3), seed=1))
    dc = arr(backend, randn((2, 3, 3), seed=2))
    layer.forward(hs_enc, hs_dec)
    denc, ddec = layer.backward(dc)

    def objective(hs_enc, hs_dec):
        return xp.sum(layer.forward(hs_enc, hs_dec) * dc)

    _numeric_checks({"hs_enc": denc, "hs_dec": ddec}, objective, {"hs_enc": hs_enc, "hs_dec": hs_dec}, [])


def test_time_attention_is_the_books_loop(backend):
    """The book's AttentionWeight and WeightSum, one decoder step at a time, in NumPy."""
    enc, dec = randn((2, 5, 3)), randn((2, 4, 3), seed=1)
    c = host(anynet.TimeAttention().forward(arr(backend, enc), arr(backend, dec)))
    for t in range(4):
        s = np.sum(enc * dec[:, t][:, None, :], axis=2)
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(c[:, t], np.sum(enc * a[:, :, None], axis=1), rtol=1e-12)


def test_time_attention_inputs_unchanged_and_errors(backend):
    layer = anynet.TimeAttention()
    e0, d0, g0 = randn((2, 4, 3)), randn((2, 2, 3), seed=1), randn((2, 2, 3), seed=2)
    enc, dec, dc = arr(backend, e0), arr(backend, d0), arr(backend, g0)
    layer.forward(enc, dec)
    layer.backward(dc)
    for a, a0 in ((enc, e0), (dec, d0), (dc, g0)):
        np.testing.assert_array_equal(host(a), a0)
    np.testing.assert_allclose(host(layer.weights).sum(axis=2), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match=r"TimeAttention: expected hs_dec of shape \(2, T', 3\), got \(2, 2, 4\)"):
        layer.forward(enc, arr(backend, np.zeros((2, 2, 4))))
    with pytest.raises(TypeError, match=r"forward\(hs_enc, hs_dec\)"):
        layer.forward(enc)


# -- Seq2seq ------------------------------------------------------------------------------


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
    analytic = {f"{i}:{p.name}": p.grad for i, p in enumerate(model.params)}

    def objective():
        return xp.sum(model.forward(xs, ts) * dscore)

    _numeric_checks(analytic, objective, {}, model.params)


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


# -- the data -------------------------------------------------------------------------------


def test_addition_data():
    x, t, vocab = addition(500, seed=3)
    assert x.shape == (500, 7) and t.shape == (500, 5) and x.dtype == np.int64
    questions, answers = vocab.decode(x), vocab.decode(t)
    assert len(set(questions)) == 500
    for q, a in zip(questions, answers):
        left, right = q.strip().split("+")
        assert a.startswith("_") and int(a[1:]) == int(left) + int(right)
    x2, t2, _ = addition(500, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(t, t2)
    assert vocab.decode(vocab.encode(["16+75"], 7)) == ["16+75  "]


def test_date_data():
    x, t, vocab = dates(3000, seed=5)
    assert x.shape == (3000, 29) and t.shape == (3000, 11)
    questions, answers = vocab.decode(x), vocab.decode(t)
    assert len(set(questions)) == 3000
    import datetime

    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    forms = set()
    for q, a in zip(questions, answers):
        d = datetime.date.fromisoformat(a[1:])
        assert 1950 <= d.year <= 2049 and a[0] == "_"
        q = q.strip()
        if "/" in q:
            m, day, y = q.split("/")
            assert (int(m), int(day)) == (d.month, d.day) and int(y) % 100 == d.year % 100
            forms.add("slash")
        elif "." in q:
            day, m, y = q.split(".")
            assert (int(day), int(m), int(y)) == (d.day, d.month, d.year)
            forms.add("dot")
        else:
            assert str(d.year) in q and str(d.day) in q and months[d.month - 1] in q.lower()
            forms.add("upper" if q.isupper() else "lower" if q.islower() else "title")
            if "," in q.split(" ")[0]:
                assert q.split(",")[0].lower() == d.strftime("%A").lower()
    assert forms == {"slash", "dot", "upper", "lower", "title"}
    np.testing.assert_array_equal(dates(3000, seed=5)[0], x)
    assert not np.array_equal(dates(3000, seed=6)[0], x)
    with pytest.raises(ValueError, match="dates: years must span"):
        dates(10, years=(1900, 2049))
