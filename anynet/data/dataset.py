"""Host data sets and the loader that hands out batches on the current device."""

from __future__ import annotations

import copy
import functools
from typing import Any, Callable, Iterator

import numpy as np

from .. import backend
from ..validation import check_bool, check_float, check_int
from .augment import Augment
from .prefetch import prefetched
from .rows import Rows

__all__ = ["Batch", "DataLoader", "DataSet", "as_dataset", "train_val_split"]


class DataSet:
    """Inputs ``x`` (N, ...) and targets ``t`` (N,) or (N, ...) as host NumPy arrays.

    Checked where the data enters: the same number of samples, finite values.
    Unpacks like the book's tuples: ``x, t = data``.
    """

    def __init__(self, x: Any, t: Any, name: str = "data"):
        x = x if isinstance(x, Rows) else backend.to_numpy(x)
        t = backend.to_numpy(t)
        if x.ndim == 0 or t.ndim == 0 or x.shape[0] != t.shape[0]:
            raise ValueError(f"DataSet {name!r}: x and t must hold the same number of samples, "
                             f"got x {x.shape} and t {t.shape}")
        for what, a in (("x", x), ("t", t)):
            if a.dtype.kind == "f" and not all(np.isfinite(chunk).all() for chunk in _chunks(a)):
                raise ValueError(f"DataSet {name!r}: {what} holds NaN or Inf values")
        self.x, self.t, self.name = x, t, name

    @property
    def in_memory(self) -> bool:
        """Whether ``x`` is held in memory (False for a memory-mapped array or samples read from
        files, which a loader then reads batch by batch and never uploads whole)."""
        return not isinstance(self.x, (np.memmap, Rows))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.x, self.t))

    def subset(self, idx: Any, name: str | None = None) -> "DataSet":
        """The samples at ``idx`` (indices, a slice or a mask) as a new DataSet (of samples read from
        files: a view of the same files, which reads nothing)."""
        if isinstance(self.x, Rows):
            view = copy.copy(self)
            view.x, view.t, view.name = self.x.take(idx), self.t[idx], name or self.name
            return view
        return DataSet(self.x[idx], self.t[idx], name or self.name)

    def __repr__(self) -> str:
        return f"DataSet({self.name!r}, x={self.x.shape} {self.x.dtype}, t={self.t.shape} {self.t.dtype})"


