"""anynet: the networks of *Deep Learning from Scratch*, written once against the
Python array API standard, running on NumPy, CuPy, PyTorch, JAX and array-api-strict."""

from . import data, functional, hooks, layers, losses, models, optimizers, schedules
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
from .losses import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    CosineProximity,
    CrossEntropy,
    Hinge,
    KLDivergence,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SigmoidWithLoss,
    SoftmaxWithLoss,
    SparseCategoricalCrossEntropy,
    SquaredHinge,
)
from .metrics import accuracy
from .time_losses import TimeSoftmaxWithLoss
from .models import MLP, TwoLayerNet
from .hooks import ClipByNorm, ClipByValue, WeightDecay
from .optimizers import GD, SGD, AdaDelta, AdaGrad, Adam, AdamW, Momentum, Nadam, Nesterov, RMSProp
from .schedules import CosineDecay, StepDecay, Warmup
from .parameter import Parameter
from .training import Trainer

__version__ = "0.1.0"

__all__ = [
    "BinaryCrossEntropy", "CategoricalCrossEntropy", "CosineProximity", "CrossEntropy", "Hinge",
    "KLDivergence", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "Poisson", "SparseCategoricalCrossEntropy", "SquaredHinge",
    "AdaDelta", "AdaGrad", "Adam", "AdamW", "GD", "Momentum", "Nadam", "Nesterov", "RMSProp",
    "ClipByNorm", "ClipByValue", "WeightDecay", "CosineDecay", "StepDecay", "Warmup", "hooks", "schedules",
    "Affine", "BatchNorm", "Device", "DeviceError", "Dropout", "ELU", "Flatten", "Layer",
    "LeakyReLU", "LogSoftmax", "MLP", "MatMul", "MeanSquaredError", "Parameter", "ReLU", "SGD",
    "Sequential", "Sigmoid", "SigmoidWithLoss", "Softmax", "SoftmaxWithLoss", "Tanh", "Trainer",
    "TwoLayerNet", "accuracy", "as_device", "current_device", "data", "debug", "device", "device_of",
    "functional", "layers", "losses", "models", "numerical_gradient", "optimizers", "seed",
    "to_device", "to_numpy",
    "Embedding", "GRU", "LSTM", "RNN", "TimeAffine", "TimeEmbedding", "TimeGRU", "TimeLSTM", "TimeRNN",
    "TimeSoftmaxWithLoss",
]
