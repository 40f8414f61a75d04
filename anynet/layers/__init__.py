"""Layers with explicit ``forward`` / ``backward``."""

from .activations import ELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer
from .core import Affine, Flatten, MatMul
from .regularization import BatchNorm, Dropout

__all__ = [
    "Affine",
    "BatchNorm",
    "Dropout",
    "ELU",
    "Flatten",
    "Layer",
    "LeakyReLU",
    "LogSoftmax",
    "MatMul",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
