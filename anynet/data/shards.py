"""Data sets larger than memory: ``.npy`` shards on disk, memory-mapped, under one index.

    anynet.data.write_shards(x, t, "data/train", shard_size=10_000)   # x-00000.npy, t-00000.npy, ..., index.json
    train = anynet.data.ArrayFiles("data/train")                       # nothing read but headers and labels
    trainer.fit(train, epochs=5)                                       # each batch read from the files

A folder holds ``index.json`` (the format, the number of samples, one sample's shape and dtype for
x and t, the shards in order) and, per shard, ``x-NNNNN.npy`` and ``t-NNNNN.npy``. The index is
written last, so a folder with an index is complete.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write
from ..validation import check_int
from .dataset import DataSet
from .rows import Rows

__all__ = ["ArrayFiles", "ShardError", "ShardedRows", "read_index", "write_shards"]

FORMAT, VERSION = "anynet-shards", 1
INDEX = "index.json"
MAX_INDEX_BYTES = 64 * 2**20  # an index of a million shards is ~100 MB less than this; a hostile one costs little
_SHARD = re.compile(r"^[xt]-\d{5,}\.npy$")


class ShardError(ValueError):
    """A shard folder that is incomplete, damaged, or does not match its index."""


def write_shards(x: Any, t: Any, folder: str | os.PathLike, shard_size: int = 10_000,
                 classes: int | None = None) -> Path:
    """Write ``x`` (N, ...) and ``t`` (N, ...) as ``.npy`` shards of ``shard_size`` samples and an index.

    ``x`` and ``t`` may themselves be memory-mapped (or ``Rows``): they are read one shard at a
    time, so writing needs one shard's memory. Every file is written atomically, the index last;
    shard files of an earlier write that the new index does not name are removed.

    **Arguments:**

    - ``x``, ``t``: inputs and targets with the same number of samples (NumPy arrays or array-likes).
    - ``folder``: where to write (created when missing).
    - ``shard_size``: samples per shard (the last holds the rest).
    - ``classes``: the number of label classes to record (default: ``t.max() + 1`` for integer labels).

    **Returns:** the folder as a ``Path``.
    """
    shard_size = check_int("write_shards", "shard_size", shard_size, 1)
    n = len(x)
    if len(t) != n or n == 0:
        raise ValueError(f"write_shards: x and t must hold the same number of samples, at least one; "
                         f"got {len(x)} and {len(t)}")
    folder = Path(folder)
    shards, lo_hi = [], None
    for i, lo in enumerate(range(0, n, shard_size)):
        xs, ts = np.asarray(x[lo:lo + shard_size]), np.asarray(t[lo:lo + shard_size])
        _check_values("write_shards", xs, ts, f"samples {lo}..{lo + len(xs) - 1}")
        if ts.dtype.kind in "iu":
            lo_hi = (min(int(ts.min()), lo_hi[0]), max(int(ts.max()), lo_hi[1])) if lo_hi else (int(ts.min()),
                                                                                                 int(ts.max()))
        names = {"x": f"x-{i:05d}.npy", "t": f"t-{i:05d}.npy"}
        for key, a in (("x", xs), ("t", ts)):
            with atomic_write(folder / names[key]) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
        shards.append({**names, "n": len(xs)})
    if classes is None and lo_hi is not None and lo_hi[0] >= 0:
        classes = lo_hi[1] + 1
    index = {"format": FORMAT, "version": VERSION, "n": n, "shards": shards, "classes": classes,
             "x": _spec(np.asarray(x[:1])), "t": _spec(np.asarray(t[:1]))}
    with atomic_write(folder / INDEX, "w") as f:
        json.dump(index, f, indent=1)
    named = {s[key] for s in shards for key in ("x", "t")}
    for stale in folder.iterdir():
        if _SHARD.match(stale.name) and stale.name not in named:
            stale.unlink()
    return folder


def _spec(first: np.ndarray) -> dict[str, Any]:
    return {"shape": list(first.shape[1:]), "dtype": first.dtype.str}


def _check_values(where: str, x: np.ndarray, t: np.ndarray, what: str) -> None:
    for name, a in (("x", x), ("t", t)):
        if a.dtype.kind == "O" or a.dtype.hasobject:
            raise TypeError(f"{where}: {name} holds Python objects; expected numbers")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{where}: {name} holds NaN or Inf values in {what}")


class ShardedRows(Rows):
    """The inputs of ``ArrayFiles``: rows of several memory-mapped ``.npy`` shards as one array
    (N, *sample_shape); reading a batch reads those rows from their shards, in file order, and
    checks that floating values are finite."""

    def __init__(self, parts: list[np.ndarray], paths: list[Path], sample_shape: tuple[int, ...], name: str):
        super().__init__(sum(len(p) for p in parts), sample_shape, parts[0].dtype, name)
        self._parts, self._paths = parts, paths
        self._starts = np.cumsum([0] + [len(p) for p in parts])

    def _read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.source_shape), self.dtype)
        shard = np.searchsorted(self._starts, rows, side="right") - 1
        for s in np.unique(shard):
            hit = shard == s
            got = self._parts[s][rows[hit] - self._starts[s]]
            if got.dtype.kind == "f" and not np.isfinite(got).all():
                raise ShardError(f"{self._paths[s]}: holds NaN or Inf values")
            out[hit] = got
        return out


class ArrayFiles(DataSet):
    """A data set in ``.npy`` shards written by ``write_shards``: the inputs stay on disk,
    memory-mapped, and a batch reads only its samples; the targets (labels: a few bytes a sample)
    are read into memory when it opens.

    Usable wherever a DataSet or an ``(x, t)`` pair is: ``Trainer.fit``, ``DataLoader``,
    ``train_val_split`` (whose parts are views that read nothing), ``anynet train --data FOLDER``.
    Only headers are read to open it: each shard's ``.npy`` header must match the index (shape,
    dtype, C order) and the file must be as long as the header says before it is mapped.

    **Arguments:**

    - ``folder``: a folder written by ``write_shards``.
    - ``sample_shape``: see each input as this shape (e.g. ``(784,)`` for images (1, 28, 28)).
    - ``name``: what errors and the trainer call it (default: the folder).
    - ``max_target_bytes``: the targets are read into memory only up to this size.
    """

    def __init__(self, folder: str | os.PathLike, sample_shape: tuple[int, ...] | None = None,
                 name: str | None = None, max_target_bytes: int = 2**30):
        self.folder = Path(folder)
        self.name = name or str(folder)
        index = read_index(self.folder)
        parts, targets, paths = [], [], []
        for entry in index["shards"]:
            parts.append(_mapped(self.folder / entry["x"], entry["n"], index["x"]))
            paths.append(self.folder / entry["x"])
        t_bytes = index["n"] * math.prod(index["t"]["shape"]) * np.dtype(index["t"]["dtype"]).itemsize
        if t_bytes > max_target_bytes:
            raise ShardError(f"{self.folder}: the targets take {t_bytes} bytes, more than max_target_bytes="
                             f"{max_target_bytes}; raise it to read them into memory")
        for entry in index["shards"]:
            targets.append(np.array(_mapped(self.folder / entry["t"], entry["n"], index["t"])))
        self.t = np.concatenate(targets)
        _check_values(f"ArrayFiles {self.name!r}", self.t[:0], self.t, "the targets")
        self.classes: int | None = index["classes"]
        self.x = ShardedRows(parts, paths, tuple(index["x"]["shape"]), self.name)
        if sample_shape is not None:
            self.x = self.x.reshaped(sample_shape)

    def __repr__(self) -> str:
        return f"ArrayFiles({self.name!r}, x={self.x.shape} {self.x.dtype}, t={self.t.shape} {self.t.dtype})"


def read_index(folder: Path) -> dict[str, Any]:
    """The checked ``index.json`` of a shard folder (ShardError naming the folder and what is wrong)."""
    path = folder / INDEX
    if not path.is_file():
        raise ShardError(f"{folder}: no {INDEX}; expected a folder written by anynet.data.write_shards")
    if path.stat().st_size > MAX_INDEX_BYTES:
        raise ShardError(f"{path}: {path.stat().st_size} bytes, more than an index can need ({MAX_INDEX_BYTES})")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        ok = index["format"] == FORMAT and index["version"] == VERSION and isinstance(index["shards"], list)
        ok = ok and all(isinstance(s["n"], int) and s["n"] > 0 and _SHARD.match(s["x"]) and _SHARD.match(s["t"])
                        for s in index["shards"])
        ok = ok and index["shards"] and sum(s["n"] for s in index["shards"]) == index["n"]
        for key in ("x", "t"):
            np.dtype(index[key]["dtype"])
            ok = ok and all(isinstance(d, int) and d >= 0 for d in index[key]["shape"])
        ok = ok and (index["classes"] is None or isinstance(index["classes"], int))
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ShardError(f"{path}: not an index of anynet shards ({type(err).__name__}: {err})") from None
    if not ok:
        raise ShardError(f"{path}: not a valid index of anynet shards (format {FORMAT} version {VERSION}, "
                         "shards of at least one sample adding up to n)")
    if np.dtype(index["x"]["dtype"]).hasobject or np.dtype(index["t"]["dtype"]).hasobject:
        raise ShardError(f"{path}: object dtypes are refused (they would need pickle)")
    return index


def _mapped(path: Path, n: int, spec: dict[str, Any]) -> np.ndarray:
    """The shard at ``path`` memory-mapped, once its header declares (n, *shape) of the index's
    dtype in C order and the file holds that many bytes (nothing is mapped or read otherwise)."""
    shape, dtype = (n, *spec["shape"]), np.dtype(spec["dtype"])
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            found_shape, fortran, found_dtype = read(f)
            offset = f.tell()
    except (OSError, ValueError) as err:
        raise ShardError(f"{path}: not a readable .npy file ({err})") from None
    if tuple(found_shape) != shape or found_dtype != dtype or fortran:
        raise ShardError(f"{path}: its header declares {tuple(found_shape)} {found_dtype}"
                         f"{' in Fortran order' if fortran else ''}; the index expects {shape} {dtype}")
    if path.stat().st_size < offset + math.prod(shape) * dtype.itemsize:
        raise ShardError(f"{path}: truncated: {path.stat().st_size} bytes, its header needs "
                         f"{offset + math.prod(shape) * dtype.itemsize}")
    return np.load(path, mmap_mode="r", allow_pickle=False)
