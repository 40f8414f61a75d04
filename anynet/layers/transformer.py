"""Positional encodings and the pre-norm Transformer block (GPT-2's arrangement)."""

from __future__ import annotations

import math
from typing import Any

from ..backend import array_device, namespace
from ..validation import check_array
from .activations import GELU
from .attention import MultiHeadAttention
from .base import Composite, Layer, new_parameter
from .normalization import LayerNorm
from .regularization import Dropout
from .time import TimeAffine

__all__ = ["PositionalEncoding", "TransformerBlock", "sinusoids"]


def sinusoids(xp: Any, T: int, D: int, dtype: Any, device: Any = None) -> Any:
    """The fixed encodings (T, D): PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(the same)."""
    half = (D + 1) // 2
    rates = xp.exp(xp.astype(xp.arange(half, device=device), dtype) * (-2.0 * math.log(10000.0) / D))
    angles = xp.reshape(xp.astype(xp.arange(T, device=device), dtype), (T, 1)) * xp.reshape(rates, (1, half))
    # stacking on a new last axis and flattening interleaves sin and cos: no strided assignment
    pe = xp.reshape(xp.stack([xp.sin(angles), xp.cos(angles)], axis=-1), (T, 2 * half))
    return pe[:, :D]


class PositionalEncoding(Layer):
    """Adds a position code to each step: x (N, T, D) -> x + P[:T] (N, T, D), T <= ``max_len``.

    ``learned=False``: the fixed sinusoids of Vaswani et al. (no parameters, any T works
    but ``max_len`` is still checked); ``learned=True``: a trained table P (max_len, D),
    drawn from Normal(0, ``weight_init``^2). Vaswani et al., https://arxiv.org/abs/1706.03762
    """

    def __init__(self, max_len: int, embed_size: int, learned: bool = False, weight_init: float = 0.02,
                 dtype: Any = None):
        super().__init__()
        self.max_len, self.embed_size, self.learned = max_len, embed_size, learned
        self.P = new_parameter("P", (max_len, embed_size), weight_init, dtype) if learned else None
        self.shape = None


    def forward(self, x, train=None):
        P = self.P.data if self.learned else None
        xp = namespace(x, P, where=self.name)
        D = self.embed_size
        check_array(self.name, x, xp, ("N", "T", D), None if P is None else P.dtype)
        N, T, _ = x.shape
        if T > self.max_len:
            raise ValueError(f"{self.name}: x has {T} steps, more than max_len={self.max_len}")
        self.shape = tuple(x.shape)
        table = P[:T, :] if self.learned else sinusoids(xp, T, D, x.dtype, array_device(x))
        return x + table

    def backward(self, dout):
        N, T, D = self._need("shape")
        self._check_dout(dout, (N, T, D))
        if self.learned:
            xp = namespace(dout, self.P.data, where=self.name)
            rest = xp.zeros((self.max_len - T, D), dtype=dout.dtype, device=array_device(dout))
            self.P.grad = xp.concat([xp.sum(dout, axis=0), rest], axis=0)
        return dout

    def __repr__(self) -> str:
        return f"{self.name}({self.max_len}, {self.embed_size}, learned={self.learned})"


class TransformerBlock(Composite):
    """One pre-norm Transformer layer: x (N, T, D) -> (N, T, D).

    h = x + Dropout(MultiHeadAttention(LayerNorm(x))),
    y = h + Dropout(TimeAffine(GELU(TimeAffine(LayerNorm(h))))), the feed-forward D -> F -> D
    (F = ``hidden_size``, 4D by default). ``forward(x, train=None, padding=None)`` passes
    ``padding`` to the attention. Parameters in order: ln1 (gamma, beta), attn (Wq, bq,
    Wk, bk, Wv, bv, Wo, bo), ln2 (gamma, beta), ff1 (W, b), ff2 (W, b).
    Pre-norm: Xiong et al., https://arxiv.org/abs/2002.04745
    """

    def __init__(self, embed_size: int, num_heads: int, hidden_size: int | None = None, causal: bool = False,
                 dropout: float = 0.0, dtype: Any = None):
        super().__init__()
        D = embed_size
        F = 4 * D if hidden_size is None else hidden_size
        self.add("ln1", LayerNorm(D, dtype=dtype))
        self.add("attn", MultiHeadAttention(D, num_heads, causal=causal, dropout=dropout, dtype=dtype))
        self.add("drop1", Dropout(dropout))
        self.add("ln2", LayerNorm(D, dtype=dtype))
        self.add("ff1", TimeAffine(D, F, "he", dtype))
        self.add("act", GELU())
        self.add("ff2", TimeAffine(F, D, "xavier", dtype))
        self.add("drop2", Dropout(dropout))

    def forward(self, x, train=None, padding=None):
        h = x + self.drop1.forward(self.attn.forward(self.ln1.forward(x, train), train, padding), train)
        f = self.ff2.forward(self.act.forward(self.ff1.forward(self.ln2.forward(h, train), train), train), train)
        return h + self.drop2.forward(f, train)

    def backward(self, dout):
        df = self.ff1.backward(self.act.backward(self.ff2.backward(self.drop2.backward(dout))))
        dh = dout + self.ln2.backward(df)
        return dh + self.ln1.backward(self.attn.backward(self.drop1.backward(dh)))

    def __repr__(self) -> str:
        return (f"{self.name}({self.attn.embed_size}, heads={self.attn.num_heads}, "
                f"hidden={self.ff1.W.shape[1]}, causal={self.attn.causal})")
