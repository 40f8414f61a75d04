"""Attention: the book's TimeAttention, and scaled dot-product and MultiHeadAttention with masks.

The maths lives in two functions on arrays, ``attention`` and ``attention_backward``
(as the recurrent step functions do), so the layer and its tests share them.
A mask is a boolean array, True where a query may look at a key, broadcastable to
the scores (N, heads, Tq, Tk); masks are applied with ``where``, never by indexing.
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend
from ..backend import array_device, namespace
from ..functional import softmax
from ..validation import check_array
from .base import Layer, new_parameter
from .init import init_scale

__all__ = ["MultiHeadAttention", "TimeAttention", "attention", "attention_backward", "attention_mask"]


def attention_mask(xp: Any, N: int, Tq: int, Tk: int, causal: bool = False, padding: Any = None,
                   device: Any = None, where: str = "attention") -> Any:
    """A boolean mask (N or 1, 1, Tq or 1, Tk), True where a query may attend, or None for no mask.

    ``causal``: query t sees keys 0..t. ``padding``: booleans (N, Tk), True at padded keys
    (PyTorch's ``key_padding_mask``), or integer lengths (N,), keys from ``length`` on padded.
    """
    allowed = None
    if causal:
        steps_q = xp.arange(Tq, device=device)
        steps_k = xp.arange(Tk, device=device)
        allowed = xp.reshape(steps_q, (1, 1, Tq, 1)) >= xp.reshape(steps_k, (1, 1, 1, Tk))
    if padding is not None:
        if xp.isdtype(padding.dtype, "bool"):
            if tuple(padding.shape) != (N, Tk):
                raise ValueError(f"{where}: expected a padding mask of shape ({N}, {Tk}), "
                                 f"got {tuple(padding.shape)}")
            keep = xp.logical_not(padding)
        elif xp.isdtype(padding.dtype, "integral"):
            if tuple(padding.shape) != (N,):
                raise ValueError(f"{where}: expected padding lengths of shape ({N},), got {tuple(padding.shape)}")
            steps = xp.arange(Tk, device=device)
            keep = xp.reshape(steps, (1, Tk)) < xp.reshape(xp.astype(padding, steps.dtype), (N, 1))
        else:
            raise TypeError(f"{where}: padding must be booleans (N, T) or integer lengths (N,), "
                            f"got {padding.dtype}")
        keep = xp.reshape(keep, (N, 1, 1, Tk))
        allowed = keep if allowed is None else xp.logical_and(allowed, keep)
    return allowed


def attention(q: Any, k: Any, v: Any, allowed: Any = None, dropout: float = 0.0) -> tuple[Any, Any]:
    """softmax(q k^T / sqrt(dk)) v: q (..., Tq, dk), k (..., Tk, dk), v (..., Tk, dv) -> (..., Tq, dv).

    ``allowed`` (boolean, broadcastable to (..., Tq, Tk)) hides keys; a query with no key
    left gets zero weights (and output). ``dropout`` > 0 drops attention weights (inverted
    dropout, drawn on the arrays' device). Returns (out, cache for ``attention_backward``).
    Vaswani et al., https://arxiv.org/abs/1706.03762
    """
    xp = namespace(q, k, v, where="attention")
    qs = q * (1.0 / math.sqrt(q.shape[-1]))  # scale the (T, dk) side, not the (T, T) scores
    scores = xp.matmul(qs, xp.matrix_transpose(k))
    if allowed is not None:
        # the lowest finite number rather than -inf: a row with no key left stays NaN-free
        scores = xp.where(allowed, scores, xp.finfo(scores.dtype).min)
    a = softmax(scores, axis=-1)
    if allowed is not None:
        a = xp.where(allowed, a, 0.0)
    keep = None
    if dropout:
        keep = backend.uniform_like(a) >= dropout
        weights = xp.where(keep, a * (1.0 / (1.0 - dropout)), 0.0)
    else:
        weights = a
    return xp.matmul(weights, v), (qs, k, v, a, weights, keep, dropout)


def attention_backward(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
    """Gradients (dq, dk, dv) of ``attention`` for dout (..., Tq, dv)."""
    qs, k, v, a, weights, keep, dropout = cache
    xp = namespace(dout, v, where="attention")
    dv = xp.matmul(xp.matrix_transpose(weights), dout)
    da = xp.matmul(dout, xp.matrix_transpose(v))
    if keep is not None:
        da = xp.where(keep, da * (1.0 / (1.0 - dropout)), 0.0)
    # softmax backward; hidden keys have a == 0 and so get no gradient
    ds = a * (da - xp.sum(a * da, axis=-1, keepdims=True))
    dq = xp.matmul(ds, k) * (1.0 / math.sqrt(qs.shape[-1]))
    dk = xp.matmul(xp.matrix_transpose(ds), qs)
    return dq, dk, dv


class MultiHeadAttention(Layer):
    """Multi-head self-attention: x (N, T, D) -> (N, T, D), ``num_heads`` heads of width D / heads.

    q, k, v = x Wq + bq, x Wk + bk, x Wv + bv, split into heads; each head attends
    (``attention``); the heads are joined and projected, y = o Wo + bo.
    ``causal=True`` lets position t see positions 0..t only (language models).
    ``forward(x, train=None, padding=None)``: ``padding`` hides keys, booleans (N, T)
    True at padding, or integer lengths (N,). ``dropout`` drops attention weights in
    training. Parameters: Wq, bq, Wk, bk, Wv, bv, Wo, bo; W (D, D), b (D,).
    Vaswani et al., https://arxiv.org/abs/1706.03762
    """

    def __init__(self, embed_size: int, num_heads: int, causal: bool = False, dropout: float = 0.0,
                 weight_init: str | float = "xavier", dtype: Any = None):
        super().__init__()
        if num_heads < 1 or embed_size % num_heads:
            raise ValueError(f"MultiHeadAttention: embed_size {embed_size} must be a multiple of "
                             f"num_heads {num_heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must lie in [0, 1), got {dropout}")
        D = embed_size
        self.embed_size, self.num_heads, self.causal, self.dropout = D, num_heads, causal, dropout
        scale = init_scale(weight_init, D, self.name)
        for name in ("q", "k", "v", "o"):
            W = new_parameter(f"W{name}", (D, D), scale, dtype)
            b = new_parameter(f"b{name}", (D,), None, dtype)
            setattr(self, f"W{name}", W)
            setattr(self, f"b{name}", b)
        self.cache = None


    def _split(self, xp, y, N, T):
        """(N*T, D) -> (N, heads, T, D/heads)."""
        h = self.num_heads
        return xp.permute_dims(xp.reshape(y, (-1, T, h, self.embed_size // h)), (0, 2, 1, 3))  # N may be None

    def _join(self, xp, y, N, T):
        """(N, heads, T, D/heads) -> (N*T, D)."""
        return xp.reshape(xp.permute_dims(y, (0, 2, 1, 3)), (-1, self.embed_size))

    def forward(self, x, train=None, padding=None):
        Wq, bq, Wk, bk, Wv, bv, Wo, bo = (p.data for p in self.own_params)
        xp = namespace(x, Wq, padding, where=self.name)
        D = self.embed_size
        check_array(self.name, x, xp, ("N", "T", D), Wq.dtype)
        N, T, _ = x.shape
        allowed = attention_mask(xp, N, T, T, self.causal, padding, array_device(x), self.name)
        x2 = xp.reshape(x, (-1, D))  # -1: N may be symbolic (None) in a traced graph
        q = self._split(xp, xp.matmul(x2, Wq) + bq, N, T)
        k = self._split(xp, xp.matmul(x2, Wk) + bk, N, T)
        v = self._split(xp, xp.matmul(x2, Wv) + bv, N, T)
        dropout = self.dropout if self.is_training(train) else 0.0
        o, att = attention(q, k, v, allowed, dropout)
        o2 = self._join(xp, o, N, T)
        self.cache = (x2, o2, att, (N, T))
        return xp.reshape(xp.matmul(o2, Wo) + bo, (-1, T, D))

    @property
    def weights(self) -> Any:
        """The attention weights (N, heads, T, T) of the last forward, before dropout."""
        return self._need("cache")[2][3]

    def backward(self, dout):
        x2, o2, att, (N, T) = self._need("cache")
        Wq, Wk, Wv, Wo = self.Wq.data, self.Wk.data, self.Wv.data, self.Wo.data
        xp = namespace(dout, Wq, where=self.name)
        D = self.embed_size
        self._check_dout(dout, (N, T, D))
        dy = xp.reshape(dout, (N * T, D))
        self.Wo.grad = xp.matmul(o2.T, dy)
        self.bo.grad = xp.sum(dy, axis=0)
        do = self._split(xp, xp.matmul(dy, Wo.T), N, T)
        dq, dk, dv = (self._join(xp, g, N, T) for g in attention_backward(do, att))
        for name, g in (("q", dq), ("k", dk), ("v", dv)):
            getattr(self, f"W{name}").grad = xp.matmul(x2.T, g)
            getattr(self, f"b{name}").grad = xp.sum(g, axis=0)
        dx = xp.matmul(dq, Wq.T) + xp.matmul(dk, Wk.T) + xp.matmul(dv, Wv.T)
        return xp.reshape(dx, (N, T, D))

    def __repr__(self) -> str:
        return (f"{self.name}({self.embed_size}, heads={self.num_heads}, causal={self.causal}, "
                f"dropout={self.dropout})")


class TimeAttention(Layer):
    """The book's attention for encoder-decoder nets, at every decoder step at once.

    ``forward(hs_enc, hs_dec)``: encoder states hs_enc (N, T, H), decoder states
    hs_dec (N, T', H) -> contexts c (N, T', H): the weights a = softmax(hs_dec . hs_enc)
    over the T encoder steps (the book's AttentionWeight), c = their weighted sum of
    hs_enc (WeightSum). ``backward(dc)`` -> (dhs_enc, dhs_dec). No parameters.
    Bahdanau et al., https://arxiv.org/abs/1409.0473; Luong et al., https://arxiv.org/abs/1508.04025
    """

    def __init__(self):
        super().__init__()
        self.cache = None

    def forward(self, hs_enc, hs_dec=None):
        if hs_dec is None or isinstance(hs_dec, bool):
            raise TypeError(f"{self.name}: takes the encoder and decoder states, forward(hs_enc, hs_dec)")
        xp = namespace(hs_enc, hs_dec, where=self.name)
        check_array(self.name, hs_enc, xp, ("N", "T", "H"), name="hs_enc")
        N, T, H = hs_enc.shape
        check_array(self.name, hs_dec, xp, (N, "T'", H), hs_enc.dtype, name="hs_dec")
        a = softmax(xp.matmul(hs_dec, xp.matrix_transpose(hs_enc)), axis=-1)  # (N, T', T)
        self.cache = (hs_enc, hs_dec, a)
        return xp.matmul(a, hs_enc)

    @property
    def weights(self) -> Any:
        """The attention weights (N, T', T) of the last forward: decoder step over encoder steps."""
        return self._need("cache")[2]

    def backward(self, dc):
        hs_enc, hs_dec, a = self._need("cache")
        xp = namespace(dc, hs_enc, where=self.name)
        self._check_dout(dc, tuple(hs_dec.shape))
        da = xp.matmul(dc, xp.matrix_transpose(hs_enc))
        ds = a * (da - xp.sum(a * da, axis=-1, keepdims=True))
        dhs_enc = xp.matmul(xp.matrix_transpose(a), dc) + xp.matmul(xp.matrix_transpose(ds), hs_dec)
        return dhs_enc, xp.matmul(ds, hs_enc)
