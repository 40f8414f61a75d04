"""TimeRNN, TimeLSTM, TimeGRU (anynet.layers.time_recurrent) on every backend: gradients, BPTT equal to
hand-unrolled cells, truncated BPTT, the initial state's gradient, errors."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import arr, check_inputs_unchanged, host
from anynet.testing.gradcheck import check_backward, check_layer

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


def _cell_run(cell, x, state):
    out = cell.forward(x, *state)
    return out if isinstance(out, tuple) else (out,)


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
    layer = TIME[kind](D, H, stateful=True, dtype=F64)
    x = arr(backend, randn((N, T, D)))
    dout = arr(backend, randn((N, T, H), seed=6))
    state = [arr(backend, randn((N, H), seed=7 + s)) for s in range(2 if kind == "lstm" else 1)]

    def forward(x, *state):
        layer.set_state(*state)
        return layer.forward(x)

    def backward(dout):
        return (layer.backward(dout), *layer.dstate)

    check_backward(forward, backward, (x, *state), dout, layer.params, tol=1e-7, name=type(layer).__name__)
    np.testing.assert_array_equal(host(layer.dh), host(layer.dstate[0]))


@pytest.mark.parametrize("make", [lambda: anynet.TimeLSTM(D, H, dtype=F64), lambda: anynet.TimeGRU(D, H, dtype=F64),
                                  lambda: anynet.TimeRNN(D, H, dtype=F64)])
def test_inputs_left_unchanged(backend, make):
    check_inputs_unchanged(backend, make(), randn((N, T, D)))


def test_stateful_batch_size_change_is_refused():
    layer = anynet.TimeRNN(D, H, stateful=True)
    layer.forward(np.zeros((2, T, D), np.float32))
    with pytest.raises(ValueError, match="reset_state"):
        layer.forward(np.zeros((3, T, D), np.float32))
    layer.reset_state()
    assert layer.forward(np.zeros((3, T, D), np.float32)).shape == (3, T, H)


# -- errors ----------------------------------------------------------------------------


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


@pytest.mark.parametrize("kind", list(CELLS))
def test_a_time_layer_steps_with_its_cells_spec(kind):
    cell, layer = CELLS[kind](3, 4), TIME[kind](3, 4)
    assert not isinstance(cell, anynet.Layer) and isinstance(layer, anynet.Layer) and layer.training
    assert layer.spec is cell.spec and cell.Wx.shape == (3, 4 * cell.spec.gates)
    assert cell.spec.n_state == (2 if kind == "lstm" else 1)
