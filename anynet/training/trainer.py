"""Training loop: full-batch, stochastic or mini-batch gradient descent on host data sets."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Iterable, Sequence

from .. import backend
from ..data.dataset import DataLoader, DataSet, as_dataset
from ..metrics import accuracy
from ..optim.schedules import Schedule
from ..validation import check_bool, check_int, inside_network
from . import checkpoint
from .callbacks import Callback
from .data_checks import check_ids, check_label_range
from .parallel import DataParallel, Group
from .precision import as_precision
from .progress import Progress
from .step import CompiledStep, CompileError, TrainStep
from .tta import averaged, check_views

__all__ = ["Trainer", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or Inf: ``fit`` stopped before that epoch counted
    (no callback saw it, so no checkpoint of it was written) and raised this."""


class Trainer:
    """Trains ``model`` with ``loss`` and ``optimizer``; batches go to the model's device.

    The book's modes: ``fit(..., batch_size=None)`` is full-batch gradient
    descent, ``batch_size=1`` stochastic, anything else mini-batch; the order is
    reshuffled every epoch with the seeded host generator (``anynet.seed``) and
    the last partial batch is kept. Losses and hits stay 0-d device arrays
    within an epoch and become Python floats once per epoch, in ``history``
    (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``time``).
    ``accuracy=False`` for regression. A NaN/Inf guard stops training at the
    end of a diverged epoch, before any callback (so no checkpoint of it is
    written), and raises ``TrainingDiverged``.
    ``streams``: the ``anynet.backend.RandomStreams`` its runs draw from and its checkpoints save
    (default: those in use where the trainer is built, the process's unless inside
    ``anynet.backend.use_streams``).
    ``precision``: "float32", "float64", "float16", "bfloat16" or an ``anynet.Precision``
    (default: the model's dtype, float32 or float64); the
    model is brought to it when training starts, and batches are cast to its compute dtype.

    ``fit`` and ``evaluate`` check all they can before anything changes (data not
    empty, one inference-mode probe of the model and loss on one sample of each
    set, labels within the model's outputs): a refused call leaves the model,
    its running statistics, the optimizer and the generators as they were.
    Every batch runs one ``TrainStep`` (forward, loss, backward, hooks, update, metric sums);
    ``compile=True`` runs that same step compiled (``jax.jit`` on JAX, ``torch.compile`` on
    PyTorch; see ``anynet.compile_step``); NumPy, CuPy and array-api-strict refuse it.

    ``group`` (``anynet.parallel.init()`` under ``mpiexec``): data-parallel training over its
    processes. ``fit`` checks that every rank has the same model and data, broadcasts rank 0's
    parameters and buffers, and gives each rank a disjoint shard of the same seeded permutation;
    ``batch_size`` is per process, so the global batch is ``batch_size * size`` (scale the
    learning rate with it, e.g. linearly with a warm-up, Goyal et al. 2017). Gradients are
    averaged over the global batch in one all-reduce per step before the optimizer's hooks;
    metrics are reduced once per epoch, running statistics averaged at each epoch's end; only
    rank 0 prints and writes checkpoints; ``fit`` and ``evaluate`` are collective (every rank
    calls them). An exception on one rank stops every rank (MPI Abort), naming the rank.
    """

    def __init__(self, model: Any, loss: Any, optimizer: Any, callbacks: Iterable[Callback] = (),
                 verbose: int = 1, accuracy: bool = True, report: Callable[[str], None] | None = None,
                 compile: bool = False, group: Group | None = None,
                 precision: Any = None, streams: backend.RandomStreams | None = None):
        if loss.reduction != "mean":
            raise ValueError(f"Trainer: the loss must average over the batch (reduction='mean'), "
                             f"got reduction={loss.reduction!r}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.precision = as_precision(precision, model)
        self.callbacks = list(callbacks)
        for i, cb in enumerate(self.callbacks):
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer: callbacks[{i}] must be a Callback, got {type(cb).__name__}")
        self.verbose = check_int("Trainer", "verbose", verbose, 0)
        self.with_accuracy = check_bool("Trainer", "accuracy", accuracy)
        self.report = report
        self.history: dict[str, list[float]] = {}
        self.epoch = 0
        self.stop_reason: str | None = None
        self.diverged = False
        # True while an epoch is under way: the model then holds part of an epoch that ``epoch``
        # does not count (an interrupt there leaves it so, and no checkpoint is written of it)
        self.partial_epoch = False
        self.compile = compile
        self.prefetch = 0  # batches prepared ahead, as the last fit or evaluate asked
        self._host_transform: Any = None  # of the training batches, as the last fit asked
        self._step: TrainStep | CompiledStep | None = None
        # the random streams every draw of this trainer's runs takes (shuffles, dropout masks,
        # augmentation), saved in its checkpoints: the ones in use where it is built by default
        self.streams = backend.current_streams() if streams is None else streams
        self.group = Group() if group is None else group
        if compile and self.group.size > 1:  # refused here, on every rank alike, before any start-up
            raise CompileError("Trainer: compile=True runs the step without the host, but several processes "
                               "all-reduce gradients through MPI on the host; train them without compile")
        # where the optimizer steps one flat buffer of the model's parameters, its gradient buffer is
        # the one all-reduced (under mixed precision it holds the master weights instead)
        shared = None if self.precision.mixed else optimizer.flat_buffer if optimizer is not None else None
        self.parallel = DataParallel(self.group, flat_buffer=shared)

    @property
    def plugins(self) -> list[Any]:
        """The features plugged into the training step, in order: the gradient all-reduce over
        processes (before unscaling), then precision; a feature that is off is not there."""
        return [plugin for plugin in (self.parallel, self.precision) if plugin.active]

    @property
    def writes_files(self) -> bool:
        """Whether this process prints and writes files (rank 0 of several, or the only one)."""
        return self.group.is_root

    def state(self) -> dict[str, Any]:
        """The JSON-able state a checkpoint keeps: epochs done, the history and the precision (with
        several processes, also the shared shuffle seed and every rank's RNG state)."""
        return {"epoch": self.epoch, "history": self.history, "precision": self.precision.state(),
                **self.parallel.state()}

    def load(self, path: Any) -> dict[str, Any]:
        """Restore model, optimizer (master weights included), loss scale, RNG, epoch count and
        history from a checkpoint; returns its metadata. A refused checkpoint changes nothing:
        the model is brought to the trainer's precision before the arrays are compared, and put
        back as it was when the checkpoint does not fit."""
        saved = checkpoint.read_metadata(path)["trainer"].get("precision")
        if saved is not None:
            try:
                self.precision.check(saved)
            except ValueError as err:
                raise checkpoint.CheckpointError(f"{path}: {err}") from None
        kept = _Kept(self.model)
        try:
            self.precision.prepare(self.model, self.optimizer)
            with backend.use_streams(self.streams):
                meta = checkpoint.load(path, self.model, self.optimizer)
        except BaseException:
            kept.restore()
            raise
        if saved is not None:
            self.precision.load(saved)
        self.epoch = int(meta["trainer"].get("epoch", 0))
        self.history = {k: list(v) for k, v in meta["trainer"].get("history", {}).items()}
        self.parallel.load(meta["trainer"], path)
        return meta

    def _metrics(self, y: Any, t: Any, value: Any, n: int) -> tuple[Any, Any]:
        return value * n, (accuracy(y, t) * n if self.with_accuracy else None)

    def fit(self, train: DataSet | tuple, val: DataSet | tuple | None = None, *, epochs: int = 1,
            batch_size: int | None = 100, shuffle: bool = True, augment: Any = None,
            resume: Any = None, prefetch: int = 0, host_transform: Any = None) -> dict[str, list[float]]:
        """Train until ``epochs`` epochs are done in total; returns ``history``.

        ``train`` and ``val`` are DataSets (``ArrayFiles`` and ``ImageFolder`` too: read batch by
        batch) or ``(x, t)`` pairs of host arrays (a ``numpy.memmap`` too).
        ``prefetch``: batches prepared ahead in a background thread while the model computes
        (``DataLoader(prefetch=...)``: the same batches in the same order). ``host_transform``: a
        transform ``f(x, rng)`` of the training batches on the host, before their copy to the device
        (``DataLoader(host_transform=...)``; in the prefetch threads when prefetching).
        ``augment``: a transform of the training batches (``anynet.data.augment``); validation
        and evaluation see the data as it is. ``resume``: a checkpoint path to continue from
        exactly (model, optimizer, RNG, epoch, history). Raises ``TrainingDiverged`` when the loss becomes NaN or Inf.
        """
        if self.optimizer is None:
            raise ValueError("Trainer.fit: the trainer has no optimizer; build it with one to train")
        epochs = check_int("Trainer.fit", "epochs", epochs, 0)
        train = as_dataset(train, "train")
        val = None if val is None else as_dataset(val, "val")
        self.prefetch = check_int("Trainer.fit", "prefetch", prefetch, 0)
        self._host_transform = host_transform
        with self.group.guard((TrainingDiverged,)), backend.use_streams(self.streams):
            return self._fit(train, val, epochs, batch_size, shuffle, augment, resume)

    def _fit(self, train: DataSet, val: DataSet | None, epochs: int, batch_size: int | None, shuffle: bool,
             augment: Any, resume: Any) -> dict[str, list[float]]:
        self._loader(train, batch_size, shuffle, augment, sharded=False, train=True)  # refuses bad settings first
        self._check_schedule(train, batch_size, epochs)
        self._check_data("fit", train, val)
        step = self._training_step()  # a CompileError before anything changes
        if resume is not None:
            self.load(resume)  # prepares the model for the precision; a refused checkpoint changes nothing
        else:
            self.precision.prepare(self.model, self.optimizer)  # after the checks: a refused fit changes nothing
        self.parallel.start(self.model, resume is not None, train=len(train), val=None if val is None else len(val),
                            batch_size=batch_size, shuffle=shuffle, epochs=epochs,
                            optimizer=self.parallel.settings(self.optimizer))
        loader = self._loader(train, batch_size, shuffle, augment, train=True)
        val_loader = None if val is None else self._loader(val, 1000, False)
        if self.epoch >= epochs:
            warnings.warn(f"Trainer.fit: {self.epoch} epochs are done already and epochs={epochs} counts "
                          "the total, so there is nothing to train; pass a larger epochs", stacklevel=3)
        progress = Progress(self.verbose if self.writes_files else 0, self.report)
        self.stop_reason, self.diverged = None, False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            # the model's device is current, so arrays the maths creates are born beside it
            with backend.device(self.model.device):
                while self.epoch < epochs and self.stop_reason is None:
                    self._epoch(step, loader, val_loader, epochs, progress)
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)
        if self.diverged:
            raise TrainingDiverged(self.stop_reason)
        if self.stop_reason:
            progress.message(self.stop_reason)
        return self.history

    def _check_schedule(self, train: DataSet, batch_size: int | None, epochs: int) -> None:
        """A learning-rate schedule that cannot serve this run's length is refused before anything
        changes (``Schedule.check_length``)."""
        lr = self.optimizer.lr
        if isinstance(lr, Schedule):
            steps = len(DataLoader(train, batch_size, shuffle=False, shard=self.parallel.shard))
            lr.check_length(self.optimizer.iterations + max(0, epochs - self.epoch) * steps)

    def _loader(self, data: DataSet, batch_size: int | None, shuffle: bool, augment: Any = None,
                sharded: bool = True, train: bool = False) -> DataLoader:
        """A loader of ``data`` onto the model's device in the precision's dtypes: with several
        processes (``sharded``), this rank's shard of the permutation every rank shares."""
        shard = self.parallel.shard if sharded else None
        return DataLoader(data, batch_size, shuffle=shuffle, device=self.model.device, dtype=self.precision.compute,
                          target_dtype=self.precision.master, augment=augment, shard=shard,
                          seed=self.parallel.shuffle_seed if shard is not None else None, prefetch=self.prefetch,
                          host_transform=self._host_transform if train else None)

    def _check_data(self, where: str, *sets: DataSet | None) -> None:
        """Refuse empty data and embedding ids out of range, then run one sample of each set
        through the model in inference mode, its labels against the model's outputs, then the
        loss (targets), all before anything changes: inference mode moves no running statistics
        and draws no dropout mask (a stateful model restarts its state, as every fit and evaluate
        does). Index ranges are read on the host, as CuPy wraps out-of-range indices around."""
        sets = tuple(d for d in sets if d is not None)
        for data in sets:
            if len(data) == 0:
                raise ValueError(f"Trainer.{where}: the {data.name} data holds no samples")
            check_ids(where, self.model, data)
        dev = backend.as_device(self.model.device)
        self.model.reset_state()  # a carried state fits no probe; fit and evaluate restart it anyway
        try:
            with backend.device(dev):
                for data in sets:
                    xb = self._like_model(backend.to_device(data.x[:1], dev))
                    tb = backend.to_device(data.t[:1], dev)
                    y = self.model.predict(xb)
                    check_label_range(where, data, y, self.loss.ignore_label)
                    with inside_network():  # scores are the model's, not input: NaN is not refused here
                        self._metrics(y, tb, self.loss.forward(y, tb), 1)
        finally:
            self.model.reset_state()

    def _like_model(self, x: Any) -> Any:
        """A probe's input in the dtype of the model's parameters as they are (the precision
        policy is applied only once the checks have passed)."""
        params = self.model.params
        xp = backend.namespace(x)
        if not params or not xp.isdtype(x.dtype, "real floating"):
            return x
        return xp.astype(x, params[0].data.dtype, copy=False)

    def _training_step(self) -> TrainStep | CompiledStep:
        """The step every batch runs; a compiled one is kept (with its traces) across fits while
        the model, loss, optimizer and device stay the same."""
        kept = self._step
        if isinstance(kept, CompiledStep) and self.compile and kept.device == self.model.device and all(
                a is b for a, b in zip((kept.step.model, kept.step.loss, kept.step.optimizer),
                                       (self.model, self.loss, self.optimizer))):
            return kept
        step = TrainStep(self.model, self.loss, self.optimizer, self.with_accuracy, plugins=self.plugins)
        self._step = CompiledStep(step) if self.compile else step
        return self._step

    def _epoch(self, step: TrainStep | CompiledStep, loader: DataLoader, val: DataLoader | None, epochs: int,
               progress: Progress) -> None:
        epoch = self.epoch + 1
        self.partial_epoch = True
        loader.epoch = epoch  # a sharded loader's permutation is drawn from (seed, epoch)
        n = len(loader.data)
        start = time.perf_counter()
        progress.epoch_begin(epoch, epochs, -(-n // self.group.size))
        self.model.train()
        total_loss, total_hits, seen, steps = 0.0, 0.0, 0, 0
        for batch in self._batches(loader):
            # the data was checked on the host where it entered (DataSet); inside the loop only
            # the once-per-epoch guard reads values, so a diverging run stops cleanly below
            xb, tb = batch
            _, (loss_sum, hits) = step.run(xb, tb, batch.weight)
            total_loss = total_loss + loss_sum
            total_hits = total_hits + hits if hits is not None else total_hits
            seen, steps = seen + xb.shape[0], steps + 1
            progress.step(xb.shape[0], total_loss, seen)
        loss_total, hits_total = self._reduce(total_loss, total_hits)
        logs = {"loss": loss_total / n}
        if self.with_accuracy:
            logs["accuracy"] = hits_total / n
        elapsed = time.perf_counter() - start
        why = self._diverged(logs["loss"], epoch, steps)
        if why is not None:
            self.diverged, self.stop_reason = True, why
            progress.close()
            self.partial_epoch = False  # nothing of it will be counted or saved
            return
        self.parallel.epoch_end(self.model)
        if val is not None:
            logs["val_loss"], val_acc = self._evaluate(val)
            if self.with_accuracy:
                logs["val_accuracy"] = val_acc
        logs["time"] = elapsed
        self.epoch, self.partial_epoch = epoch, False
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        text = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "time")
        progress.epoch_end(f"epoch {epoch}/{epochs}  {text}  {n / elapsed:,.0f} samples/s", epoch, epochs)
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, logs)

    def _diverged(self, loss: float, epoch: int, steps: int) -> str | None:
        """Why the epoch just run must not count (a NaN or Inf loss; loss scaling that skipped
        every step of it), else None."""
        done = f"stopped after {self.epoch} good epochs"
        if not math.isfinite(loss):
            return (f"training diverged: the loss became {loss} in epoch {epoch}; {done} (lower the learning rate); "
                    "nothing of the diverged epoch was saved")
        scaler = self.precision.loss_scaler
        if scaler is not None and scaler.dynamic and steps and scaler.skipped_in_a_row() >= steps:
            return (f"training diverged: float16 loss scaling skipped every step of epoch {epoch} (the gradients "
                    f"were Inf or NaN even at the smallest loss scale, {scaler.min_scale:g}); {done} (lower the "
                    "learning rate, or train in bfloat16 or float32); nothing of that epoch was saved")
        return None

    def _reduce(self, total_loss: Any, total_hits: Any) -> tuple[float, float]:
        """Sums over every rank as Python floats, in one message (once per epoch)."""
        sums = self.parallel.sums([float(total_loss), float(total_hits)])
        return sums[0], sums[1]

    def _batches(self, loader: DataLoader):
        """The loader's batches; a stateful model restarts its state at the first batch and
        whenever the batch size changes (a carried state cannot continue into it)."""
        size = None
        for batch in loader:
            if batch.x.shape[0] != size:
                self.model.reset_state()
                size = batch.x.shape[0]
            yield batch

    def evaluate(self, data: DataSet | tuple, *, batch_size: int = 1000, prefetch: int = 0,
                 tta: Sequence[Callable[[Any], Any]] = ()) -> tuple[float, float]:
        """Mean loss and accuracy (NaN with ``accuracy=False``) over ``data`` (a DataSet or an
        ``(x, t)`` pair of host arrays) in inference mode; ``prefetch`` as in ``fit``.

        ``tta``: test-time augmentation, views of each batch (functions batch -> batch of its shape,
        such as ``anynet.data.augment.Flip()``) whose scores are averaged with the batch's own before
        the loss and accuracy, one forward pass each; for models that carry no state between batches.
        """
        data = as_dataset(data, "evaluate")
        self.prefetch = check_int("Trainer.evaluate", "prefetch", prefetch, 0)
        loader = self._loader(data, batch_size, False)
        self._check_data("evaluate", data)
        with backend.device(self.model.device):
            views = check_views("Trainer.evaluate", tta, lambda: self._like_model(backend.to_device(data.x[:1])))
        self.precision.prepare(self.model)
        return self._evaluate(loader, views)

    def _evaluate(self, loader: DataLoader, views: Sequence[Callable[[Any], Any]] = ()) -> tuple[float, float]:
        total_loss, total_hits = 0.0, 0.0
        with backend.device(self.model.device):
            for xb, tb in self._batches(loader):
                # checked above and where the data entered; a diverged model's NaN scores give a NaN loss
                with inside_network():
                    y = averaged(self.model.predict, xb, views)  # the batch's own scores without views
                    value = self.loss.forward(y, tb)
                loss_sum, hits = self._metrics(y, tb, value, xb.shape[0])
                total_loss = total_loss + loss_sum
                total_hits = total_hits + hits if hits is not None else total_hits
        self.model.reset_state()
        n = len(loader.data)
        total_loss, total_hits = self._reduce(total_loss, total_hits)
        return float(total_loss) / n, (float(total_hits) / n if self.with_accuracy else math.nan)


class _Kept:
    """The model's parameters (values, gradients, optimizer state) and buffers as they are, to
    put back when a call is refused half-way."""

    def __init__(self, model: Any):
        self.params = [(p, p.data, p.grad, dict(p.state)) for p in model.params]
        self.buffers = [(m, m.state_leaves()) for m in model.modules()]

    def restore(self) -> None:
        for p, data, grad, state in self.params:
            p.data, p.grad, p.state = data, grad, state
        for module, leaves in self.buffers:
            module.load_state_leaves(leaves)
