"""``anynet train``: the run's frozen description (``TrainRun``), built once from the arguments with
every default resolved, and the run itself."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import inspect
import json
import os
from typing import Any

from .. import backend
from ..data import DataSet, data_spec, train_val_split
from ..data.augment import named as named_augment
from ..data.augment import views as named_views
from ..files import atomic_write
from ..losses import SoftmaxWithLoss
from ..training import Callback, Checkpoint, ReduceLROnPlateau, Trainer, TrainingDiverged, parallel, plot_history
from ..training.tensorboard import TensorBoard
from ..validation import check_float
from .build import OPTIMIZERS, ModelSpec, build_schedule, load_data
from .options import UsageError, available, check_augment, check_train_flags, check_tta, pick

__all__ = ["TrainRun", "execute"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainRun:
    """Everything ``anynet train`` does, decided before it starts (see ``anynet train --help``).

    **Arguments:**

    - ``model``: the network (``ModelSpec``, which names the data set).
    - ``batch_size``: None for full-batch (``--batch-size 0``).
    - ``checkpoint_every``: epochs between checkpoints.
    - ``download``: False with ``--no-download``.
    - the other fields: the flags of the same names, with the data set's defaults filled in.
    """

    model: ModelSpec
    device: str
    epochs: int
    batch_size: int | None
    optimizer: str
    lr: float
    schedule: str
    augment: str | None
    label_smoothing: float
    val_fraction: float
    limit: int | None
    seed: int
    precision: str
    out: str
    checkpoint_every: int
    resume: str | None
    data_dir: str | None
    download: bool
    verbose: int
    compile: bool
    tensorboard: str | None = None
    prefetch: int = 0
    weight_decay: float | None = None
    tta: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainRun:
        """The run ``args`` (parsed ``train`` arguments, left unchanged) asks for.

        **Returns:** the TrainRun; a ValueError naming the flag for a value out of range or a
        combination that cannot run.
        """
        check_train_flags(args)
        data = data_spec(args.data)
        check_augment(args.augment, args.model, data.images, args.data)
        model = ModelSpec.of(args.model, args.data, args.hidden, args.layers, args.batchnorm, args.dropout,
                             args.width)
        check_tta(args.tta, model.flat, data.images)
        default = data.defaults
        epochs = pick(args.epochs, default.epochs)
        val_fraction = pick(args.val_fraction, default.val_fraction)
        if args.schedule == "plateau" and not val_fraction:
            raise UsageError("--schedule plateau follows the validation loss: give --val-fraction above 0")
        return cls(model=model, device=args.device, epochs=epochs,
                   batch_size=pick(args.batch_size, default.batch_size) or None, optimizer=args.optimizer,
                   lr=pick(args.lr, default.lr), schedule=args.schedule, augment=args.augment,
                   label_smoothing=args.label_smoothing, val_fraction=val_fraction, limit=args.limit,
                   seed=args.seed, precision=args.precision,
                   out=args.out or os.path.join("runs", f"{_folder_name(args.data)}-{args.model}"),
                   checkpoint_every=args.checkpoint_every or max(1, epochs // 10), resume=args.resume,
                   data_dir=args.data_dir, download=not args.no_download, verbose=args.verbose,
                   compile=args.compile, tensorboard=args.tensorboard, prefetch=args.prefetch,
                   weight_decay=_weight_decay(args.optimizer, args.weight_decay), tta=args.tta)

    @property
    def checkpoint(self) -> str:
        """The checkpoint's path, in ``out``."""
        return os.path.join(self.out, "checkpoint.npz")

    def metadata(self) -> dict[str, Any]:
        """What the checkpoint keeps of the run: the model, and how it was trained."""
        return {**self.model.metadata(), "optimizer": self.optimizer, "lr": self.lr, "schedule": self.schedule,
                "label_smoothing": self.label_smoothing, "augment": self.augment, "batch_size": self.batch_size,
                "seed": self.seed, "precision": self.precision, "weight_decay": self.weight_decay}


