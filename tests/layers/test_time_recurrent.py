"""Recurrent layers on every backend: cells, BPTT, truncation, embeddings, time losses, training."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet.gradcheck import check_layer, check_loss
from anynet.hooks import ClipByNorm
from anynet.testing import arr, host

F64 = "float64"
N, T, D, H = 2, 3, 3, 4
TIME = {"rnn": anynet.TimeRNN, "lstm": anynet.TimeLSTM, "gru": anynet.TimeGRU}
CELLS = {"rnn": anynet.RNN, "lstm": anynet.LSTM, "gru": anynet.GRU}


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class FromState(anynet.Layer):
    """A stateful Time layer started from a fixed state at every forward (for gradient checks)."""

    def __init__(self, inner, state):
        super().__init__()
        self.inner, self.state = inner, state

    @property
    def params(self):
        return self.inner.params

    def forward(self, x, train=None):
        self.inner.set_state(*self.state)
        return self.inner.forward(x, train)

    def backward(self, dout):
        return self.inner.backward(dout)


# -- gradient checks ----------------------------------------------------------


# TimeRNN in all four modes; LSTM and GRU share that code path, so two modes each
TIME_MODES = [("rnn", rs, sf) for rs in (True, False) for sf in (False, True)] + [
    (kind, rs, not rs) for kind in ("lstm", "gru") for rs in (True, False)
]


@pytest.mark.parametrize(("kind", "return_sequences", "stateful"), TIME_MODES)
def test_time_layer_gradient(backend, kind, return_sequences, stateful):
    layer = TIME[kind](D, H, stateful=stateful, return_sequences=return_sequences, dtype=F64)
    x = arr(backend, randn((N, T, D)))
    if stateful:
        state = [arr(backend, randn((N, H), seed=s)) for s in (1, 2)][: 2 if kind == "lstm" else 1]
        layer = FromState(layer, state)
    check_layer(layer, x)


def test_stacked_time_layers_gradient(backend):
    net = anynet.Sequential(anynet.TimeLSTM(2, 2, dtype=F64), anynet.Dropout(0.5),
                            anynet.TimeRNN(2, 2, return_sequences=False, dtype=F64), anynet.Affine(2, 2, dtype=F64))
    check_layer(net, arr(backend, randn((2, 2, 2))), train=True, reseed=3)


def test_time_affine_gradient(backend):
    check_layer(anynet.TimeAffine(D, 5, dtype=F64), arr(backend, randn((N, T, D))))


def _cell_run(cell, x, state):
    out = cell.forward(x, *state)
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_gradient(backend, kind):
    xp = backend.xp
    cell = CELLS[kind](D, H, dtype=F64)
    n_state = 2 if kind == "lstm" else 1
    x = arr(backend, randn((N, D)))
    state = [arr(backend, randn((N, H), seed=1 + s)) for s in range(n_state)]
    douts = [arr(backend, randn((N, H), seed=5 + s)) for s in range(n_state)]

    def objective(x_, state_):
        return sum(xp.sum(o * d) for o, d in zip(_cell_run(cell, x_, state_), douts))

    _cell_run(cell, x, state)
    dx, *dstate = cell.backward(*douts)
    analytic = {"x": dx, **{f"s{i}": g for i, g in enumerate(dstate)}, **{p.name: p.grad for p in cell.params}}
    numeric = {"x": anynet.numerical_gradient(lambda v: objective(v, state), x)}
    for i in range(n_state):
        def of_state(v, i=i):
            return objective(x, [v if j == i else s for j, s in enumerate(state)])
        numeric[f"s{i}"] = anynet.numerical_gradient(of_state, state[i])
    for p in cell.params:
        original = p.data

        def of_param(w, p=p):
            p.data = w
            return objective(x, state)

        numeric[p.name] = anynet.numerical_gradient(of_param, original)
        p.data = original
    for key in numeric:
        np.testing.assert_allclose(host(analytic[key]), host(numeric[key]), rtol=1e-6, atol=1e-7, err_msg=key)


# -- closed-form forward of one step -------------------------------------------


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def _scalar_cell(backend, kind, Wx, Wh, b):
    cell = CELLS[kind](1, 1, dtype=F64)
    cell.load_state_dict({"Wx": arr(backend, [Wx]), "Wh": arr(backend, [Wh]), "b": arr(backend, b)})
    return cell


def test_rnn_one_step_closed_form(backend):
    cell = _scalar_cell(backend, "rnn", [2.0], [0.5], [0.1])
    h = cell.forward(arr(backend, [[0.5]]), arr(backend, [[-1.0]]))
    np.testing.assert_allclose(host(h), [[math.tanh(2.0 * 0.5 - 0.5 + 0.1)]], rtol=1e-12)


def test_lstm_one_step_closed_form(backend):
    wx, wh, b = [1.0, -1.0, 0.5, 2.0], [0.5, 0.25, -1.0, 1.0], [0.1, 0.2, 0.3, -0.4]
    cell = _scalar_cell(backend, "lstm", wx, wh, b)
    x, h0, c0 = 0.7, -0.3, 0.9
    a = [wx[k] * x + wh[k] * h0 + b[k] for k in range(4)]
    i, f, g, o = sig(a[0]), sig(a[1]), math.tanh(a[2]), sig(a[3])
    c1 = f * c0 + i * g
    h, c = cell.forward(arr(backend, [[x]]), arr(backend, [[h0]]), arr(backend, [[c0]]))
    np.testing.assert_allclose(host(c), [[c1]], rtol=1e-12)
    np.testing.assert_allclose(host(h), [[o * math.tanh(c1)]], rtol=1e-12)


def test_gru_one_step_closed_form(backend):
    wx, wh, b = [1.0, -0.5, 2.0], [0.3, 0.8, -1.5], [0.1, -0.2, 0.05]
    cell = _scalar_cell(backend, "gru", wx, wh, b)
    x, h0 = 0.4, 0.6
    z = sig(wx[0] * x + wh[0] * h0 + b[0])
    r = sig(wx[1] * x + wh[1] * h0 + b[1])
    hh = math.tanh(wx[2] * x + wh[2] * (r * h0) + b[2])
    h = cell.forward(arr(backend, [[x]]), arr(backend, [[h0]]))
    np.testing.assert_allclose(host(h), [[(1 - z) * h0 + z * hh]], rtol=1e-12)


def test_parameter_shapes_and_order():
    layer = anynet.TimeLSTM(3, 5)
    assert [p.name for p in layer.params] == ["Wx", "Wh", "b"]
    assert [p.shape for p in layer.params] == [(3, 20), (5, 20), (20,)]
    assert [p.shape for p in anynet.TimeGRU(3, 5).params] == [(3, 15), (5, 15), (15,)]
    assert [p.shape for p in anynet.RNN(3, 5).params] == [(3, 5), (5, 5), (5,)]
    assert layer.params[0].dtype == np.float32


# -- backprop through time ------------------------------------------------------


@pytest.mark.parametrize("kind", list(TIME))
def test_bptt_equals_hand_unrolled_cells(backend, kind):
    """One Time layer == T cells sharing its weights; its gradient is the sum of theirs."""
    layer = TIME[kind](D, H, dtype=F64)
    x = arr(backend, randn((N, T, D)))
    dout = arr(backend, randn((N, T, H), seed=3))
    hs = layer.forward(x)
    dx = layer.backward(dout)
    xp = backend.xp
    n_state = 2 if kind == "lstm" else 1
    state = [xp.zeros((N, H), dtype=xp.float64, device=x.device)] * n_state
    cells, outs = [], []
    for t in range(T):
        cell = CELLS[kind](D, H, dtype=F64)
        cell.load_state_dict(layer.state_dict())
        state = list(_cell_run(cell, x[:, t, :], state))
        cells.append(cell)
        outs.append(state[0])
    np.testing.assert_allclose(host(hs), np.stack([host(o) for o in outs], axis=1), rtol=1e-12)
    dstate = [xp.zeros((N, H), dtype=xp.float64, device=x.device)] * n_state
    dxs, sums = [None] * T, [0.0, 0.0, 0.0]
    for t in reversed(range(T)):
        dstate[0] = dstate[0] + dout[:, t, :]
        dxs[t], *dstate = cells[t].backward(*dstate)
        sums = [s + host(p.grad) for s, p in zip(sums, cells[t].params)]
    np.testing.assert_allclose(host(dx), np.stack([host(d) for d in dxs], axis=1), rtol=1e-10)
    for p, s in zip(layer.params, sums):
        np.testing.assert_allclose(host(p.grad), s, rtol=1e-10, err_msg=p.name)
    assert len(layer.params) == 3  # one shared set, not one per step


@pytest.mark.parametrize("kind", list(TIME))
def test_truncated_bptt_carries_state_not_gradient(backend, kind):
    x = arr(backend, randn((N, 2 * T, D)))
    x1, x2 = x[:, :T, :], x[:, T:, :]
    whole = TIME[kind](D, H, dtype=F64)
    split = TIME[kind](D, H, stateful=True, dtype=F64)
    split.load_state_dict(whole.state_dict())
    h_all = whole.forward(x)
    h1 = split.forward(x1)
    carried = split.state
    h2 = split.forward(x2)
    # the state crosses the batch boundary: outputs equal one pass over the whole sequence
    np.testing.assert_allclose(host(h1), host(h_all[:, :T, :]), rtol=1e-12)
    np.testing.assert_allclose(host(h2), host(h_all[:, T:, :]), rtol=1e-12)
    # the gradient does not: batch 2's gradients are those of a fresh layer started from the carried state
    dout = arr(backend, randn((N, T, H), seed=4))
    dx2 = split.backward(dout)
    fresh = TIME[kind](D, H, stateful=True, dtype=F64)
    fresh.load_state_dict(whole.state_dict())
    fresh.set_state(*carried)
    fresh.forward(x2)
    np.testing.assert_allclose(host(dx2), host(fresh.backward(dout)), rtol=1e-12)
    for p, q in zip(split.params, fresh.params):
        np.testing.assert_allclose(host(p.grad), host(q.grad), rtol=1e-12)
    # ... whereas full BPTT over both batches differs in the weight gradient
    zeros = np.zeros((N, T, H))
    whole.backward(arr(backend, np.concatenate([zeros, host(dout)], axis=1)))
    assert not np.allclose(host(whole.Wh.grad), host(split.Wh.grad))
    split.reset_state()
    np.testing.assert_allclose(host(split.forward(x1)), host(h1), rtol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_gradient_of_the_initial_state(backend, kind):
    xp = backend.xp
    layer = TIME[kind](D, H, stateful=True, dtype=F64)
    x = arr(backend, randn((N, T, D)))
    dout = arr(backend, randn((N, T, H), seed=6))
    state = [arr(backend, randn((N, H), seed=7 + s)) for s in range(2 if kind == "lstm" else 1)]
    layer.set_state(*state)
    layer.forward(x)
    layer.backward(dout)
    for i, analytic in enumerate(layer.dstate):
        def objective(v, i=i):
            layer.set_state(*[v if j == i else s for j, s in enumerate(state)])
            return xp.sum(layer.forward(x) * dout)

        numeric = anynet.numerical_gradient(objective, state[i])
        np.testing.assert_allclose(host(analytic), host(numeric), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(host(layer.dh), host(layer.dstate[0]))


@pytest.mark.parametrize("make", [lambda: anynet.TimeLSTM(D, H, dtype=F64), lambda: anynet.TimeGRU(D, H, dtype=F64),
                                  lambda: anynet.TimeRNN(D, H, dtype=F64), lambda: anynet.TimeAffine(D, H, dtype=F64)])
def test_time_layers_leave_inputs_unchanged(backend, make):
    layer = make()
    x0, d0 = randn((N, T, D)), randn((N, T, H), seed=1)
    x, dout = arr(backend, x0), arr(backend, d0)
    layer.forward(x)
    layer.backward(dout)
    np.testing.assert_array_equal(host(x), x0)
    np.testing.assert_array_equal(host(dout), d0)


def test_stateful_batch_size_change_is_refused():
    layer = anynet.TimeRNN(D, H, stateful=True)
    layer.forward(np.zeros((2, T, D), np.float32))
    with pytest.raises(ValueError, match="reset_state"):
        layer.forward(np.zeros((3, T, D), np.float32))
    layer.reset_state()
    assert layer.forward(np.zeros((3, T, D), np.float32)).shape == (3, T, H)


# -- embeddings -----------------------------------------------------------------


@pytest.mark.parametrize("time", [False, True])
def test_embedding_repeated_ids(backend, time):
    V, E = 5, 3
    ids0 = np.array([[1, 3, 1], [1, 0, 3]]) if time else np.array([2, 4, 2, 2, 0])
    layer = (anynet.TimeEmbedding if time else anynet.Embedding)(V, E, dtype=F64)
    W = host(layer.W.data)
    ids = arr(backend, ids0)
    out = layer.forward(ids)
    np.testing.assert_array_equal(host(out), W[ids0])
    d0 = randn(ids0.shape + (E,), seed=2)
    dout = arr(backend, d0)
    assert layer.backward(dout) is None
    expected = np.zeros((V, E))
    np.add.at(expected, ids0.reshape(-1), d0.reshape(-1, E))
    np.testing.assert_allclose(host(layer.W.grad), expected, rtol=1e-12)
    np.testing.assert_array_equal(host(ids), ids0)
    np.testing.assert_array_equal(host(dout), d0)
    # and against numerical gradients of sum(out * dout) in W
    xp = backend.xp

    def of_w(w):
        layer.W.data = w
        return xp.sum(layer.forward(ids) * dout)

    numeric = anynet.numerical_gradient(of_w, layer.W.data)
    np.testing.assert_allclose(host(layer.W.grad), host(numeric), rtol=1e-6, atol=1e-8)


def test_embedding_errors():
    layer = anynet.TimeEmbedding(5, 3)
    with pytest.raises(ValueError, match=r"TimeEmbedding: expected ids of shape \(N, T\), got \(4,\)"):
        layer.forward(np.array([1, 2, 3, 4]))
    with pytest.raises(TypeError, match="integer ids"):
        layer.forward(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\)"):
        layer.forward(np.array([[1, 5]]))


# -- TimeSoftmaxWithLoss -----------------------------------------------------------


def _labels():
    return np.array([[0, 2, -1], [1, -1, 3]])


def test_time_softmax_loss_value_ignores_padding(backend):
    x0 = randn((2, 3, 4))
    t0 = _labels()
    loss = anynet.TimeSoftmaxWithLoss()
    value = loss.forward(arr(backend, x0), arr(backend, t0))
    logp = x0 - np.log(np.exp(x0).sum(axis=2, keepdims=True))
    keep = t0 != -1
    expected = -np.mean([logp[n, t, t0[n, t]] for n, t in zip(*np.nonzero(keep))])
    np.testing.assert_allclose(float(value), expected, rtol=1e-12)
    dx = host(loss.backward())
    np.testing.assert_array_equal(dx[~keep], 0.0)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_time_softmax_loss_gradient(backend, reduction):
    check_loss(anynet.TimeSoftmaxWithLoss(reduction=reduction), arr(backend, randn((2, 3, 4))),
               arr(backend, _labels()))


def test_time_softmax_loss_none_reduction(backend):
    x0, t0 = randn((2, 3, 4)), _labels()
    loss = anynet.TimeSoftmaxWithLoss(reduction="none")
    per = host(loss.forward(arr(backend, x0), arr(backend, t0)))
    assert per.shape == (2, 3) and per[0, 2] == 0.0 and per[1, 1] == 0.0
    total = anynet.TimeSoftmaxWithLoss(reduction="sum")
    np.testing.assert_allclose(per.sum(), float(total.forward(arr(backend, x0), arr(backend, t0))), rtol=1e-12)
    dout = arr(backend, np.ones((2, 3)))
    np.testing.assert_allclose(host(loss.backward(dout)), host(total.backward()), rtol=1e-12)


def test_time_softmax_loss_errors():
    loss = anynet.TimeSoftmaxWithLoss()
    with pytest.raises(ValueError, match=r"expected labels t of shape \(2, 3\), got \(2,\)"):
        loss.forward(np.zeros((2, 3, 4)), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="labels must lie"):
        loss.forward(np.zeros((1, 2, 4)), np.array([[0, 4]]))


# -- errors, devices --------------------------------------------------------------


def test_time_layer_errors():
    layer = anynet.TimeLSTM(3, 4)
    with pytest.raises(ValueError, match=r"TimeLSTM: expected x of shape \(N, T, 3\), got \(2, 3\)"):
        layer.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((2, 3, 4), np.float32))
    layer.forward(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected dout of shape \(2, 5, 4\)"):
        layer.backward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"LSTM: expected c_prev of shape \(2, 4\), got \(2, 3\)"):
        anynet.LSTM(3, 4).forward(np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32),
                                  np.zeros((2, 3), np.float32))


def test_model_to_moves_carried_state():
    model = anynet.models.LanguageModel(7, 4, 5)
    model.forward(np.zeros((2, 3), np.int64))
    model.to("array_api_strict:device1")
    y = model.forward(anynet.to_device(np.zeros((2, 3), np.int64), "array_api_strict:device1"))
    assert anynet.device_of(y) == anynet.as_device("array_api_strict:device1")


# -- training ------------------------------------------------------------------------


def _rows_task(n=48, rows=4, cols=5, seed=0):
    """Images read row by row; the class is which of the last three rows is bright."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rows, cols)).astype(np.float32) * 0.5
    t = rng.integers(0, 3, n)
    x[np.arange(n), rows - 3 + t, :] += 1.0
    return x, t


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_row_classifier_loss_falls(cpu_backend, kind):
    anynet.seed(0)
    x, t = _rows_task()
    net = anynet.models.SequenceClassifier(5, 16, 3, cell=kind)
    opt = anynet.SGD(lr=2.0 if kind == "lstm" else 1.0, hooks=[ClipByNorm(5.0)])
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), opt, verbose=0)
    history = trainer.fit(x, t, epochs=8, batch_size=16)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert anynet.device_of(net.params[0].data) == cpu_backend


