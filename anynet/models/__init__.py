"""Ready-made networks; each names its number of outputs ``output_size`` (classes or targets)."""

from .convnets import VGG, AlexNet, DeepConvNet, LeNet5, SimpleConvNet
from .mlp import MLP, TwoLayerNet
from .resnet import BasicBlock, Bottleneck, ResNet, resnet8, resnet10, resnet14, resnet18, resnet20, resnet32
from .rnn import LanguageModel, SequenceClassifier, recurrent_stack
from .seq2seq import Seq2seq
from .transformer import TransformerLM

__all__ = [
    "AlexNet", "DeepConvNet", "LanguageModel", "LeNet5", "MLP", "SequenceClassifier",
    "SimpleConvNet", "TwoLayerNet", "VGG", "recurrent_stack",
    "Seq2seq", "TransformerLM",
    "BasicBlock", "Bottleneck", "ResNet", "resnet8", "resnet10", "resnet14", "resnet18", "resnet20", "resnet32",
]
