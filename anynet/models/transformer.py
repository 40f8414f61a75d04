"""A small decoder-only Transformer language model, trained like ``LanguageModel``."""

from __future__ import annotations

from typing import Any

from ..layers import Dropout, LayerNorm, TimeAffine, TimeEmbedding
from ..layers.containers import Sequential
from ..layers.transformer import PositionalEncoding, TransformerBlock

__all__ = ["TransformerLM"]


class TransformerLM(Sequential):
    """TimeEmbedding - PositionalEncoding - [Dropout] - causal TransformerBlocks - LayerNorm - TimeAffine.

    ids (N, T) integers in [0, vocab_size), T <= ``max_len`` -> scores (N, T, vocab_size)
    for the next token, each position seeing itself and the positions before it. Train
    with ``TimeSoftmaxWithLoss`` on the ids shifted by one, as ``LanguageModel``; it holds
    no state between batches (``reset_state`` does nothing), so its context is one batch's T.
    ``positional``: "sinusoidal" (fixed) or "learned". Radford et al. (GPT-2),
    https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf
    """

    def __init__(self, vocab_size: int, embed_size: int = 64, num_heads: int = 4, layers: int = 2,
                 max_len: int = 256, hidden_size: int | None = None, dropout: float = 0.0,
                 positional: str = "sinusoidal", dtype: Any = None):
        if positional not in ("sinusoidal", "learned"):
            raise ValueError(f"TransformerLM: positional must be 'sinusoidal' or 'learned', got {positional!r}")
        if layers < 1:
            raise ValueError(f"TransformerLM: layers must be at least 1, got {layers}")
        learned = positional == "learned"
        # Token vectors of unit scale beside the sinusoids (whose entries are of unit scale too);
        # with a learned table both start small, as in GPT-2.
        stack: list = [TimeEmbedding(vocab_size, embed_size, weight_init=0.02 if learned else 1.0, dtype=dtype),
                       PositionalEncoding(max_len, embed_size, learned=learned, dtype=dtype)]
        if dropout:
            stack.append(Dropout(dropout))
        stack += [TransformerBlock(embed_size, num_heads, hidden_size, causal=True, dropout=dropout, dtype=dtype)
                  for _ in range(layers)]
        stack += [LayerNorm(embed_size, dtype=dtype), TimeAffine(embed_size, vocab_size, "xavier", dtype)]
        super().__init__(*stack)
