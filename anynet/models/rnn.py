"""Recurrent nets: a many-to-one sequence classifier and a character-level language model."""

from __future__ import annotations

from typing import Any

from ..layers import Affine, Dropout, TimeAffine, TimeEmbedding, TimeGRU, TimeLSTM, TimeRNN
from ..layers.containers import Sequential
from ..validation import check_choice, check_float, check_int

__all__ = ["LanguageModel", "SequenceClassifier", "recurrent_stack"]

_CELLS = {"rnn": TimeRNN, "lstm": TimeLSTM, "gru": TimeGRU}


def recurrent_stack(input_size: int, hidden_size: int, cell: str = "lstm", layers: int = 1,
                    dropout: float = 0.0, stateful: bool = False, return_sequences: bool = True,
                    dtype: Any = None) -> list:
    """``layers`` Time layers of ``cell`` ("rnn", "lstm", "gru"), with ``Dropout(dropout)`` between
    them; only the last honours ``return_sequences``. A list, to splice into a ``Sequential``."""
    check_choice("recurrent_stack", "cell", cell, sorted(_CELLS))
    check_int("recurrent_stack", "layers", layers)
    check_float("recurrent_stack", "dropout", dropout, 0.0, 1.0, high_open=True)
    stack: list = []
    for i in range(layers):
        last = i == layers - 1
        stack.append(_CELLS[cell](input_size if i == 0 else hidden_size, hidden_size, stateful=stateful,
                                  return_sequences=return_sequences if last else True, dtype=dtype))
        if dropout and not last:
            stack.append(Dropout(dropout))
    return stack


class SequenceClassifier(Sequential):
    """Many-to-one: a stack of Time layers read the sequence, an Affine scores its last state.

    x (N, T, D) -> scores (N, output_size). For images read row by row, T = rows and
    D = columns (28 and 28 for MNIST and Fashion-MNIST).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, cell: str = "lstm",
                 layers: int = 1, dropout: float = 0.0, dtype: Any = None):
        stack = recurrent_stack(input_size, hidden_size, cell, layers, dropout,
                                return_sequences=False, dtype=dtype)
        super().__init__(*stack, Affine(hidden_size, output_size, "xavier", dtype))


class LanguageModel(Sequential):
    """Many-to-many: TimeEmbedding - [Dropout] - stacked stateful Time layers - [Dropout] - TimeAffine.

    ids (N, T) integers in [0, vocab_size) -> scores (N, T, vocab_size) for the next token;
    train with ``TimeSoftmaxWithLoss`` on the ids shifted by one, calling ``reset_state()``
    between passes over the text (truncated BPTT in between).
    """

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int, cell: str = "lstm",
                 layers: int = 1, dropout: float = 0.0, dtype: Any = None):
        stack = recurrent_stack(wordvec_size, hidden_size, cell, layers, dropout,
                                stateful=True, return_sequences=True, dtype=dtype)
        head = [TimeEmbedding(vocab_size, wordvec_size, dtype=dtype)]
        tail = [TimeAffine(hidden_size, vocab_size, "xavier", dtype)]
        if dropout:
            head.append(Dropout(dropout))
            tail.insert(0, Dropout(dropout))
        super().__init__(*head, *stack, *tail)
