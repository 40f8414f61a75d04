"""Layers with explicit ``forward`` / ``backward``."""

from .activations import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .attention import MultiHeadAttention, TimeAttention
from .base import Composite, Layer
from .containers import Sequential
from .conv import Conv
from .core import Affine, Flatten, MatMul
from .embedding import Embedding, TimeEmbedding
from .global_pool import GlobalAvgPool
from .lrn import LRN
from .normalization import LayerNorm
from .pooling import AvgPool, MaxPool
from .recurrent import GRU, LSTM, RNN
from .regularization import BatchNorm, Dropout
from .residual import Residual
from .time import TimeAffine
from .time_recurrent import TimeGRU, TimeLSTM, TimeRNN
from .transformer import PositionalEncoding, TransformerBlock

__all__ = [
    "Affine", "AvgPool", "BatchNorm", "Conv", "Dropout", "ELU", "Embedding", "Flatten", "GRU",
    "LRN", "LSTM", "Layer", "LeakyReLU", "LogSoftmax", "MatMul", "MaxPool", "RNN", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "Tanh", "TimeAffine", "TimeEmbedding", "TimeGRU", "TimeLSTM", "TimeRNN",
    # attention and transformers
    "Composite", "GELU", "LayerNorm", "MultiHeadAttention", "PositionalEncoding", "TimeAttention",
    "TransformerBlock",
    # residual networks
    "GlobalAvgPool", "Residual",
]
