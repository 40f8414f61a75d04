"""Layers with explicit ``forward`` / ``backward``."""

from .activations import ELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer
from .conv import Conv
from .core import Affine, Flatten, MatMul
from .lrn import LRN
from .pooling import AvgPool, MaxPool
from .regularization import BatchNorm, Dropout

__all__ = [
    "Affine",
    "AvgPool",
    "BatchNorm",
    "Conv",
    "Dropout",
    "ELU",
    "Flatten",
    "LRN",
    "Layer",
    "LeakyReLU",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