def _chunks(a: Any, chunk_bytes: int = 16 * 2**20) -> Iterator[Any]:
    """``a`` along its first axis in parts of about ``chunk_bytes`` (a check of a memory-mapped
    array then needs no more memory than that)."""
    if isinstance(a, Rows):
        yield from a.chunks()
        return
    per = max(1, chunk_bytes // max(1, a[:1].nbytes))
    for lo in range(0, max(len(a), 1), per):
        yield a[lo:lo + per]


def as_dataset(data: Any, name: str = "data") -> DataSet:
    """A DataSet from a DataSet or an ``(x, t)`` pair."""
    if isinstance(data, DataSet):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return DataSet(data[0], data[1], name)
    raise TypeError(f"expected a DataSet or an (x, t) pair for {name}, got {type(data).__name__}")


def train_val_split(data: Any, val: float | int = 0.1, shuffle: bool = True) -> tuple[DataSet, DataSet]:
    """Split off a validation set: ``val`` is a fraction (0 < val < 1) or a number of samples.

    Shuffled with the seeded host generator (``anynet.seed``) unless ``shuffle=False``,
    which keeps the last samples for validation.
    """
    data = as_dataset(data)
    n = len(data)
    if isinstance(val, float):
        n_val = int(round(check_float("train_val_split", "val", val, 0.0, 1.0, True, True) * n))
    else:
        n_val = check_int("train_val_split", "val", val, 0)
    if not 0 < n_val < n:
        raise ValueError(f"train_val_split: val={val} leaves {n_val} of {n} samples for validation; "
                         "need at least one on each side")
    order = backend.host_rng().permutation(n) if shuffle else np.arange(n)
    return (data.subset(np.sort(order[:n - n_val]), "train"), data.subset(np.sort(order[n - n_val:]), "val"))


class DataLoader:
    """Batches of a DataSet moved to ``device`` (default: the current device at iteration).

    ``batch_size=None`` gives the whole set as one batch (full-batch gradient
    descent); ``shuffle`` draws a new order every pass from the seeded host
    generator; the last partial batch is kept unless ``drop_last``.
    Yields ``(x, t)`` arrays of the device's library; ``dtype`` and ``target_dtype`` (names such
    as "float16"; None keeps the data's) are what floating ``x`` and ``t`` are cast to on the
    device (casting there, after the transfer, also serves dtypes NumPy lacks: bfloat16).

    ``resident``: True uploads the whole set once and gathers each batch on the device (``take``
    with the pass's order, uploaded once per pass), so batches no longer go through the host;
    False sends every batch from the host; None (default) keeps the set on the device when it
    fits the device executor's ``data_budget`` (never on NumPy, whose arrays are the host's). Both give
    the same batches in the same order.

    ``augment``: a transform applied to every x batch on its device (``anynet.data.augment``).
    ``host_transform``: ``f(x, rng) -> x`` applied to every x batch on the host, as NumPy arrays,
    before the copy to the device (in the prefetch threads when prefetching): augmentation that is
    cheaper on the CPU, or a decoding step. ``rng`` is a ``numpy.random.Generator`` seeded for that
    batch alone (from the pass's draw of the seeded host generator, or from ``(seed, epoch, rank)``),
    so the batches do not depend on the threads. A loader with one never keeps the data on the device.

    ``shard=(rank, size)``: this process's part of a run of ``size`` processes. Every process
    orders the set alike (with ``shuffle``, the permutation drawn from ``(seed, epoch)``: set
    ``epoch`` before each pass), cuts it into global batches of ``batch_size * size`` and takes
    its contiguous part of each (sizes differ by at most one; a last global batch smaller than
    ``size`` joins the one before), so the shards are disjoint, cover the set, and every process
    takes the same number of steps. Each batch is a ``Batch``: it unpacks as ``(x, t)`` and
    carries its ``weight``, its share of the global batch (1.0 without shards), which weighs its
    gradient.

    ``prefetch``: prepare up to this many batches ahead in background threads (``workers`` of them)
    while the caller computes: the read from the host data or a memory map, the copy to the device
    (on a GPU, asynchronous from pinned memory where the device offers it) and the cast. The
    threads draw nothing, so the batches and their order are exactly those of ``prefetch=0``
    (default); a data set on the device (``resident``) needs no prefetch and ignores it.
    Memory-mapped data (``ArrayFiles``, a ``numpy.memmap``) is never kept on the device unless
    ``resident=True``.
    """

    def __init__(self, data: Any, batch_size: int | None = 100, shuffle: bool = True,
                 drop_last: bool = False, device: Any = None, resident: bool | None = None,
                 augment: Callable[[Any], Any] | None = None, shard: tuple[int, int] | None = None,
                 seed: int | None = None,
                 dtype: str | None = None, target_dtype: str | None = None, prefetch: int = 0, workers: int = 1,
                 host_transform: Callable[[Any, Any], Any] | None = None):
        self.data = as_dataset(data)
        n = len(self.data)
        if batch_size is not None:
            batch_size = check_int("DataLoader", "batch_size", batch_size, 1)
        rank, size = (0, 1) if shard is None else shard
        if not 0 <= rank < size:
            raise ValueError(f"DataLoader: shard must be (rank, size) with 0 <= rank < size, got {shard!r}")
        if shard is not None and n < size:
            raise ValueError(f"DataLoader: {n} samples cannot be shared among {size} processes")
        if shard is not None and shuffle and seed is None:
            raise ValueError("DataLoader: a sharded loader that shuffles needs the seed every process shares")
        per = -(-n // size)
        self.batch_size = per if batch_size is None else min(batch_size, per)
        self.shuffle = check_bool("DataLoader", "shuffle", shuffle)
        self.drop_last = check_bool("DataLoader", "drop_last", drop_last)
        self.device = device
        self.resident = None if resident is None else check_bool("DataLoader", "resident", resident)
        if augment is not None and not callable(augment):
            raise TypeError(f"DataLoader: augment must be callable (anynet.data.augment), got {augment!r}")
        self.augment = augment
        if isinstance(augment, Augment):  # refused before any order is drawn: a refused fit changes nothing
            augment.check(self.data.x[:1])
        self._uploaded: tuple[Any, Any, Any] | None = None  # (device, x, t) of the resident mode
        self.shard, self.seed, self.epoch = (rank, size), seed, 0
        self.dtype, self.target_dtype = dtype, target_dtype
        self.prefetch = check_int("DataLoader", "prefetch", prefetch, 0)
        self.workers = check_int("DataLoader", "workers", workers, 1)
        if host_transform is not None and (not callable(host_transform) or resident):
            raise ValueError(f"DataLoader: host_transform must be a callable f(x, rng) of host batches, which "
                             f"excludes resident=True; got {host_transform!r} with resident={resident!r}")
        self.host_transform = host_transform

    def __len__(self) -> int:
        return len(self._bounds())

    def _bounds(self) -> list[tuple[int, int]]:
        """[lo, hi) of each global batch in the pass's order."""
        n, g, size = len(self.data), self.batch_size * self.shard[1], self.shard[1]
        bounds = [(lo, min(lo + g, n)) for lo in range(0, n, g)] if n else []
        if not bounds:
            return bounds
        if self.drop_last and bounds[-1][1] - bounds[-1][0] < g and len(bounds) > 1:
            bounds.pop()
        elif bounds[-1][1] - bounds[-1][0] < size:
            bounds[-2:] = [(bounds[-2][0], n)]  # too few to share: they join the batch before
        return bounds

    def order(self) -> Any:
        """This pass's order of the samples (None: as stored)."""
        if not self.shuffle:
            return None
        if self.seed is not None:
            return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.data))
        # host_rng() is looked up every pass: restoring a checkpoint replaces the generator
        return backend.host_rng().permutation(len(self.data))

    def _slices(self) -> Iterator[tuple[int, int, float]]:
        """[start, stop) of this process's part of each global batch, in the pass's order, and
        its share of that global batch."""
        rank, size = self.shard
        for lo, hi in self._bounds():
            q, extra = divmod(hi - lo, size)
            start = lo + rank * q + min(rank, extra)
            stop = start + q + (rank < extra)
            yield start, stop, (stop - start) / (hi - lo)

    def resident_on(self, dev: Any) -> bool:
        """Whether passes on ``dev`` keep the data set there (see ``resident``)."""
        if self.resident is not None:
            return self.resident
        # a memory map or files: read batch by batch, never uploaded whole; a host transform needs host batches
        if not self.data.in_memory or self.host_transform is not None:
            return False
        return self.data.x.nbytes + self.data.t.nbytes <= backend.as_device(dev).executor.data_budget

    def __iter__(self) -> Iterator[Batch]:
        dev = backend.as_device(self.device)
        x_dtype = None if self.dtype is None else dev.float_dtype(self.dtype)
        t_dtype = None if self.target_dtype is None else dev.float_dtype(self.target_dtype)
        for x, t, weight in self._batches(dev, x_dtype, t_dtype):
            # augmentation on the batch's device, with its generator: the same draws after a resume
            yield Batch(x if self.augment is None else self.augment(x), t, weight)

    def _batches(self, dev: backend.Device, x_dtype: Any, t_dtype: Any) -> Iterator[tuple[Any, Any, float]]:
        order = self.order()
        if self.resident_on(dev):
            for x, t, weight in self._gathered(dev, order):
                yield _cast(dev, x, x_dtype), _cast(dev, t, t_dtype), weight
            return
        slices, seeds = list(self._slices()), self._transform_seeds()
        tasks = [functools.partial(self._load, dev, slice(start, stop) if order is None else order[start:stop],
                                   x_dtype, t_dtype, self.prefetch > 0, None if seeds is None else [*seeds, i])
                 for i, (start, stop, _) in enumerate(slices)]
        loaded = prefetched(tasks, self.prefetch, self.workers) if self.prefetch else (task() for task in tasks)
        for (x, t), (_, _, weight) in zip(loaded, slices):
            yield x, t, weight

    def _transform_seeds(self) -> list[int] | None:
        """The seed of this pass's host transforms (each batch's adds its number), None without one."""
        if self.host_transform is None:
            return None
        if self.seed is not None:
            return [self.seed, self.epoch, self.shard[0]]
        return [int(backend.host_rng().integers(2**62))]

    def _load(self, dev: backend.Device, idx: Any, x_dtype: Any, t_dtype: Any, ahead: bool,
              seed: list[int] | None) -> tuple[Any, Any]:
        """One batch read from the host data (a gather; from the files for a memory map), through the
        host transform, on ``dev`` in its dtypes; ``ahead``: in a prefetch thread, through the
        device's overlapping copy."""
        x = self.data.x[idx]
        if seed is not None:
            x = np.asarray(self.host_transform(x, np.random.default_rng(seed)))
        with dev.scope():
            x, t = (_upload(dev, a, ahead) for a in (x, self.data.t[idx]))
            return _cast(dev, x, x_dtype), _cast(dev, t, t_dtype)

    def _gathered(self, dev: backend.Device, order: Any) -> Iterator[tuple[Any, Any]]:
        if self._uploaded is None or self._uploaded[0] != dev:
            self._uploaded = (dev, dev.from_numpy(np.asarray(self.data.x)), dev.from_numpy(self.data.t))
        _, x, t = self._uploaded
        xp = dev.xp
        perm = None if order is None else dev.from_numpy(order)
        for lo, hi, weight in self._slices():
            if perm is None:
                yield x[lo:hi, ...], t[lo:hi, ...], weight
            else:
                idx = perm[lo:hi]
                yield xp.take(x, idx, axis=0), xp.take(t, idx, axis=0), weight


