"""anynet: the networks of *Deep Learning from Scratch*, written once against the
Python array API standard, running on NumPy, CuPy, PyTorch, JAX and array-api-strict."""

from . import data, functional, layers, losses, models, optimizers
from .backend import (
    Device,
    DeviceError,
    as_device,
    current_device,
    device,
    device_of,
    seed,
    to_device,
    to_numpy,
)
from .checks import debug
from .containers import Sequential
from .gradcheck import numerical_gradient
from .layers import (
    ELU,
    Affine,
    BatchNorm,
    Dropout,
    Flatten,
    Layer,
    LeakyReLU,
    LogSoftmax,
    MatMul,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .layers import GRU, LSTM, RNN, Embedding, TimeAffine, TimeEmbedding, TimeGRU, TimeLSTM, TimeRNN
from .losses import MeanSquaredError, SigmoidWithLoss, SoftmaxWithLoss
from .metrics import accuracy
from .time_losses import TimeSoftmaxWithLoss
from .models import MLP, TwoLayerNet
from .optimizers import SGD
from .parameter import Parameter
from .training import Trainer

__version__ = "0.1.0"

__all__ = [
    "Affine", "BatchNorm", "Device", "DeviceError", "Dropout", "ELU", "Flatten", "Layer",
    "LeakyReLU", "LogSoftmax", "MLP", "MatMul", "MeanSquaredError", "Parameter", "ReLU", "SGD",
    "Sequential", "Sigmoid", "SigmoidWithLoss", "Softmax", "SoftmaxWithLoss", "Tanh", "Trainer",
    "TwoLayerNet", "accuracy", "as_device", "current_device", "data", "debug", "device", "device_of",
    "functional", "layers", "losses", "models", "numerical_gradient", "optimizers", "seed",
    "to_device", "to_numpy",
    "Embedding", "GRU", "LSTM", "RNN", "TimeAffine", "TimeEmbedding", "TimeGRU", "TimeLSTM", "TimeRNN",
    "TimeSoftmaxWithLoss",
]
