"""Embedding and TimeEmbedding: rows of a weight matrix picked by integer ids."""

from __future__ import annotations

from typing import Any

from ..backend import namespace
from ..checks import values_checked
from ..functional import one_hot
from .base import Layer, new_parameter

__all__ = ["Embedding", "TimeEmbedding"]


class Embedding(Layer):
    """Row lookup W[ids]: ids (N,) integers in [0, V) -> (N, D). Parameters: W (V, D).

    Backward returns None (ids have no gradient) and assigns
    dW = one_hot(ids)^T @ dout: repeated ids add up, with the same result on every
    backend and no scatter (the book's ``np.add.at``).
    """

    axes = ("N",)

    def __init__(self, vocab_size: int, embed_size: int, weight_init: float = 0.01, dtype: Any = None):
        super().__init__()
        self.W = new_parameter("W", (vocab_size, embed_size), weight_init, dtype)
        self.ids = None

    @property
    def params(self):
        return [self.W]

    def _check_ids(self, xp, ids, V):
        want = self.axes
        if ids.ndim != len(want):
            shape = "(" + ", ".join(want) + ("," if len(want) == 1 else "") + ")"
            raise ValueError(f"{self.name}: expected ids of shape {shape}, got {tuple(ids.shape)}")
        if not xp.isdtype(ids.dtype, "integral"):
            raise TypeError(f"{self.name}: expected integer ids, got {ids.dtype} of shape {tuple(ids.shape)}")
        if ids.shape[0] == 0:
            raise ValueError(f"{self.name}: empty batch: ids have shape {tuple(ids.shape)}")
        if values_checked(xp):
            lo, hi = int(xp.min(ids)), int(xp.max(ids))
            if lo < 0 or hi >= V:
                raise ValueError(f"{self.name}: ids must lie in [0, {V}), got values in [{lo}, {hi}]")

    def forward(self, x, train=None):
        W = self.W.data
        xp = namespace(x, W, where=self.name)
        V, D = W.shape
        self._check_ids(xp, x, V)
        self.ids = x
        flat = xp.reshape(x, (-1,))
        return xp.reshape(xp.take(W, flat, axis=0), (*x.shape, D))

    def backward(self, dout):
        ids = self._need("ids")
        W = self.W.data
        xp = namespace(dout, W, where=self.name)
        V, D = W.shape
        self._check_dout(dout, (*ids.shape, D))
        onehot = one_hot(xp.reshape(ids, (-1,)), V, dout.dtype)
        self.W.grad = xp.matmul(onehot.T, xp.reshape(dout, (-1, D)))
        return None


class TimeEmbedding(Embedding):
    """Embedding of a batch of sequences: ids (N, T) integers in [0, V) -> (N, T, D).
    Parameters: W (V, D); backward returns None and assigns dW."""

    axes = ("N", "T")
