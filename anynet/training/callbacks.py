"""Trainer callbacks: early stopping, reducing the learning rate on a plateau, periodic checkpoints.

A callback gets ``on_train_begin(trainer)``, ``on_epoch_end(trainer, epoch, logs)``
(``logs``: that epoch's Python-float metrics) and ``on_train_end(trainer)``. It
stops training by setting ``trainer.stop_reason``. Epochs whose loss is not
finite never reach ``on_epoch_end``: the trainer's guard stops first, so a
checkpoint on disk always holds the last good weights.
"""

from __future__ import annotations

import math
import os
from typing import Any

from .. import backend
from ..validation import check_bool, check_choice, check_float, check_int
from . import checkpoint

__all__ = ["Callback", "Checkpoint", "EarlyStopping", "ReduceLROnPlateau"]


class Callback:
    """Base: every hook does nothing."""

    def on_train_begin(self, trainer: Any) -> None:
        """Called when ``fit`` starts, after the data and any ``resume`` checkpoint are accepted."""
        pass

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        """Called after each finished epoch with its Python-float metrics ``logs`` (``loss``, ``val_loss``, ...)."""
        pass

    def on_train_end(self, trainer: Any) -> None:
        """Called when ``fit`` ends (also after an early stop)."""
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` (default ``"val_loss"``) has not improved by ``min_delta`` for ``patience``
    epochs; with ``restore_best``, put back the weights of the best epoch at the end."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "min", restore_best: bool = True):
        if not isinstance(monitor, str):
            raise TypeError(f"EarlyStopping: monitor must be the name of a logged value, got {monitor!r}")
        self.monitor = monitor
        self.patience = check_int("EarlyStopping", "patience", patience, 1)
        self.min_delta = check_float("EarlyStopping", "min_delta", min_delta, 0.0)
        self.mode = check_choice("EarlyStopping", "mode", mode, ("min", "max"))
        self.restore_best = check_bool("EarlyStopping", "restore_best", restore_best)

    def on_train_begin(self, trainer):
        self.best, self.best_epoch, self.wait, self.best_state = math.inf, 0, 0, None

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping: no metric {self.monitor!r} (have {sorted(logs)}); "
                           "pass val= to fit() to monitor validation metrics")
        value = logs[self.monitor] if self.mode == "min" else -logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                # a host copy: the model's own arrays are replaced, never mutated, but may live on a GPU
                self.best_state = {k: backend.to_numpy(v).copy() for k, v in trainer.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_reason = (f"early stopping: {self.monitor} did not improve for {self.patience} "
                                       f"epochs (best at epoch {self.best_epoch})")

    def on_train_end(self, trainer):
        if self.restore_best and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)


class ReduceLROnPlateau(Callback):
    """Multiply the optimizer's learning rate by ``factor`` (not below ``min_lr``) when ``monitor``
    (default ``"val_loss"``) has not improved by ``min_delta`` for ``patience`` epochs (PyTorch's
    ReduceLROnPlateau, threshold in absolute terms). The optimizer's ``lr`` must be a number.
    The rate is optimizer state, so checkpoints keep it; the count of epochs without improvement
    is read again from the trainer's history, so a resumed run reduces when the straight one
    would. List it before ``Checkpoint`` so that a checkpoint holds the reduced rate."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 min_delta: float = 0.0, mode: str = "min", min_lr: float = 0.0):
        if not isinstance(monitor, str):
            raise TypeError(f"ReduceLROnPlateau: monitor must be the name of a logged value, got {monitor!r}")
        self.monitor = monitor
        self.factor = check_float("ReduceLROnPlateau", "factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = check_int("ReduceLROnPlateau", "patience", patience, 0)
        self.min_delta = check_float("ReduceLROnPlateau", "min_delta", min_delta, 0.0)
        self.mode = check_choice("ReduceLROnPlateau", "mode", mode, ("min", "max"))
        self.min_lr = check_float("ReduceLROnPlateau", "min_lr", min_lr, 0.0)

    def on_train_begin(self, trainer):
        if callable(trainer.optimizer.lr):
            raise ValueError("ReduceLROnPlateau: the optimizer's lr is a schedule; it needs a number to reduce")
        self.best, self.wait = math.inf, 0
        for value in trainer.history.get(self.monitor, []):  # epochs done before a resume
            self._worse(value)

    def _worse(self, value: float) -> bool:
        """Count ``value``; True when it ends a plateau of ``patience`` epochs."""
        value = value if self.mode == "min" else -value
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        if self.wait > self.patience:
            self.wait = 0
            return True
        return False

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"ReduceLROnPlateau: no metric {self.monitor!r} (have {sorted(logs)}); "
                             "pass val= to fit() to monitor validation metrics")
        if self._worse(logs[self.monitor]):
            trainer.optimizer.lr = max(trainer.optimizer.lr * self.factor, self.min_lr)


class Checkpoint(Callback):
    """Save model, optimizer, trainer and RNG state to ``path`` every ``every`` epochs and at the end
    (with several processes, rank 0 writes; the file holds every rank's RNG state).

    ``path`` may hold ``{epoch}`` to keep one file per save. ``metadata`` (JSON-able)
    is stored alongside, e.g. how to rebuild the model.
    """

    def __init__(self, path: str | os.PathLike, every: int = 1, metadata: dict | None = None):
        self.every = check_int("Checkpoint", "every", every, 1)
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"Checkpoint: metadata must be a JSON-able dict, got {type(metadata).__name__}")
        self.path, self.metadata = os.fspath(path), metadata
        self.last_saved: str | None = None

    def _save(self, trainer, epoch):
        if not trainer.writes_files:  # with several processes, rank 0 writes
            self._saved_epoch = epoch
            return
        target = self.path.format(epoch=epoch)
        checkpoint.save(target, trainer.model, trainer.optimizer, trainer.state(), self.metadata)
        self.last_saved, self._saved_epoch = target, epoch

    def on_train_begin(self, trainer):
        self._saved_epoch = None

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch % self.every == 0:
            self._save(trainer, epoch)

    def on_train_end(self, trainer):
        # not after an interrupted epoch: the model holds part of it, which no epoch count describes
        if trainer.epoch and self._saved_epoch != trainer.epoch and not trainer.diverged \
                and not trainer.partial_epoch:
            self._save(trainer, trainer.epoch)
