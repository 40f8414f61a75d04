"""Ready-made networks."""

from .mlp import MLP, TwoLayerNet

__all__ = ["MLP", "TwoLayerNet"]
