"""Ready-made networks."""

from .mlp import MLP, TwoLayerNet
from .rnn import LanguageModel, SequenceClassifier, recurrent_stack

__all__ = ["LanguageModel", "MLP", "SequenceClassifier", "TwoLayerNet", "recurrent_stack"]
