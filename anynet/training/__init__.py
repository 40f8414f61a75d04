"""Training: the trainer, its callbacks, checkpoints and plots."""

from . import checkpoint
from .callbacks import Callback, Checkpoint, EarlyStopping, ReduceLROnPlateau
from .checkpoint import CheckpointError
from .plot import plot_history
from .plugin import StepPlugin
from .step import CompiledStep, CompileError, TrainStep, compile_step
from .tensorboard import TensorBoard
from .trainer import Trainer, TrainingDiverged

__all__ = ["Callback", "Checkpoint", "CheckpointError", "CompileError", "CompiledStep", "EarlyStopping",
           "ReduceLROnPlateau", "StepPlugin", "TrainStep", "Trainer", "TrainingDiverged", "checkpoint", "compile_step",
           "plot_history", "TensorBoard"]
