"""Ready-made networks."""

from .convnets import VGG, AlexNet, DeepConvNet, LeNet5, SimpleConvNet
from .mlp import MLP, TwoLayerNet

__all__ = ["AlexNet", "DeepConvNet", "LeNet5", "MLP", "SimpleConvNet", "TwoLayerNet", "VGG"]
