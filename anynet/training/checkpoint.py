"""Checkpoints: model, optimizer, trainer and RNG state in one ``.npz`` file, written atomically.

The file is a NumPy ``.npz`` (no pickle; read with ``allow_pickle=False``)
holding the arrays and, under ``__metadata__``, UTF-8 JSON with everything
else: format version, model class, optimizer class and scalars, trainer state,
the RNG state and a SHA-256 of every array. It is written to a temporary file
in the same folder, fsynced and renamed, so a crash mid-save never destroys
the last good checkpoint. Loading validates everything before assigning.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any

import numpy as np

from .. import backend

__all__ = ["CheckpointError", "load", "read", "save"]

FORMAT = "anynet-checkpoint"
VERSION = 1
_META = "__metadata__"


class CheckpointError(ValueError):
    """The checkpoint file is truncated, corrupted, or does not fit the model or optimizer."""


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str)) or value is None


def save(path: str | os.PathLike, model: Any, optimizer: Any = None, trainer_state: dict | None = None,
         metadata: dict | None = None, rng: bool = True) -> str:
    """Write ``model`` (its ``state_dict``), ``optimizer`` (its ``state_dict``), the JSON-able
    ``trainer_state`` and ``metadata``, and the RNG state to ``path`` atomically; returns the path."""
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    for key, value in model.state_dict().items():
        arrays[f"model/{key}"] = np.asarray(backend.to_numpy(value))
    opt_meta = None
    if optimizer is not None:
        scalars = {}
        for key, value in optimizer.state_dict(model.params).items():
            if _is_scalar(value) or (isinstance(value, (list, tuple)) and all(map(_is_scalar, value))):
                scalars[key] = list(value) if isinstance(value, tuple) else value
            else:
                arrays[f"optimizer/{key}"] = np.asarray(backend.to_numpy(value))
        opt_meta = {"class": type(optimizer).__name__, "scalars": scalars}
    meta = {
        "format": FORMAT, "version": VERSION,
        "model": {"class": type(model).__name__, "num_params": len(model.params)},
        "optimizer": opt_meta,
        "trainer": trainer_state or {},
        "rng": backend.rng_state() if rng else None,
        "metadata": metadata or {},
        "arrays": {k: {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": _digest(a)}
                   for k, a in arrays.items()},
    }
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ckpt-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The checkpoint's metadata and host arrays, fully verified (sizes, dtypes, SHA-256)."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - zipfile raises many types for damaged archives

        raise CheckpointError(f"{path}: not a readable checkpoint, the file is truncated or corrupted "
                              f"({type(err).__name__}: {err})") from err
    if _META not in arrays:
        raise CheckpointError(f"{path}: no {_META} entry; not an anynet checkpoint")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: the metadata is corrupted ({err})") from err
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: format {meta.get('format')!r} version {meta.get('version')!r}, "
                              f"expected {FORMAT!r} version {VERSION}")
    listed = meta.get("arrays", {})
    if set(listed) != set(arrays):
        raise CheckpointError(f"{path}: arrays {sorted(arrays)} do not match the metadata's {sorted(listed)}")
    for key, a in arrays.items():
        want = listed[key]
        if list(a.shape) != want["shape"] or a.dtype.str != want["dtype"] or _digest(a) != want["sha256"]:
            raise CheckpointError(f"{path}: array {key!r} is corrupted (shape, dtype or SHA-256 differs "
                                  "from the metadata)")
    return meta, arrays


def load(path: str | os.PathLike, model: Any = None, optimizer: Any = None,
         restore_rng: bool = True) -> dict[str, Any]:
    """Restore ``model`` and ``optimizer`` (when given) and the RNG from ``path``; returns the metadata.

    Everything is read and checked against the model and optimizer first (keys,
    shapes, dtypes, classes); nothing is assigned unless all of it fits.
    """
    meta, arrays = read(path)
    model_state = {k[len("model/"):]: a for k, a in arrays.items() if k.startswith("model/")}
    opt_arrays = {k[len("optimizer/"):]: a for k, a in arrays.items() if k.startswith("optimizer/")}
    if model is not None:
        own = model.state_dict()
        missing, unexpected = sorted(set(own) - set(model_state)), sorted(set(model_state) - set(own))
        if missing or unexpected:
            raise CheckpointError(f"{path}: saved from a {meta['model']['class']} that does not fit this "
                                  f"{type(model).__name__}: missing {missing}, unexpected {unexpected}")
        for key, a in model_state.items():
            mine = own[key]
            if tuple(a.shape) != tuple(mine.shape) or a.dtype != backend.numpy_dtype(mine.dtype):
                raise CheckpointError(f"{path}: {key} is {a.dtype}{tuple(a.shape)} in the file, "
                                      f"{backend.numpy_dtype(mine.dtype)}{tuple(mine.shape)} in the model")
    if optimizer is not None:
        saved = meta.get("optimizer")
        if saved is None:
            raise CheckpointError(f"{path}: holds no optimizer state")
        if saved["class"] != type(optimizer).__name__:
            raise CheckpointError(f"{path}: optimizer state of {saved['class']}, not {type(optimizer).__name__}")
        n_params = len(model.params) if model is not None else meta["model"]["num_params"]
        for key in opt_arrays:
            index = key.split(".")[1] if key.startswith("state.") else None
            if index is not None and (not index.isdigit() or int(index) >= n_params):
                raise CheckpointError(f"{path}: optimizer state {key!r} names no parameter of {n_params}")
        if model is not None:
            try:
                optimizer.check_state({**saved["scalars"], **opt_arrays}, model.params)
            except ValueError as err:
                raise CheckpointError(f"{path}: {err}") from None
    # every check passed: assign
    if model is not None:
        model.load_state_dict(model_state)
    if optimizer is not None:
        params = model.params if model is not None else []
        optimizer.load_state_dict({**meta["optimizer"]["scalars"], **opt_arrays}, params)
    if restore_rng and meta.get("rng") is not None:
        backend.set_rng_state(meta["rng"])
    return meta
