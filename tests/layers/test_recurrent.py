"""The recurrent cells RNN, LSTM, GRU (anynet.layers.recurrent) on every backend: gradients in x,
the state and the weights; one step in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet.testing import arr, host
from anynet.testing.gradcheck import check_backward

F64 = "float64"
N, T, D, H = 2, 3, 3, 4
CELLS = {"rnn": anynet.RNN, "lstm": anynet.LSTM, "gru": anynet.GRU}


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_gradient(backend, kind):
    cell = CELLS[kind](D, H, dtype=F64)
    n_state = 2 if kind == "lstm" else 1
    x = arr(backend, randn((N, D)))
    state = [arr(backend, randn((N, H), seed=1 + s)) for s in range(n_state)]
    douts = [arr(backend, randn((N, H), seed=5 + s)) for s in range(n_state)]
    errors = check_backward(cell.forward, cell.backward, (x, *state), douts, cell.params, tol=1e-7,
                            name=type(cell).__name__)
    assert len(errors) == 1 + n_state + 3  # x, every state, Wx, Wh, b


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
