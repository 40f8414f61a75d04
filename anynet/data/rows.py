"""Samples that stay on disk until a batch asks for them: the base of the inputs of ``ArrayFiles``
(memory-mapped ``.npy`` shards) and ``ImageFolder`` (image files decoded on load).

A ``Rows`` object stands where a host array ``x`` (N, ...) stands in a ``DataSet``: it has a
``shape``, a ``dtype`` and ``len``, and indexing it along the first axis (an integer, a slice,
integer indices or a mask) reads those samples only and returns them as a NumPy array. So the
loader's ``x[order[lo:hi]]`` reads one batch, and a subset (``take``) is a view that reads nothing.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

__all__ = ["Rows"]


class Rows:
    """Samples (N, *sample_shape) of ``dtype`` read on demand; a subclass says how to read them.

    **Arguments:**

    - ``n``: the number of samples of the whole source.
    - ``sample_shape``: the shape of one sample as it is handed out.
    - ``dtype``: the NumPy dtype of the samples handed out.
    - ``name``: what errors call the source (a folder).
    """

    chunk_bytes = 16 * 2**20  # what a reduction over every sample reads at once

    def __init__(self, n: int, sample_shape: tuple[int, ...], dtype: Any, name: str):
        self.sample_shape, self.dtype, self.name = tuple(int(s) for s in sample_shape), np.dtype(dtype), name
        self.source_shape = self.sample_shape  # one sample as ``_read`` returns it
        self._rows: np.ndarray | None = None  # this view's rows of the source (None: all of them, in order)
        self._n = int(n)
        self.reads: list[np.ndarray] | None = None  # with ``log_reads``: the source rows of every read

    # -- what a subclass provides -------------------------------------------------------------

    def _read(self, rows: np.ndarray) -> np.ndarray:
        """The samples at the source rows ``rows`` (sorted, unique, int64), as (len(rows), *source_shape)."""
        raise NotImplementedError

    # -- the array-like face ---------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """(N, *sample_shape)."""
        return (len(self), *self.sample_shape)

    @property
    def ndim(self) -> int:
        """The number of axes, as a NumPy array's."""
        return 1 + len(self.sample_shape)

    @property
    def size(self) -> int:
        """The number of values, as a NumPy array's."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """The bytes the samples would take in memory (none of them are held)."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self._n if self._rows is None else len(self._rows)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, shape={self.shape}, dtype={self.dtype})"

    def source_rows(self, key: Any) -> np.ndarray:
        """The rows of the source that ``key`` (an integer, a slice, integer indices or a boolean
        mask along the first axis) selects, in the order asked for, as int64."""
        n = len(self)
        if isinstance(key, slice):
            idx = np.arange(n)[key]
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                if idx.shape != (n,):
                    raise IndexError(f"{self.name}: a mask must have shape ({n},), got {idx.shape}")
                idx = np.flatnonzero(idx)
            elif idx.dtype.kind not in "iu" or idx.ndim > 1:
                raise IndexError(f"{self.name}: expected an integer, a slice, integer indices or a mask "
                                 f"along the first axis, got {key!r}")
            idx = idx.astype(np.int64).reshape(-1)
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise IndexError(f"{self.name}: index out of range for {n} samples")
            idx = np.where(idx < 0, idx + n, idx)
        return idx if self._rows is None else self._rows[idx]

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):  # x[lo:hi, ...]: only the first axis selects
            if len(key) > 1 and any(k is not Ellipsis and k != slice(None) for k in key[1:]):
                raise IndexError(f"{self.name}: only the first axis can be indexed, got {key!r}")
            key = key[0]
        single = isinstance(key, (int, np.integer))
        rows = self.source_rows([key] if single else key)
        out = self._gather(rows)
        return out[0] if single else out

    def _gather(self, rows: np.ndarray) -> np.ndarray:
        """The samples at source ``rows`` in that order: each distinct row read once, in file order."""
        if self.reads is not None:
            self.reads.append(rows.copy())
        unique, inverse = np.unique(rows, return_inverse=True)
        got = self._read(unique).reshape((len(unique), *self.sample_shape))
        return got if len(unique) == len(rows) and np.array_equal(unique, rows) else got[inverse.reshape(-1)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every sample, read into memory (``np.asarray(rows)``): what a whole in-memory set costs."""
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def take(self, key: Any) -> Rows:
        """A view of the samples ``key`` selects (indices, a slice or a mask), reading nothing."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._rows, view.reads = self.source_rows(key), None
        return view

    def reshaped(self, sample_shape: tuple[int, ...]) -> Rows:
        """A view with each sample as ``sample_shape`` (the same number of values), reading nothing."""
        sample_shape = tuple(int(s) for s in sample_shape)
        if math.prod(sample_shape) != math.prod(self.source_shape):
            raise ValueError(f"{self.name}: samples of shape {self.source_shape} cannot be seen as {sample_shape}")
        view = self.take(slice(None))
        view.sample_shape = sample_shape
        return view

    def log_reads(self) -> list[np.ndarray]:
        """Start recording the source rows of every read (one array per read, in the order asked
        for): which samples this process took from the files. **Returns:** the list that fills."""
        self.reads = []
        return self.reads

    def chunks(self) -> Iterator[np.ndarray]:
        """Every sample in order, a bounded chunk (``chunk_bytes``) at a time."""
        per = max(1, self.chunk_bytes // max(1, math.prod(self.sample_shape) * self.dtype.itemsize))
        for lo in range(0, len(self), per):
            yield self[lo:lo + per]

    def min(self) -> Any:
        """The smallest value, read chunk by chunk (memory bounded by ``chunk_bytes``)."""
        return min(chunk.min() for chunk in self.chunks())

    def max(self) -> Any:
        """The largest value, read chunk by chunk (memory bounded by ``chunk_bytes``)."""
        return max(chunk.max() for chunk in self.chunks())