def test_language_model_learns_a_repeated_text():
    anynet.seed(0)
    text = "abcabdabcabd" * 8 + "a"
    ids = np.array(["abcd".index(ch) for ch in text])
    xs, ts = ids[:-1].reshape(4, -1), ids[1:].reshape(4, -1)
    model = anynet.models.LanguageModel(4, 8, 16, cell="gru")
    loss, opt = anynet.TimeSoftmaxWithLoss(), anynet.SGD(lr=1.0, hooks=[ClipByNorm(5.0)])
    first = None
    for _ in range(30):
        model.reset_state()
        for start in range(0, xs.shape[1], 6):
            value = float(loss.forward(model.forward(xs[:, start:start + 6]), ts[:, start:start + 6]))
            first = value if first is None else first
            model.backward(loss.backward())
            opt.update(model.params)
    assert math.exp(value) < 0.6 * math.exp(first)  # perplexity falls


def test_a_cell_in_a_sequential_says_to_use_the_time_layer():
    with pytest.raises(TypeError, match="LSTM: a cell takes its state.*use TimeLSTM"):
        anynet.Sequential(anynet.LSTM(3, 4))


@pytest.mark.parametrize("kind", list(CELLS))
def test_a_time_layer_steps_with_its_cells_spec(kind):
    cell, layer = CELLS[kind](3, 4), TIME[kind](3, 4)
    assert not isinstance(cell, anynet.Layer) and isinstance(layer, anynet.Layer) and layer.training
    assert layer.spec is cell.spec and cell.Wx.shape == (3, 4 * cell.spec.gates)
    assert cell.spec.n_state == (2 if kind == "lstm" else 1)
