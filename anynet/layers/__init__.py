"""Layers with explicit ``forward`` / ``backward``."""

from .activations import ELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer
from .core import Affine, Flatten, MatMul
from .embedding import Embedding, TimeEmbedding
from .recurrent import GRU, LSTM, RNN
from .regularization import BatchNorm, Dropout
from .time import TimeAffine
from .time_recurrent import TimeGRU, TimeLSTM, TimeRNN

__all__ = [
    "Affine",
    "BatchNorm",
    "Dropout",
    "ELU",
    "Embedding",
    "Flatten",
    "GRU",
    "LSTM",
    "Layer",
    "LeakyReLU",
    "LogSoftmax",
    "MatMul",
    "RNN",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TimeAffine",
    "TimeEmbedding",
    "TimeGRU",
    "TimeLSTM",
    "TimeRNN",
]
