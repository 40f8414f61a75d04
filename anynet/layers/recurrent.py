"""Recurrent cells, one time step each: RNN, LSTM, GRU (the book's volume 2, ``common/time_layers.py``).

The maths of one step lives in pure functions (``*_cell`` / ``*_cell_back``) that take
the step's input projection x Wx + b and the recurrent weights as arrays, so the cells
here and the ``Time*`` layers (``time_recurrent.py``) share one implementation, and the
``Time*`` layers project every step's input in one matrix product and sum the weight
gradients over steps in one product each (no parameter per step).

A cell is not a ``Layer``: it takes the previous state and returns the next one
(see each class), so a ``Sequential`` refuses it; over sequences use the ``Time*`` layers.
Each cell class names its ``CellSpec`` (gates, number of state arrays, cell, cell back);
every cell holds Wx (D, G*H), Wh (H, G*H), b (G*H,) with G gates side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..backend import namespace
from ..validation import check_array, check_int
from .base import ParameterHolder, new_parameter
from .init import init_scale

__all__ = ["GRU", "LSTM", "RNN", "Cell", "CellSpec", "RecurrentWeights"]


# -- one step of each cell, on arrays ----------------------------------------
# state: a tuple, (h,) for RNN and GRU, (h, c) for LSTM.
# cell(xp, ax, state, Wh) -> (next state, cache), ax = x Wx + b the step's input projection
#   (a Time layer projects all steps' inputs in one product); cache[0] is h_prev.
# cell_back(xp, dstate, cache, Wh) -> (dax, dstate_prev, dWh), dWh None when it is h_prev^T dax
#   (a Time layer then sums it over all steps in one product).


def rnn_cell(xp, ax, state, Wh):
    (h_prev,) = state
    h_next = xp.tanh(ax + xp.matmul(h_prev, Wh))
    return (h_next,), (h_prev, h_next)


def rnn_cell_back(xp, dstate, cache, Wh):
    (dh_next,) = dstate
    _, h_next = cache
    dt = dh_next * (1.0 - h_next * h_next)
    return dt, (xp.matmul(dt, Wh.T),), None


def _sigmoid(xp, x):
    """1 / (1 + exp(-x)) as 0.5 tanh(x / 2) + 0.5: no overflow, and 4 array operations where the
    exp form takes 8 (a gate's cost is the number of calls, not the arithmetic)."""
    return 0.5 * xp.tanh(0.5 * x) + 0.5


def lstm_cell(xp, ax, state, Wh):
    h_prev, c_prev = state
    H = h_prev.shape[1]
    A = ax + xp.matmul(h_prev, Wh)
    S = _sigmoid(xp, A)  # all four blocks at once; i, f, o are read from it
    i, f, o = S[:, :H], S[:, H:2 * H], S[:, 3 * H:]
    g = xp.tanh(A[:, 2 * H:3 * H])
    c_next = f * c_prev + i * g
    tc = xp.tanh(c_next)
    h_next = o * tc
    return (h_next, c_next), (h_prev, c_prev, S, g, tc)


def lstm_cell_back(xp, dstate, cache, Wh):
    dh_next, dc_next = dstate
    _, c_prev, S, g, tc = cache
    H = g.shape[1]
    i, f, o = S[:, :H], S[:, H:2 * H], S[:, 3 * H:]
    ds = dc_next + dh_next * o * (1.0 - tc * tc)
    di = ds * g * i * (1.0 - i)
    df = ds * c_prev * f * (1.0 - f)
    dg = ds * i * (1.0 - g * g)
    do = dh_next * tc * o * (1.0 - o)
    dA = xp.concat([di, df, dg, do], axis=1)
    return dA, (xp.matmul(dA, Wh.T), ds * f), None


def gru_cell(xp, ax, state, Wh):
    (h_prev,) = state
    H = h_prev.shape[1]
    zr = _sigmoid(xp, ax[:, :2 * H] + xp.matmul(h_prev, Wh[:, :2 * H]))
    z, r = zr[:, :H], zr[:, H:]
    rh = r * h_prev
    hh = xp.tanh(ax[:, 2 * H:] + xp.matmul(rh, Wh[:, 2 * H:]))
    h_next = (1.0 - z) * h_prev + z * hh
    return (h_next,), (h_prev, z, r, rh, hh)


def gru_cell_back(xp, dstate, cache, Wh):
    (dh_next,) = dstate
    h_prev, z, r, rh, hh = cache
    H = h_prev.shape[1]
    dt = dh_next * z * (1.0 - hh * hh)
    dz = dh_next * (hh - h_prev) * z * (1.0 - z)
    drh = xp.matmul(dt, Wh[:, 2 * H:].T)
    dr = drh * h_prev * r * (1.0 - r)
    dzr = xp.concat([dz, dr], axis=1)
    dh_prev = dh_next * (1.0 - z) + drh * r + xp.matmul(dzr, Wh[:, :2 * H].T)
    dA = xp.concat([dz, dr, dt], axis=1)
    dWh = xp.concat([xp.matmul(h_prev.T, dzr), xp.matmul(rh.T, dt)], axis=1)
    return dA, (dh_prev,), dWh


@dataclass(frozen=True)
class CellSpec:
    """What a cell computes: ``gates`` blocks of H columns side by side in Wx, Wh and b,
    ``n_state`` state arrays ((h,) or (h, c)), and its ``cell`` / ``cell_back`` (above) on the
    input projection; ``step`` / ``step_back`` are one whole step on x."""

    gates: int
    n_state: int
    cell: Callable
    cell_back: Callable

    def step(self, xp, x, state, Wx, Wh, b):
        """(next state, cache) from x (N, D) and the state."""
        state, cache = self.cell(xp, xp.matmul(x, Wx) + b, state, Wh)
        return state, (x, cache)

    def step_back(self, xp, dstate, cache, Wx, Wh):
        """(dx, dstate_prev, (dWx, dWh, db)) of one step."""
        x, inner = cache
        dA, dprev, dWh = self.cell_back(xp, dstate, inner, Wh)
        if dWh is None:
            dWh = xp.matmul(inner[0].T, dA)
        return xp.matmul(dA, Wx.T), dprev, (xp.matmul(x.T, dA), dWh, xp.sum(dA, axis=0))


class RecurrentWeights(ParameterHolder):
    """Wx (D, G*H), Wh (H, G*H), b (G*H,) for the G gates of ``spec``; shared by cells and Time layers."""

    spec: CellSpec

    def __init__(self, input_size: int, hidden_size: int, weight_init: str | float = "xavier",
                 dtype: Any = None):
        super().__init__()
        G = self.spec.gates
        D, H = check_int(self.name, "input_size", input_size), check_int(self.name, "hidden_size", hidden_size)
        self.input_size, self.hidden_size = D, H
        self.Wx = new_parameter("Wx", (D, G * H), init_scale(weight_init, D, self.name), dtype)
        self.Wh = new_parameter("Wh", (H, G * H), init_scale(weight_init, H, self.name), dtype)
        self.b = new_parameter("b", (G * H,), None, dtype)


    def _weights(self):
        return self.Wx.data, self.Wh.data, self.b.data

    def _assign_grads(self, grads) -> None:
        self.Wx.grad, self.Wh.grad, self.b.grad = grads


class Cell(RecurrentWeights):
    """One time step, not a ``Layer``: ``forward(x, *state)`` returns the next state,
    ``backward(*dstate)`` returns (dx, *dstate_prev) and assigns the weight gradients."""

    def __init__(self, input_size: int, hidden_size: int, weight_init: str | float = "xavier",
                 dtype: Any = None):
        super().__init__(input_size, hidden_size, weight_init, dtype)
        self.cache = None

    def _forward(self, x, state):
        Wx, Wh, b = self._weights()
        xp = namespace(x, *state, Wx, where=self.name)
        N, H = x.shape[0], self.hidden_size
        check_array(self.name, x, xp, ("N", self.input_size), Wx.dtype)
        names = ("h_prev", "c_prev")
        for name, s in zip(names, state):
            check_array(self.name, s, xp, (N, H), Wx.dtype, name=name)
        new_state, self.cache = self.spec.step(xp, x, state, Wx, Wh, b)
        return new_state

    def _backward(self, dstate):
        cache = self._need("cache")
        Wx, Wh, _ = self._weights()
        xp = namespace(*dstate, Wx, where=self.name)
        shape = (cache[0].shape[0], self.hidden_size)  # cache[0] is x
        for d in dstate:
            self._check_dout(d, shape)
        dx, dprev, grads = self.spec.step_back(xp, dstate, cache, Wx, Wh)
        self._assign_grads(grads)
        return (dx, *dprev)


class _HiddenStateCell(Cell):
    """A cell whose state is h alone: ``forward(x, h_prev)``: x (N, D), h_prev (N, H) -> h_next (N, H);
    ``backward(dh_next)`` -> (dx, dh_prev)."""

    def forward(self, x, h_prev):
        """One step: x (N, D), h_prev (N, H) -> h_next (N, H)."""
        return self._forward(x, (h_prev,))[0]

    def backward(self, dh_next):
        """Back through the last step: dh_next (N, H) -> (dx, dh_prev); the weight gradients are assigned."""
        return self._backward((dh_next,))


class RNN(_HiddenStateCell):
    """One step of a simple RNN, h_next = tanh(x Wx + h_prev Wh + b).

    ``forward(x, h_prev)``: x (N, D), h_prev (N, H) -> h_next (N, H);
    ``backward(dh_next)`` -> (dx, dh_prev). Parameters: Wx (D, H), Wh (H, H), b (H,).
    """

    spec = CellSpec(gates=1, n_state=1, cell=rnn_cell, cell_back=rnn_cell_back)


class LSTM(Cell):
    """One step of a long short-term memory cell (gates i, f, g, o side by side, PyTorch's order).

    ``forward(x, h_prev, c_prev)``: x (N, D), h_prev and c_prev (N, H) -> (h_next, c_next);
    ``backward(dh_next, dc_next)`` -> (dx, dh_prev, dc_prev).
    Parameters: Wx (D, 4H), Wh (H, 4H), b (4H,).
    Hochreiter and Schmidhuber, https://doi.org/10.1162/neco.1997.9.8.1735
    """

    spec = CellSpec(gates=4, n_state=2, cell=lstm_cell, cell_back=lstm_cell_back)

    def forward(self, x, h_prev, c_prev):
        """One step: x (N, D), h_prev and c_prev (N, H) -> (h_next, c_next), each (N, H)."""
        return self._forward(x, (h_prev, c_prev))

    def backward(self, dh_next, dc_next):
        """Back through the last step: dh_next, dc_next (N, H) -> (dx, dh_prev, dc_prev); assigns the weight
        gradients."""
        return self._backward((dh_next, dc_next))


class GRU(_HiddenStateCell):
    """One step of a gated recurrent unit, in the book's (and Cho et al.'s) form:
    z, r = sigmoid(...), h~ = tanh(x Wxh + (r * h_prev) Whh + bh), h_next = (1 - z) h_prev + z h~.

    ``forward(x, h_prev)``: x (N, D), h_prev (N, H) -> h_next (N, H);
    ``backward(dh_next)`` -> (dx, dh_prev). Parameters: Wx (D, 3H), Wh (H, 3H), b (3H,),
    gates z, r, h~ side by side. Cho et al., https://arxiv.org/abs/1406.1078
    """

    spec = CellSpec(gates=3, n_state=1, cell=gru_cell, cell_back=gru_cell_back)