class Batch(tuple):
    """A batch on the device: unpacks as ``(x, t)``; ``weight`` is its share of the global batch
    (this process's part of it under data parallelism; 1.0 otherwise), the weight of its
    gradient."""

    weight: float

    def __new__(cls, x: Any, t: Any, weight: float = 1.0) -> Batch:
        batch = super().__new__(cls, (x, t))
        batch.weight = weight
        return batch

    @property
    def x(self) -> Any:
        """The inputs, (B, ...) on the device."""
        return self[0]

    @property
    def t(self) -> Any:
        """The targets, (B,) or (B, ...) on the device."""
        return self[1]


def _upload(dev: backend.Device, a: np.ndarray, ahead: bool) -> Any:
    """Host batch ``a`` on ``dev``; ahead of its use, through the device's ``prefetch_to_device``
    where it has one (an asynchronous copy from pinned memory on a side stream), else a plain copy."""
    upload = getattr(dev, "prefetch_to_device", None) if ahead else None
    return backend.to_device(a, dev) if upload is None else upload(a)


def _cast(dev: backend.Device, a: Any, dtype: Any) -> Any:
    """Batch ``a`` (on ``dev``) with floating values in ``dtype`` (None: as they are)."""
    if dtype is None or not dev.xp.isdtype(a.dtype, "real floating"):
        return a
    return dev.xp.astype(a, dtype, copy=False)
