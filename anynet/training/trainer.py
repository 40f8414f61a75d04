"""Training loop: full-batch, stochastic or mini-batch gradient descent on host data sets."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Iterable

from .. import backend
from ..data.dataset import DataLoader, DataSet, as_dataset
from ..metrics import accuracy
from ..validation import inside_network
from . import checkpoint
from .callbacks import Callback
from .progress import Progress

__all__ = ["Trainer", "TrainingDiverged"]


class TrainingDiverged(RuntimeWarning):
    """The training loss became NaN or Inf; the trainer stopped."""


class Trainer:
    """Trains ``model`` with ``loss`` and ``optimizer``; batches go to the model's device.

    The book's modes: ``fit(..., batch_size=None)`` is full-batch gradient
    descent, ``batch_size=1`` stochastic, anything else mini-batch; the order is
    reshuffled every epoch with the seeded host generator (``anynet.seed``) and
    the last partial batch is kept. Losses and hits stay 0-d device arrays
    within an epoch and become Python floats once per epoch, in ``history``
    (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``time``).
    ``accuracy=False`` for regression. A NaN/Inf guard stops training at the
    end of a diverged epoch, before any callback (so no checkpoint of it is written).
    """

    def __init__(self, model: Any, loss: Any, optimizer: Any, callbacks: Iterable[Callback] = (),
                 verbose: int = 1, accuracy: bool = True, report: Callable[[str], None] | None = None):
        if getattr(loss, "reduction", "mean") != "mean":
            raise ValueError(f"Trainer: the loss must average over the batch (reduction='mean'), "
                             f"got reduction={loss.reduction!r}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.callbacks = list(callbacks)
        self.verbose, self.with_accuracy, self.report = verbose, accuracy, report
        self.history: dict[str, list[float]] = {}
        self.epoch = 0
        self.stop_reason: str | None = None
        self.diverged = False

    def state(self) -> dict[str, Any]:
        """The JSON-able state a checkpoint keeps: epochs done and the history."""
        return {"epoch": self.epoch, "history": self.history}

    def load(self, path: Any) -> dict[str, Any]:
        """Restore model, optimizer, RNG, epoch count and history from a checkpoint; returns its metadata."""
        meta = checkpoint.load(path, self.model, self.optimizer)
        self.epoch = int(meta["trainer"].get("epoch", 0))
        self.history = {k: list(v) for k, v in meta["trainer"].get("history", {}).items()}
        return meta

    def _metrics(self, y: Any, t: Any, value: Any, n: int) -> tuple[Any, Any]:
        return value * n, (accuracy(y, t) * n if self.with_accuracy else None)

    def fit(self, train: Any, val: Any = None, epochs: int = 1, batch_size: int | None = 100,
            shuffle: bool = True, resume: Any = None) -> dict[str, list[float]]:
        """Train until ``epochs`` epochs are done in total; returns ``history``.

        ``train`` and ``val`` are DataSets or ``(x, t)`` pairs of host arrays
        (``fit(x, t)`` is read as ``fit((x, t))``). ``resume``: a checkpoint path
        to continue from exactly (model, optimizer, RNG, epoch, history).
        """
        if val is not None and not isinstance(val, (DataSet, tuple, list)) and not isinstance(train, (DataSet, tuple, list)):
            train, val = (train, val), None
        train = as_dataset(train, "train")
        val = None if val is None else as_dataset(val, "val")
        if resume is not None:
            self.load(resume)
        if self.epoch >= epochs:
            warnings.warn(f"Trainer.fit: {self.epoch} epochs are done already and epochs={epochs} counts "
                          "the total, so there is nothing to train; pass a larger epochs", stacklevel=2)
        # both loaders keep their data on the model's device for the whole fit when it fits there
        loader = DataLoader(train, batch_size, shuffle=shuffle, device=self.model.device)
        self._labels = _label_range(getattr(self.loss, "ignore_label", None), train, val)
        _check_ids(self.model, train, val)
        val = None if val is None else DataLoader(val, 1000, shuffle=False, device=self.model.device)
        progress = Progress(self.verbose, self.report)
        self.stop_reason, self.diverged = None, False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            # the model's device is current, so arrays the maths creates are born beside it
            with backend.device(self.model.device):
                while self.epoch < epochs and self.stop_reason is None:
                    self._epoch(loader, val, epochs, progress)
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)
        if self.stop_reason and not self.diverged:
            progress.message(self.stop_reason)
        return self.history

    def _epoch(self, loader: DataLoader, val: DataLoader | None, epochs: int, progress: Progress) -> None:
        epoch = self.epoch + 1
        n = len(loader.data)
        start = time.perf_counter()
        progress.epoch_begin(epoch, epochs, n)
        self.model.train()
        total_loss, total_hits, seen = 0.0, 0.0, 0
        for xb, tb in self._batches(loader):
            # the data was checked on the host where it entered (DataSet); inside the loop only
            # the once-per-epoch guard reads values, so a diverging run stops cleanly below
            with inside_network():
                y = self.model.forward(xb, train=True)
                if self._labels is not None:
                    self._check_labels(y)
                value = self.loss.forward(y, tb)
            self.model.backward(self.loss.backward())
            self.optimizer.update(self.model.params)
            loss_sum, hits = self._metrics(y, tb, value, xb.shape[0])
            total_loss = total_loss + loss_sum
            total_hits = total_hits + hits if hits is not None else total_hits
            seen += xb.shape[0]
            progress.step(xb.shape[0], lambda: float(total_loss) / seen)
        logs = {"loss": float(total_loss) / n}
        if self.with_accuracy:
            logs["accuracy"] = float(total_hits) / n
        elapsed = time.perf_counter() - start
        if not math.isfinite(logs["loss"]):
            self.diverged = True
            self.stop_reason = (f"training diverged: the loss became {logs['loss']} in epoch {epoch}; "
                                "stopped (lower the learning rate); checkpoints keep the last good epoch")
            progress.epoch_end(self.stop_reason)
            warnings.warn(self.stop_reason, TrainingDiverged, stacklevel=3)
            return
        if val is not None:
            logs["val_loss"], val_acc = self._evaluate(val)
            if self.with_accuracy:
                logs["val_accuracy"] = val_acc
        logs["time"] = elapsed
        self.epoch = epoch
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        text = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "time")
        progress.epoch_end(f"epoch {epoch}/{epochs}  {text}  {n / elapsed:,.0f} samples/s", epoch, epochs)
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, logs)

    def _check_labels(self, y: Any) -> None:
        # class indices t (N, ...) index the last axis of scores y (N, ..., C): checked once, on the
        # host, as CuPy wraps out-of-range indices around where NumPy raises
        lo, hi, ndim = self._labels
        self._labels = None
        C = y.shape[-1]
        if y.ndim == ndim + 1 and (lo < 0 or hi >= C):
            raise ValueError(f"Trainer: labels must lie in [0, {C}) for a model with {C} "
                             f"outputs, the data holds values in [{lo}, {hi}]")

    def _batches(self, loader: DataLoader):
        """The loader's batches; a stateful model restarts its state at the first batch and
        whenever the batch size changes (a carried state cannot continue into it)."""
        size = None
        for xb, tb in loader:
            if xb.shape[0] != size:
                self._reset_state()
                size = xb.shape[0]
            yield xb, tb

    def _reset_state(self) -> None:
        # A stateful recurrent model carries its hidden state between calls (train it with
        # shuffle=False); an epoch or an evaluation starts from a fresh state and leaves none behind.
        reset = getattr(self.model, "reset_state", None)
        if reset is not None:
            reset()

    def evaluate(self, data: Any, t: Any = None, batch_size: int = 1000) -> tuple[float, float]:
        """Mean loss and accuracy (NaN with ``accuracy=False``) over ``data`` in inference mode."""
        data = as_dataset((data, t) if t is not None else data, "evaluate")
        return self._evaluate(DataLoader(data, batch_size, shuffle=False, device=self.model.device))

    def _evaluate(self, loader: DataLoader) -> tuple[float, float]:
        total_loss, total_hits = 0.0, 0.0
        with backend.device(self.model.device):
            for xb, tb in self._batches(loader):
                y = self.model.predict(xb)
                loss_sum, hits = self._metrics(y, tb, self.loss.forward(y, tb), xb.shape[0])
                total_loss = total_loss + loss_sum
                total_hits = total_hits + hits if hits is not None else total_hits
        self._reset_state()
        n = len(loader.data)
        return float(total_loss) / n, (float(total_hits) / n if self.with_accuracy else math.nan)


def _label_range(ignore: int | None, *sets: DataSet | None) -> tuple[int, int, int] | None:
    """(min, max, ndim) of integer class labels of any shape over the host data sets (the loss's
    ignore label left out), read once before training."""
    labels = [d.t for d in sets if d is not None and d.t.dtype.kind in "iu"]
    labels = [t if ignore is None else t[t != ignore] for t in labels]
    if not any(t.size for t in labels):
        return None
    return (min(int(t.min()) for t in labels if t.size), max(int(t.max()) for t in labels if t.size),
            sets[0].t.ndim)


def _check_ids(model: Any, *sets: DataSet | None) -> None:
    """Integer inputs (embedding ids, any shape) against the rows of the model's first layer,
    on the host before training."""
    n_ids = getattr(model, "input_ids", None)
    for d in sets:
        if n_ids is not None and d is not None and d.x.dtype.kind in "iu" and d.x.size:
            lo, hi = int(d.x.min()), int(d.x.max())
            if lo < 0 or hi >= n_ids:
                raise ValueError(f"Trainer: ids must lie in [0, {n_ids}) for a model whose embedding has "
                                 f"{n_ids} rows, the {d.name} data holds values in [{lo}, {hi}]")