def execute(run: TrainRun, group: parallel.Group | None = None) -> int:
    """Train as ``run`` says, write the checkpoint, the history and its plot, and report the test
    accuracy (with several processes, ``group``: rank 0 speaks and writes).

    **Returns:** the exit status, 0; a refused run raises before anything is written.
    """
    group = group or parallel.Group()
    available(run.device, run.precision)
    backend.seed(run.seed)
    train_set, val, test = _data(run, group)
    augment = named_augment(run.augment, run.model.data) if run.augment else None
    if group.is_root:
        os.makedirs(run.out, exist_ok=True)
    updates = run.epochs * -(-len(train_set) // (run.batch_size or len(train_set)))
    with backend.device(group.device(run.device)) as dev:
        trainer = _trainer(run, group, updates)
        if group.is_root:  # first of the callbacks: said once fit has accepted the data and any --resume
            trainer.callbacks.insert(0, _Banner(_header(run, trainer, dev, group, len(train_set)), _overwrites(run)))
        try:
            trainer.fit(train_set, val, epochs=run.epochs, batch_size=run.batch_size, augment=augment,
                        resume=run.resume, prefetch=run.prefetch)
        except TrainingDiverged:
            if group.is_root:
                _write_history(trainer.history, run.out)
            raise
        scores = [trainer.evaluate(test)]
        if run.tta:
            scores.append(trainer.evaluate(test, tta=named_views(run.tta)))
    if group.is_root:
        _report(run, trainer, scores)
    return 0


def _folder_name(data: str) -> str:
    """A data set's name, or the last part of a data folder's path, as the run folder names it."""
    return os.path.basename(os.path.normpath(data))


def _data(run: TrainRun, group: parallel.Group) -> tuple[DataSet, DataSet | None, DataSet]:
    """(train, validation or None, test) as the run asks; rank 0 loads first (it may download)."""
    if not group.is_root:
        group.share(None)  # wait until rank 0 has the files
    train_set, test = load_data(run.model.data, run.model.flat, run.data_dir, run.download)
    if group.is_root and group.size > 1:
        group.share(None)
    if run.limit:
        train_set = train_set.subset(slice(0, run.limit))
    val = None
    if run.val_fraction:
        train_set, val = train_val_split(train_set, run.val_fraction)
    return train_set, val, test


def _weight_decay(optimizer: str, value: float | None) -> float | None:
    """``--weight-decay``, checked: a rate of at least 0, for an optimizer that takes one."""
    if value is None:
        return None
    check_float("train", "--weight-decay", value, 0.0)
    if "weight_decay" not in inspect.signature(OPTIMIZERS[optimizer]).parameters:
        have = ", ".join(n for n, cls in OPTIMIZERS.items() if "weight_decay" in inspect.signature(cls).parameters)
        raise UsageError(f"--weight-decay: optimizer {optimizer!r} has no weight_decay ({have} have)")
    return value


def _trainer(run: TrainRun, group: parallel.Group, updates: int) -> Trainer:
    """The model, optimizer, callbacks and Trainer of ``run``, on the current device."""
    model = run.model.build()
    decay = {} if run.weight_decay is None else {"weight_decay": run.weight_decay}
    optimizer = OPTIMIZERS[run.optimizer](lr=build_schedule(run.schedule, run.lr, updates), **decay)
    callbacks: list[Any] = [Checkpoint(run.checkpoint, every=run.checkpoint_every, metadata=run.metadata())]
    if run.schedule == "plateau":  # before the checkpoint, which then keeps the lowered rate
        callbacks.insert(0, ReduceLROnPlateau(factor=0.5, patience=1))
    if run.tensorboard:  # first: it logs the rate each epoch used, before a plateau lowers it
        callbacks.insert(0, TensorBoard(run.tensorboard))
    return Trainer(model, SoftmaxWithLoss(label_smoothing=run.label_smoothing), optimizer, verbose=run.verbose,
                   callbacks=callbacks, compile=run.compile, group=group, precision=run.precision)


class _Banner(Callback):
    """Prints the run's header line (and a note that the run replaces an earlier one) when training starts."""

    def __init__(self, header: str, note: str | None):
        self.lines = [header] + ([note] if note else [])

    def on_train_begin(self, trainer: Trainer) -> None:
        print("\n".join(self.lines), flush=True)


def _overwrites(run: TrainRun) -> str | None:
    """A note when ``run.out`` already holds a checkpoint that this run (not resuming it) replaces."""
    if not os.path.exists(run.checkpoint):
        return None
    if run.resume and os.path.exists(run.resume) and os.path.samefile(run.resume, run.checkpoint):
        return None
    return (f"note: {run.out} holds an earlier run; its checkpoint, history and plot are replaced "
            "(--out DIR keeps both, --resume continues it)")


def _header(run: TrainRun, trainer: Trainer, dev: backend.Device, group: parallel.Group, samples: int) -> str:
    how = ", compiled" if run.compile else ""
    where = dev.name if group.size == 1 else f"{group.size} processes ({dev.name} on rank 0)"
    per = "" if group.size == 1 else " per process"
    return (f"training {run.model.name} on {run.model.data} ({samples} samples) on {where}{how}: "
            f"{run.epochs} epochs, batch {run.batch_size or 'full'}{per}, {run.optimizer} lr {run.lr}, "
            f"{trainer.precision.name}")


def _report(run: TrainRun, trainer: Trainer, scores: list[tuple[float, float]]) -> None:
    """Write the history and its plot; say what was written, why the run stopped early, the test
    results (``scores``: the test loss and accuracy, then those with ``--tta``'s views if given)."""
    _write_history(trainer.history, run.out)
    written = [run.checkpoint, os.path.join(run.out, "history.csv"), os.path.join(run.out, "history.json")]
    try:
        written.append(plot_history(trainer.history, os.path.join(run.out, "learning_curve.png"),
                                    f"{run.model.name} on {run.model.data}"))
    except ImportError as err:
        print(f"note: no learning-curve plot ({err})")
    print(f"wrote {', '.join(written)}")
    if trainer.stop_reason:
        print(f"stopped early: {trainer.stop_reason}")
    print(test_line(scores, run.tta))


def test_line(scores: list[tuple[float, float]], tta: str | None) -> str:
    """"test loss L, test accuracy A", then the same with ``tta``'s views averaged where given
    (``scores``: the plain (loss, accuracy), then the averaged one)."""
    line = f"test loss {scores[0][0]:.4f}, test accuracy {scores[0][1]:.2%}"
    if tta:
        line += f"; with --tta {tta} (views averaged): test loss {scores[1][0]:.4f}, test accuracy {scores[1][1]:.2%}"
    return line


def _write_history(history: dict[str, list[float]], out: str) -> None:
    with atomic_write(os.path.join(out, "history.json"), "w") as f:
        json.dump(history, f, indent=1)
    keys = list(history)
    with atomic_write(os.path.join(out, "history.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *keys])
        for i in range(len(history[keys[0]]) if keys else 0):
            w.writerow([i + 1, *(history[k][i] for k in keys)])
