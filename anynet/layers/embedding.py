"""Embedding and TimeEmbedding: rows of a weight matrix picked by integer ids."""

from __future__ import annotations

from typing import Any

from ..backend import namespace
from ..functional import one_hot
from ..validation import check_float, check_int, check_labels
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
        shape = (check_int(self.name, "vocab_size", vocab_size), check_int(self.name, "embed_size", embed_size))
        self.W = new_parameter("W", shape, check_float(self.name, "weight_init", weight_init, 0.0), dtype)
        self.ids = None


    @property
    def input_ids(self) -> int:
        return self.W.shape[0]

    def forward(self, x, train=None):
        W = self.W.data
        xp = namespace(x, W, where=self.name)
        V, D = W.shape
        check_labels(self.name, x, xp, V, self.axes, name="ids")
        self.ids = x
        flat = xp.reshape(x, (-1,))
        return xp.reshape(xp.take(W, flat, axis=0), (-1, *x.shape[1:], D))  # -1: N may be symbolic

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
