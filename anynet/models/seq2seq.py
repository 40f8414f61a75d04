"""The book's encoder-decoder (volume 2, chapters 7 and 8): plain, peeky and attention decoders."""

from __future__ import annotations

from typing import Any

from ..backend import array_device, following, namespace
from ..layers import TimeAffine, TimeAttention, TimeEmbedding, TimeLSTM
from ..layers.base import Composite
from ..validation import check_labels, inside_network

__all__ = ["Seq2seq"]

_DECODERS = ("plain", "peeky", "attention")


class Seq2seq(Composite):
    """An LSTM encoder reads xs; an LSTM decoder, started from its last state, scores the next token.

    ``forward(xs, ts, train=None)``: source ids xs (N, T), decoder input ids ts (N, T')
    (the target shifted right, starting with the start token: teacher forcing)
    -> scores (N, T', vocab_size); train with ``TimeSoftmaxWithLoss`` against the target.
    ``backward(dscore)`` returns None (ids have no gradient) and fills every gradient.
    ``generate(xs, start_id, length)`` decodes greedily -> ids (N, length).

    ``decoder``: "plain" (the book's Seq2seq: only the initial state carries the source),
    "peeky" (PeekySeq2seq: the encoder's last state h also joins the decoder's input and
    its output at every step), "attention" (AttentionSeq2seq: ``TimeAttention`` over all
    encoder states; the scores read [context, decoder state]).
    Parts: enc_embed, encoder, dec_embed, decoder, [attention], affine; params in that order.
    Sutskever et al., https://arxiv.org/abs/1409.3215; Bahdanau et al., https://arxiv.org/abs/1409.0473
    """

    def __init__(self, vocab_size: int, wordvec_size: int = 16, hidden_size: int = 128, decoder: str = "plain",
                 dtype: Any = None):
        super().__init__()
        if decoder not in _DECODERS:
            raise ValueError(f"Seq2seq: decoder must be one of {_DECODERS}, got {decoder!r}")
        V, E, H = vocab_size, wordvec_size, hidden_size
        self.kind, self.vocab_size, self.hidden_size = decoder, V, H
        peeky = decoder == "peeky"
        self.add("enc_embed", TimeEmbedding(V, E, dtype=dtype))
        self.add("encoder", TimeLSTM(E, H, stateful=False, dtype=dtype))
        self.add("dec_embed", TimeEmbedding(V, E, dtype=dtype))
        self.add("decoder", TimeLSTM(E + H if peeky else E, H, stateful=True, dtype=dtype))
        if decoder == "attention":
            self.add("attention", TimeAttention())
        self.add("affine", TimeAffine(H if decoder == "plain" else 2 * H, V, "xavier", dtype))
        self.cache = None

    def _encode(self, xs, train):
        xp = namespace(xs, where=self.name)
        hs = self.encoder.forward(self.enc_embed.forward(xs, train), train)
        h = hs[:, -1, :]
        self.decoder.set_state(h, xp.zeros_like(h))
        return hs, h

    def _peek(self, xp, h, T):
        """h (N, H) repeated over T steps: (N, T, H)."""
        return xp.broadcast_to(xp.expand_dims(h, axis=1), (h.shape[0], T, h.shape[1]))

    def _decode(self, ts, hs, h, train):
        """Decoder steps from its current state (set by _encode, or carried on while generating)."""
        xp = namespace(ts, h, where=self.name)
        x = self.dec_embed.forward(ts, train)
        T = ts.shape[1]
        if self.kind == "peeky":
            x = xp.concat([x, self._peek(xp, h, T)], axis=2)
        out = self.decoder.forward(x, train)
        if self.kind == "peeky":
            out = xp.concat([out, self._peek(xp, h, T)], axis=2)
        elif self.kind == "attention":
            out = xp.concat([self.attention.forward(hs, out), out], axis=2)
        return self.affine.forward(out, train)

    def forward(self, xs, ts=None, train=None):
        if ts is None or isinstance(ts, bool):
            raise TypeError(f"{self.name}: takes source and decoder input ids, forward(xs, ts)")
        xp = namespace(xs, ts, where=self.name)
        check_labels(self.name, xs, xp, self.vocab_size, ("N", "T"), name="xs")
        check_labels(self.name, ts, xp, self.vocab_size, ("N", "T'"), name="ts")
        if ts.shape[0] != xs.shape[0]:
            raise ValueError(f"{self.name}: xs has {xs.shape[0]} sequences, ts has {ts.shape[0]}")
        # checked once here; computed on the inputs' device (CuPy: its GPU)
        with following(xs), inside_network():
            hs, h = self._encode(xs, train)
            self.cache = tuple(hs.shape)
            return self._decode(ts, hs, h, train)

    def backward(self, dscore):
        self._need("cache")
        with following(dscore):
            return self._backward(dscore)

    def _backward(self, dscore):
        N, T, H = self.cache
        xp = namespace(dscore, where=self.name)
        dout = self.affine.backward(dscore)
        dhs = None
        if self.kind == "peeky":
            dh = xp.sum(dout[:, :, H:], axis=1)
            dout = dout[:, :, :H]
        elif self.kind == "attention":
            dhs, ddec = self.attention.backward(dout[:, :, :H])
            dout = ddec + dout[:, :, H:]
        dx = self.decoder.backward(dout)
        if self.kind == "peeky":
            dh = dh + xp.sum(dx[:, :, dx.shape[2] - H:], axis=1)
            dx = dx[:, :, :dx.shape[2] - H]
        self.dec_embed.backward(dx)
        dh = self.decoder.dh + dh if self.kind == "peeky" else self.decoder.dh
        # the last encoder state gets the gradient of the decoder's initial state
        last = xp.concat([xp.zeros((N, T - 1, H), dtype=dh.dtype, device=array_device(dh)), xp.expand_dims(dh, axis=1)],
                         axis=1)
        self.enc_embed.backward(self.encoder.backward(last if dhs is None else dhs + last))
        return None

    def generate(self, xs: Any, start_id: int, length: int) -> Any:
        """Greedy decoding: feed ``start_id``, then each step's most likely token -> ids (N, length)."""
        xp = namespace(xs, where=self.name)
        check_labels(self.name, xs, xp, self.vocab_size, ("N", "T"), name="xs")
        if not 0 <= start_id < self.vocab_size:
            raise ValueError(f"{self.name}: start_id must lie in [0, {self.vocab_size}), got {start_id}")
        with following(xs), inside_network():
            hs, h = self._encode(xs, False)
            ids = xp.full((xs.shape[0], 1), start_id, dtype=xs.dtype, device=array_device(xs))
            out = []
            for _ in range(length):
                score = self._decode(ids, hs, h, False)
                ids = xp.astype(xp.argmax(score, axis=2), xs.dtype)
                out.append(ids)
            self.decoder.reset_state()
            return xp.concat(out, axis=1)

    def __repr__(self) -> str:
        return (f"{self.name}(vocab={self.vocab_size}, wordvec={self.enc_embed.W.shape[1]}, "
                f"hidden={self.hidden_size}, decoder={self.kind!r})")
