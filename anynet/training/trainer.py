"""Training loop: full-batch, stochastic or mini-batch gradient descent on host data sets."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Iterable

from .. import backend
from ..data.dataset import DataLoader, DataSet, as_dataset
from ..metrics import accuracy
from ..validation import check_bool, check_int, inside_network
from . import checkpoint
from .callbacks import Callback
from .parallel import GradientAllReduce, Group
from .precision import as_precision
from .progress import Progress
from .step import CompiledStep, CompileError, TrainStep

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
    ``precision``: "float32", "float64", "float16", "bfloat16" or an ``anynet.Precision``
    (default: the one ``anynet.device(..., precision=...)`` chose, else the model's dtype); the
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
                 precision: Any = None):
        if getattr(loss, "reduction", "mean") != "mean":
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
        self.compile = compile
        self._step: TrainStep | CompiledStep | None = None
        self.group = Group() if group is None else group
        if compile and self.group.size > 1:  # refused here, on every rank alike, before any start-up
            raise CompileError("Trainer: compile=True runs the step without the host, but several processes "
                               "all-reduce gradients through MPI on the host; train them without compile")
        self.allreduce = GradientAllReduce(self.group) if self.group.size > 1 else None
        if self.allreduce is not None:
            self.allreduce.weight = 1.0  # backward is seeded with the rank's share of the global batch
            # the optimizer's flat gradient buffer, where it steps one, is the one all-reduced
            self.allreduce.flat_buffer = getattr(optimizer, "flat_buffer", None)
        self.shuffle_seed: int | None = None  # the permutation seed every rank shares (several processes)
        self._rank_rng: list[Any] | None = None

    @property
    def writes_files(self) -> bool:
        """Whether this process prints and writes files (rank 0 of several, or the only one)."""
        return self.group.is_root

    def state(self) -> dict[str, Any]:
        """The JSON-able state a checkpoint keeps: epochs done and the history (with several
        processes, also the shared shuffle seed and every rank's RNG state)."""
        state: dict[str, Any] = {"epoch": self.epoch, "history": self.history,
                                 "precision": self.precision.state()}
        if self.group.size > 1:
            state.update(shuffle_seed=self.shuffle_seed, rank_rng=self._rank_rng)
        return state

    def load(self, path: Any) -> dict[str, Any]:
        """Restore model, optimizer (master weights included), loss scale, RNG, epoch count and
        history from a checkpoint; returns its metadata."""
        saved = checkpoint.read(path)[0]["trainer"].get("precision")
        if saved is not None:
            try:
                self.precision.check(saved)
            except ValueError as err:
                raise checkpoint.CheckpointError(f"{path}: {err}") from None
        self.precision.prepare(self.model, self.optimizer)
        meta = checkpoint.load(path, self.model, self.optimizer)
        if saved is not None:
            self.precision.load(saved)
        self.epoch = int(meta["trainer"].get("epoch", 0))
        self.history = {k: list(v) for k, v in meta["trainer"].get("history", {}).items()}
        self.shuffle_seed = meta["trainer"].get("shuffle_seed")
        ranks = meta["trainer"].get("rank_rng")
        if self.group.size > 1 and ranks and len(ranks) == self.group.size:
            backend.set_rng_state(ranks[self.group.rank])  # each rank continues its own streams
        elif self.group.size > 1:
            warnings.warn(f"Trainer.load: {path} was written by {len(ranks or [0])} process(es), this run has "
                          f"{self.group.size}; the data order and random draws will not continue exactly",
                          stacklevel=2)
        return meta

    def _metrics(self, y: Any, t: Any, value: Any, n: int) -> tuple[Any, Any]:
        return value * n, (accuracy(y, t) * n if self.with_accuracy else None)

    def fit(self, train: DataSet | tuple, val: DataSet | tuple | None = None, *, epochs: int = 1,
            batch_size: int | None = 100, shuffle: bool = True, augment: Any = None,
            resume: Any = None) -> dict[str, list[float]]:
        """Train until ``epochs`` epochs are done in total; returns ``history``.

        ``train`` and ``val`` are DataSets or ``(x, t)`` pairs of host arrays.
        ``augment``: a transform of the training batches (``anynet.data.augment``); validation
        and evaluation see the data as it is. ``resume``: a checkpoint path to continue from
        exactly (model, optimizer, RNG, epoch, history). Raises ``TrainingDiverged`` when the loss becomes NaN or Inf.
        """
        if self.optimizer is None:
            raise ValueError("Trainer.fit: the trainer has no optimizer; build it with one to train")
        epochs = check_int("Trainer.fit", "epochs", epochs, 0)
        train = as_dataset(train, "train")
        val = None if val is None else as_dataset(val, "val")
        with self.group.guard((TrainingDiverged,)):
            return self._fit(train, val, epochs, batch_size, shuffle, augment, resume)

    def _fit(self, train: DataSet, val: DataSet | None, epochs: int, batch_size: int | None, shuffle: bool,
             augment: Any, resume: Any) -> dict[str, list[float]]:
        loader = DataLoader(train, batch_size, shuffle=shuffle, device=self.model.device,
                          dtype=self.precision.compute,
                          target_dtype=self.precision.master, augment=augment)
        self._check_data("fit", train, val)
        step = self._training_step()  # a CompileError before anything changes
        self.precision.prepare(self.model, self.optimizer)  # after the checks: a refused fit changes nothing
        # both loaders keep their data on the model's device for the whole fit when it fits there
        val_loader = None if val is None else self._eval_loader(val, 1000)
        if resume is not None:
            self.load(resume)
        if self.group.size > 1:
            loader = self._start(train, val, batch_size, shuffle, augment, resume is not None)
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
            _check_ids(where, self.model, data)
        dev = backend.as_device(self.model.device)
        self._reset_state()  # a carried state fits no probe; fit and evaluate restart it anyway
        try:
            with backend.device(dev):
                for data in sets:
                    xb = self._like_model(backend.to_device(data.x[:1], dev))
                    tb = backend.to_device(data.t[:1], dev)
                    y = self.model.predict(xb)
                    _check_label_range(where, data, y, getattr(self.loss, "ignore_label", None))
                    with inside_network():  # scores are the model's, not input: NaN is not refused here
                        self._metrics(y, tb, self.loss.forward(y, tb), 1)
        finally:
            self._reset_state()

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
        transforms = () if self.allreduce is None else (self.allreduce,)  # between backward and the hooks
        step = TrainStep(self.model, self.loss, self.optimizer, self.with_accuracy, grad_transforms=transforms,
                         precision=self.precision)
        self._step = CompiledStep(step) if self.compile else step
        return self._step

    def _start(self, train: DataSet, val: DataSet | None, batch_size: int | None, shuffle: bool,
               augment: Any, resumed: bool) -> DataLoader:
        """With several processes, the start-up every rank does alike (same model and data
        everywhere, one GPU each, rank 0's weights, one shuffle seed, a stream per rank); the
        rank's sharded training loader."""
        group = self.group
        group.check_same(self.model, train=len(train), val=None if val is None else len(val),
                         batch_size=batch_size, shuffle=shuffle, optimizer=type(self.optimizer).__name__)
        group.check_devices(self.model.device)
        group.broadcast_model(self.model)
        if self.shuffle_seed is None:
            self.shuffle_seed = group.share(int(backend.host_rng().integers(2**62)))
        if not resumed:
            backend.seed_process(group.rank)
        return DataLoader(train, batch_size, shuffle=shuffle, device=self.model.device,
                          dtype=self.precision.compute,
                          target_dtype=self.precision.master, augment=augment,
                          shard=(group.rank, group.size), seed=self.shuffle_seed)

    def _epoch(self, step: TrainStep | CompiledStep, loader: DataLoader, val: DataLoader | None, epochs: int,
               progress: Progress) -> None:
        epoch = self.epoch + 1
        loader.epoch = epoch  # a sharded loader's permutation is drawn from (seed, epoch)
        n = len(loader.data)
        start = time.perf_counter()
        progress.epoch_begin(epoch, epochs, -(-n // self.group.size))
        self.model.train()
        total_loss, total_hits, seen = 0.0, 0.0, 0
        for xb, tb in self._batches(loader):
            # the data was checked on the host where it entered (DataSet); inside the loop only
            # the once-per-epoch guard reads values, so a diverging run stops cleanly below
            if self.allreduce is not None:  # seeded with the rank's share: the gradients come weighted
                step.loss_scale = xb.shape[0] / loader.global_batch
            _, (loss_sum, hits) = step.run(xb, tb)
            total_loss = total_loss + loss_sum
            total_hits = total_hits + hits if hits is not None else total_hits
            seen += xb.shape[0]
            progress.step(xb.shape[0], total_loss, seen)
        loss_total, hits_total = self._reduce(total_loss, total_hits)
        logs = {"loss": loss_total / n}
        if self.with_accuracy:
            logs["accuracy"] = hits_total / n
        elapsed = time.perf_counter() - start
        if not math.isfinite(logs["loss"]):
            self.diverged = True
            self.stop_reason = (f"training diverged: the loss became {logs['loss']} in epoch {epoch}; "
                                f"stopped after {self.epoch} good epochs (lower the learning rate); "
                                "nothing of the diverged epoch was saved")
            progress.close()
            return
        if self.group.size > 1:
            self.group.average_buffers(self.model)
            self._rank_rng = self.group.gather(backend.rng_state())
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

    def _reduce(self, total_loss: Any, total_hits: Any) -> tuple[float, float]:
        """Sums over every rank as Python floats, in one message (once per epoch)."""
        sums = [float(total_loss), float(total_hits)]
        if self.group.size > 1:
            sums = self.group.sum_floats(sums)
        return sums[0], sums[1]

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

    def evaluate(self, data: DataSet | tuple, *, batch_size: int = 1000) -> tuple[float, float]:
        """Mean loss and accuracy (NaN with ``accuracy=False``) over ``data`` (a DataSet or an
        ``(x, t)`` pair of host arrays) in inference mode."""
        data = as_dataset(data, "evaluate")
        loader = self._eval_loader(data, batch_size)
        self._check_data("evaluate", data)
        self.precision.prepare(self.model)
        return self._evaluate(loader)

    def _eval_loader(self, data: DataSet, batch_size: int) -> DataLoader:
        """In order; with several processes, this rank's shard (the sums are reduced)."""
        shard = None if self.group.size == 1 else (self.group.rank, self.group.size)
        return DataLoader(data, batch_size, shuffle=False, device=self.model.device,
                          dtype=self.precision.compute,
                          target_dtype=self.precision.master, shard=shard)

    def _evaluate(self, loader: DataLoader) -> tuple[float, float]:
        total_loss, total_hits = 0.0, 0.0
        with backend.device(self.model.device):
            for xb, tb in self._batches(loader):
                # checked above and where the data entered; a diverged model's NaN scores give a NaN loss
                with inside_network():
                    y = self.model.predict(xb)
                    value = self.loss.forward(y, tb)
                loss_sum, hits = self._metrics(y, tb, value, xb.shape[0])
                total_loss = total_loss + loss_sum
                total_hits = total_hits + hits if hits is not None else total_hits
        self._reset_state()
        n = len(loader.data)
        total_loss, total_hits = self._reduce(total_loss, total_hits)
        return float(total_loss) / n, (float(total_hits) / n if self.with_accuracy else math.nan)


def _check_label_range(where: str, data: DataSet, y: Any, ignore: int | None) -> None:
    """Integer class labels (ignoring ``ignore``) must index the model's outputs: y (..., C), t (...)."""
    t = data.t
    if t.dtype.kind not in "iu" or y.ndim != t.ndim + 1:
        return
    n_classes = y.shape[-1]
    used = t if ignore is None else t[t != ignore]
    if used.size and (int(used.min()) < 0 or int(used.max()) >= n_classes):
        raise ValueError(f"Trainer.{where}: labels must lie in [0, {n_classes}) for a model with {n_classes} "
                         f"outputs, the {data.name} data holds values in [{int(used.min())}, {int(used.max())}]")


def _check_ids(where: str, model: Any, data: DataSet) -> None:
    """Integer inputs (embedding ids, any shape) against the rows of the model's first layer."""
    n_ids = getattr(model, "input_ids", None)
    if n_ids is not None and data.x.dtype.kind in "iu" and data.x.size:
        lo, hi = int(data.x.min()), int(data.x.max())
        if lo < 0 or hi >= n_ids:
            raise ValueError(f"Trainer.{where}: ids must lie in [0, {n_ids}) for a model whose embedding has "
                             f"{n_ids} rows, the {data.name} data holds values in [{lo}, {hi}]")
