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
    LRN,
    Affine,
    AvgPool,
    BatchNorm,
    Conv,
    Dropout,
    Flatten,
    Layer,
    LeakyReLU,
    LogSoftmax,
    MatMul,
    MaxPool,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .losses import MeanSquaredError, SigmoidWithLoss, SoftmaxWithLoss
from .metrics import accuracy
from .models import MLP, VGG, AlexNet, DeepConvNet, LeNet5, SimpleConvNet, TwoLayerNet
from .optimizers import SGD
from .parameter import Parameter
from .training import Trainer

__version__ = "0.1.0"

__all__ = [
    "AlexNet", "DeepConvNet", "LeNet5", "SimpleConvNet", "VGG",
    "Affine", "AvgPool", "BatchNorm", "Conv", "LRN", "MaxPool", "Device", "DeviceError", "Dropout", "ELU", "Flatten", "Layer",
    "LeakyReLU", "LogSoftmax", "MLP", "MatMul", "MeanSquaredError", "Parameter", "ReLU", "SGD",
    "Sequential", "Sigmoid", "SigmoidWithLoss", "Softmax", "SoftmaxWithLoss", "Tanh", "Trainer",
    "TwoLayerNet", "accuracy", "as_device", "current_device", "data", "debug", "device", "device_of",
    "functional", "layers", "losses", "models", "numerical_gradient", "optimizers", "seed",
    "to_device", "to_numpy",
]
