"""TensorBoard event files from a training run (the ``tensorboardX`` writer, extra ``tensorboard``)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from ..validation import check_int
from .callbacks import Callback
from .checkpoint import _to_host as to_host

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Write each epoch's figures to a TensorBoard event file in ``logdir`` (``tensorboard --logdir DIR``).

    Scalars per epoch, at step = the epoch number: ``loss``, ``accuracy``, ``val_loss``,
    ``val_accuracy`` (those the trainer logs), ``time`` (seconds) and ``lr`` (the rate of the epoch's
    last update: a schedule's value at it, or a numeric ``lr`` as it stands when this callback runs, so
    list it before ``ReduceLROnPlateau``). With ``histograms=N``, every N epochs also the histogram of
    every parameter and buffer (``weights/<state_dict name>``) and of every parameter's last gradient
    (``grads/<name>``). With several processes only rank 0 writes (the figures are the reduced ones).

    **Arguments:**

    - ``logdir``: the folder of the event files (created when missing; one file per run).
    - ``histograms``: epochs between histograms; 0 (default) writes none.
    - ``flush_secs``: how often the writer flushes at most (it also flushes at every epoch's end).

    Needs ``tensorboardX`` (``pip install 'anynet[tensorboard]'``): an ImportError when the callback is
    built without it.
    """

    def __init__(self, logdir: str | os.PathLike, histograms: int = 0, flush_secs: int = 120):
        if not isinstance(logdir, (str, os.PathLike)):
            raise TypeError(f"TensorBoard: logdir must be a path, got {type(logdir).__name__}")
        self.logdir = os.fspath(logdir)
        self.histograms = check_int("TensorBoard", "histograms", histograms, 0)
        self.flush_secs = check_int("TensorBoard", "flush_secs", flush_secs, 1)
        if importlib.util.find_spec("tensorboardX") is None:  # said here, before a run starts
            raise ImportError("TensorBoard: needs tensorboardX (pip install 'anynet[tensorboard]')")
        self.writer: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        if not trainer.writes_files:  # several processes: rank 0 writes
            return
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(self.logdir, flush_secs=self.flush_secs)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        if self.writer is None:
            return
        for key, value in logs.items():
            self.writer.add_scalar(key, value, epoch)
        opt = trainer.optimizer
        lr = opt.lr(max(opt.iterations - 1, 0)) if callable(opt.lr) else opt.lr
        self.writer.add_scalar("lr", float(lr), epoch)
        if self.histograms and epoch % self.histograms == 0:
            self._histograms(trainer.model, epoch)
        self.writer.flush()

    def _histograms(self, model: Any, epoch: int) -> None:
        params = {id(p.data): p for p in model.params}
        for key, value in model.state_dict().items():
            self.writer.add_histogram(f"weights/{key}", to_host(value, {}, key), epoch)  # bfloat16 widened
            p = params.get(id(value))
            if p is not None and p.grad is not None:
                self.writer.add_histogram(f"grads/{key}", to_host(p.grad, {}, key), epoch)

    def on_train_end(self, trainer: Any) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
