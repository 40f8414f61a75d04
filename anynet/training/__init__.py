"""Training: the trainer, its callbacks, checkpoints and plots."""

from . import checkpoint
from .callbacks import Callback, Checkpoint, EarlyStopping, ReduceLROnPlateau
from .checkpoint import CheckpointError
from .plot import plot_history
from .trainer import Trainer, TrainingDiverged

__all__ = ["Callback", "Checkpoint", "CheckpointError", "EarlyStopping", "ReduceLROnPlateau", "Trainer",
           "TrainingDiverged", "checkpoint", "plot_history"]
