"""anynet: the networks of *Deep Learning from Scratch*, written once against the
Python array API standard, running on NumPy, CuPy, PyTorch, JAX and array-api-strict."""

from . import data, export, functional, kernels, layers, losses, models, optim, training
from .backend import Device, DeviceError, as_device, current_device, device, device_of, seed, to_device, to_numpy
from .config import RunConfig, configure
from .layers import (
    ELU,
    GELU,
    GRU,
    LRN,
    LSTM,
    RNN,
    Affine,
    AvgPool,
    BatchNorm,
    Composite,
    Conv,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool,
    Layer,
    LayerNorm,
    LeakyReLU,
    LogSoftmax,
    MatMul,
    MaxPool,
    MultiHeadAttention,
    PositionalEncoding,
    ReLU,
    Residual,
    Sigmoid,
    Softmax,
    Tanh,
    TimeAffine,
    TimeAttention,
    TimeEmbedding,
    TimeGRU,
    TimeLSTM,
    TimeRNN,
    TransformerBlock,
)
from .layers.containers import Sequential
from .losses import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    CosineProximity,
    CrossEntropy,
    FocalLoss,
    Hinge,
    Huber,
    KLDivergence,
    Loss,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SigmoidWithLoss,
    SoftmaxWithLoss,
    SparseCategoricalCrossEntropy,
    SquaredHinge,
    TimeSoftmaxWithLoss,
)
from .metrics import accuracy
from .models import (
    MLP,
    VGG,
    AlexNet,
    DeepConvNet,
    LanguageModel,
    LeNet5,
    ResNet,
    Seq2seq,
    SequenceClassifier,
    SimpleConvNet,
    TransformerLM,
    TwoLayerNet,
)
from .optim import (
    LAMB,
    SGD,
    AdaDelta,
    AdaGrad,
    Adam,
    AdamW,
    Lion,
    Momentum,
    Nadam,
    Nesterov,
    Optimizer,
    RAdam,
    RMSProp,
)
from .optim.hooks import ClipByNorm, ClipByValue, WeightDecay
from .optim.schedules import CosineDecay, OneCycle, StepDecay, Warmup
from .parameter import Parameter
from .testing.gradcheck import numerical_gradient
from .training import CheckpointError, Trainer, TrainingDiverged, compile_step, parallel
from .training.precision import LossScaler, Precision
from .validation import debug
from .weights import load_weights, save_weights

__version__ = "0.1.0"

__all__ = [
    # backend and validation
    "Device", "DeviceError", "RunConfig", "as_device", "configure", "current_device", "debug", "device",
    "device_of", "seed",
    "to_device", "to_numpy", "numerical_gradient", "LossScaler", "Precision",
    # layers and containers
    "Affine", "AvgPool", "BatchNorm", "Conv", "Dropout", "ELU", "Embedding", "Flatten", "GRU", "LRN",
    "LSTM", "Layer", "LeakyReLU", "LogSoftmax", "MatMul", "MaxPool", "Parameter", "RNN", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "Tanh", "TimeAffine", "TimeEmbedding", "TimeGRU", "TimeLSTM",
    "TimeRNN",
    # attention and transformers
    "Composite", "GELU", "LayerNorm", "MultiHeadAttention", "PositionalEncoding", "TimeAttention",
    "TransformerBlock",
    # residual networks
    "GlobalAvgPool", "Residual", "ResNet",
    # losses and metrics
    "BinaryCrossEntropy", "CategoricalCrossEntropy", "Loss", "CosineProximity", "CrossEntropy", "FocalLoss",
    "Hinge", "Huber",
    "KLDivergence", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "Poisson", "SigmoidWithLoss", "SoftmaxWithLoss",
    "SparseCategoricalCrossEntropy", "SquaredHinge", "TimeSoftmaxWithLoss", "accuracy",
    # optimizers, hooks, schedules
    "AdaDelta", "AdaGrad", "Adam", "AdamW", "LAMB", "Lion", "Optimizer", "RAdam", "Momentum", "Nadam",
    "Nesterov", "RMSProp", "SGD",
    "ClipByNorm", "ClipByValue", "WeightDecay", "CosineDecay", "OneCycle", "StepDecay", "Warmup",
    # models and training
    "AlexNet", "DeepConvNet", "LanguageModel", "LeNet5", "MLP", "SequenceClassifier", "SimpleConvNet",
    "TwoLayerNet", "VGG", "CheckpointError", "Trainer", "TrainingDiverged", "Seq2seq", "TransformerLM", "compile_step",
    "load_weights", "save_weights",
    # submodules
    "data", "export", "functional", "kernels", "layers", "losses", "models", "optim", "parallel", "training",
]
