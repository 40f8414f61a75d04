"""Training: the trainer, its callbacks, checkpoints and plots."""

from . import checkpoint
from .callbacks import Callback, Checkpoint, EarlyStopping
from .checkpoint import CheckpointError
from .plot import plot_history
from .trainer import Trainer, TrainingDiverged

__all__ = ["Callback", "Checkpoint", "CheckpointError", "EarlyStopping", "Trainer", "TrainingDiverged",
           "checkpoint", "plot_history"]
