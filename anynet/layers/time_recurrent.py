"""Recurrent layers over whole sequences: TimeRNN, TimeLSTM, TimeGRU, with backprop through time.

One set of weights serves every time step; backward sums each step's weight
gradients (no parameter per step). ``stateful=True`` carries the last hidden
state into the next ``forward`` (truncated BPTT: the state crosses batches, the
gradient does not); ``return_sequences`` picks many-to-many (N, T, H) or
many-to-one (N, H). Stack them in a ``Sequential`` with ``Dropout`` between.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..backend import array_device, namespace
from ..validation import check_array
from .base import Layer
from .recurrent import GRU, LSTM, RNN, RecurrentWeights

__all__ = ["TimeGRU", "TimeLSTM", "TimeRNN"]


class _TimeRecurrent(RecurrentWeights, Layer):
    """x (N, T, D) -> hs (N, T, H), or the last h (N, H) with ``return_sequences=False``;
    each step is its cell's ``spec.step``."""

    carried = ("state",)

    def __init__(self, input_size: int, hidden_size: int, stateful: bool = False,
                 return_sequences: bool = True, weight_init: str | float = "xavier", dtype: Any = None):
        super().__init__(input_size, hidden_size, weight_init, dtype)
        self.stateful = stateful
        self.return_sequences = return_sequences
        self.state: tuple | None = None  # carried between calls when stateful
        self.dstate: tuple | None = None  # gradient of the initial state, after backward
        self.caches = self.x = None

    @property
    def carries_state(self) -> bool:
        return self.stateful

    def reset_state(self) -> None:
        """Forget the carried hidden (and cell) state: the next forward starts from zeros."""
        self.state = None

    def _initial(self, xp, x, N):
        H = self.hidden_size
        if self.state is not None and self.stateful:
            if tuple(self.state[0].shape) != (N, H):
                raise ValueError(
                    f"{self.name}: the carried state has batch size {self.state[0].shape[0]}, x has {N}; "
                    "call reset_state() before changing the batch size"
                )
            return self.state
        # (N, 1) + (H,): zeros of x's batch size, also where N is symbolic (a traced graph)
        zeros = xp.zeros_like(x[:, 0, :1]) + xp.zeros((H,), dtype=x.dtype, device=array_device(x))
        return (zeros,) * self.spec.n_state

    def forward(self, x, train=None):
        Wx, Wh, b = self._weights()
        xp = namespace(x, Wx, where=self.name)
        check_array(self.name, x, xp, ("N", "T", self.input_size), Wx.dtype)
        N, T, D = x.shape
        if T == 0:
            raise ValueError(f"{self.name}: expected at least one time step, got x of shape {tuple(x.shape)}")
        cell = self.spec.cell
        # every step's input projection in one product, time-major so that each step's is
        # contiguous: (T*N, D) @ (D, G*H)
        # (-1 where the batch size N may be symbolic, as when exported)
        xt = xp.reshape(xp.permute_dims(x, (1, 0, 2)), (-1, D))
        AX = xp.reshape(xp.matmul(xt, Wx) + b, (T, -1, Wx.shape[1]))
        state = self._initial(xp, x, N)
        hs, caches = [], []
        for t in range(T):
            state, cache = cell(xp, AX[t, ...], state, Wh)
            hs.append(state[0])
            caches.append(cache)
        self.caches, self.x = caches, xt
        if self.stateful:
            self.state = state
        return xp.stack(hs, axis=1) if self.return_sequences else hs[-1]

    def backward(self, dout):
        caches, xt = self._need("caches"), self.x
        Wx, Wh, _ = self._weights()
        xp = namespace(dout, Wx, where=self.name)
        T, (N, H) = len(caches), caches[0][0].shape
        self._check_dout(dout, (N, T, H) if self.return_sequences else (N, H))
        cell_back = self.spec.cell_back
        zeros = xp.zeros((N, H), dtype=dout.dtype, device=array_device(dout))
        dstate = (zeros,) * self.spec.n_state
        # Weight gradients summed step by step: at this size T products of (N, .) rows run
        # faster than one of (T*N, .) rows built by stacking.
        dxs, total = [], None
        for t in reversed(range(T)):
            if self.return_sequences:
                dh = dstate[0] + dout[:, t, :]
            else:
                dh = dstate[0] + dout if t == T - 1 else dstate[0]
            dA, dstate, dWh = cell_back(xp, (dh, *dstate[1:]), caches[t], Wh)
            x_t = xt[t * N:(t + 1) * N, :]
            if dWh is None:
                dWh = xp.matmul(caches[t][0].T, dA)
            grads = (xp.matmul(x_t.T, dA), dWh, xp.sum(dA, axis=0))
            total = grads if total is None else tuple(a + g for a, g in zip(total, grads))
            dxs.append(xp.matmul(dA, Wx.T))
        self._assign_grads(total)
        self.dstate = dstate
        return xp.stack(dxs[::-1], axis=1)

    @property
    def dh(self) -> Any:
        """Gradient of the initial hidden state (N, H) after backward (for encoder-decoder nets)."""
        return self._need("dstate")[0]

    def set_state(self, h: Any, c: Any = None) -> None:
        """Start the next forward (of a stateful layer) from h (N, H) (and c (N, H) for TimeLSTM)."""
        state = (h,) if self.spec.n_state == 1 else (h, c)
        if any(s is None for s in state):
            raise ValueError(f"{self.name}: set_state needs h and c")
        self.state = state

    def to(self, device):
        super().to(device)
        if self.state is not None:
            dev = backend.as_device(device)
            self.state = tuple(backend.to_device(s, dev) for s in self.state)
        return self

    def __repr__(self) -> str:
        return (f"{self.name}({self.input_size}, {self.hidden_size}, stateful={self.stateful}, "
                f"return_sequences={self.return_sequences})")


class TimeRNN(_TimeRecurrent):
    """A simple RNN over a sequence: x (N, T, D) -> (N, T, H), or (N, H) with
    ``return_sequences=False``. Parameters: Wx (D, H), Wh (H, H), b (H,)."""

    spec = RNN.spec


class TimeLSTM(_TimeRecurrent):
    """An LSTM over a sequence: x (N, T, D) -> (N, T, H), or (N, H) with
    ``return_sequences=False``. Parameters: Wx (D, 4H), Wh (H, 4H), b (4H,) (gates i, f, g, o).
    Hochreiter and Schmidhuber, https://doi.org/10.1162/neco.1997.9.8.1735"""

    spec = LSTM.spec


class TimeGRU(_TimeRecurrent):
    """A GRU over a sequence: x (N, T, D) -> (N, T, H), or (N, H) with
    ``return_sequences=False``. Parameters: Wx (D, 3H), Wh (H, 3H), b (3H,) (gates z, r, h~).
    Cho et al., https://arxiv.org/abs/1406.1078"""

    spec = GRU.spec
