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
import math
import os
import zipfile
from typing import Any

import numpy as np

from .. import backend
from ..files import atomic_write
from ..layers.base import check_keys

__all__ = ["CheckpointError", "load", "read", "read_metadata", "save"]

FORMAT = "anynet-checkpoint"
VERSION = 1
_META = "__metadata__"


class CheckpointError(ValueError):
    """The checkpoint file is truncated, corrupted, or does not fit the model or optimizer."""


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str)) or value is None


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def _to_host(value: Any, widened: dict[str, str], key: str) -> np.ndarray:
    """``value`` on the host; a dtype NumPy cannot hold (bfloat16) is stored widened to float32,
    exactly, and its name kept in ``widened`` so that loading narrows it back. C-contiguous, as
    the file formats (.npz, .safetensors) store it."""
    name = _dtype_name(value.dtype)
    if name == "bfloat16":
        widened[key] = name
        value = backend.namespace(value).astype(value, backend.device_of(value).float_dtype("float32"))
    return np.ascontiguousarray(backend.to_numpy(value))


def save(path: str | os.PathLike, model: Any, optimizer: Any = None, trainer_state: dict | None = None,
         metadata: dict | None = None, rng: bool = True) -> str:
    """Write ``model`` (its ``state_dict``), ``optimizer`` (its ``state_dict``), the JSON-able
    ``trainer_state`` and ``metadata``, and the RNG state to ``path`` atomically; returns the path."""
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    widened: dict[str, str] = {}
    for key, value in model.state_dict().items():
        arrays[f"model/{key}"] = _to_host(value, widened, f"model/{key}")
    opt_meta = None
    if optimizer is not None:
        scalars = {}
        for key, value in optimizer.state_dict(model.params).items():
            if _is_scalar(value) or (isinstance(value, (list, tuple)) and all(map(_is_scalar, value))):
                scalars[key] = list(value) if isinstance(value, tuple) else value
            else:
                arrays[f"optimizer/{key}"] = _to_host(value, widened, f"optimizer/{key}")
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
    if widened:
        meta["widened"] = widened
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


# the metadata is JSON of a few kilobytes: far more than this is not a checkpoint's
MAX_METADATA_BYTES = 64 << 20


def _open(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - zipfile raises many types for damaged archives
        raise CheckpointError(f"{path}: not a readable checkpoint, the file is truncated or corrupted "
                              f"({type(err).__name__}: {err})") from err


def _npy_header(f: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from the header of the .npy stream ``f`` (nothing more is read)."""
    version = np.lib.format.read_magic(f)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read_header(f)


def _member(z: zipfile.ZipFile, path: str, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The array ``key`` of the archive, read only if its .npy header declares ``shape`` and
    ``dtype`` and inflated no further than their size: a hostile member costs no more memory
    than the array the metadata (already checked) expects."""
    try:
        info = z.getinfo(f"{key}.npy")
        with z.open(info) as f:
            found_shape, fortran, found_dtype = _npy_header(f)
            if tuple(found_shape) != tuple(shape) or found_dtype != dtype or fortran or found_dtype.hasobject:
                raise CheckpointError(f"{path}: array {key!r} is corrupted (its header declares "
                                      f"{found_dtype}{tuple(found_shape)}, the metadata {dtype}{tuple(shape)})")
            nbytes = math.prod(shape) * dtype.itemsize
            data = f.read(nbytes + 1)
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - zipfile and the .npy reader raise many types
        raise CheckpointError(f"{path}: array {key!r} is corrupted ({type(err).__name__}: {err})") from err
    if len(data) != nbytes:
        raise CheckpointError(f"{path}: array {key!r} is corrupted ({len(data)} bytes, "
                              f"{'more than' if len(data) > nbytes else 'not'} the {nbytes} its shape needs)")
    return np.frombuffer(bytearray(data), dtype=dtype).reshape(shape)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's metadata, checked against its schema; nothing else is read (at most
    ``MAX_METADATA_BYTES`` are inflated)."""
    path = os.fspath(path)
    with _open(path) as z:
        names = z.namelist()
        if f"{_META}.npy" not in names:
            raise CheckpointError(f"{path}: no {_META} entry; not an anynet checkpoint")
        size = z.getinfo(f"{_META}.npy").file_size
        if size > MAX_METADATA_BYTES:
            raise CheckpointError(f"{path}: the metadata declares {size} bytes, more than a checkpoint's "
                                  f"{MAX_METADATA_BYTES}; not an anynet checkpoint")
        raw = _member_bytes(z, path, size)
    try:
        meta = json.loads(raw.decode("utf-8"))
        _check_schema(path, meta)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: the metadata is corrupted ({err})") from err
    except RecursionError:
        raise CheckpointError(f"{path}: the metadata is nested too deeply; not an anynet checkpoint") from None
    members = {n[:-len(".npy")] for n in names if n.endswith(".npy")} - {_META}
    if members != set(meta["arrays"]) or len(names) != len(members) + 1:
        raise CheckpointError(f"{path}: arrays {sorted(names)} do not match the metadata's {sorted(meta['arrays'])}")
    return meta


def _member_bytes(z: zipfile.ZipFile, path: str, size: int) -> bytes:
    """The metadata member's uint8 payload (its declared size bounds what is inflated)."""
    try:
        with z.open(f"{_META}.npy") as f:
            shape, _, dtype = _npy_header(f)
            if dtype != np.uint8 or len(shape) != 1 or shape[0] > size:
                raise CheckpointError(f"{path}: the metadata entry is not UTF-8 text; not an anynet checkpoint")
            data = f.read(shape[0] + 1)
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - zipfile and the .npy reader raise many types
        raise CheckpointError(f"{path}: the metadata is corrupted ({type(err).__name__}: {err})") from err
    if len(data) != shape[0]:
        raise CheckpointError(f"{path}: the metadata is truncated or corrupted")
    return data


def read(path: str | os.PathLike, keys: Any = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The checkpoint's metadata and host arrays (``keys``: only those), fully verified (the
    metadata's schema, then each array's header, size and SHA-256 against the metadata as it is
    inflated: no member is inflated past the size the metadata gives it)."""
    path = os.fspath(path)
    meta = read_metadata(path)
    return meta, _arrays(path, meta, keys)


def _arrays(path: str, meta: dict[str, Any], keys: Any = None) -> dict[str, np.ndarray]:
    """The arrays ``meta`` (already read and checked) lists, each verified as it is inflated."""
    listed = meta["arrays"]
    arrays = {}
    with _open(path) as z:
        for key in (listed if keys is None else keys):
            want = listed[key]
            a = _member(z, path, key, tuple(want["shape"]), np.dtype(want["dtype"]))
            if _digest(a) != want["sha256"]:
                raise CheckpointError(f"{path}: array {key!r} is corrupted (its SHA-256 differs from the metadata)")
            arrays[key] = a
    return arrays


def load(path: str | os.PathLike, model: Any = None, optimizer: Any = None,
         restore_rng: bool = True, cast: bool = False) -> dict[str, Any]:
    """Restore ``model`` and ``optimizer`` (when given) and the RNG from ``path``; returns the metadata.

    Everything is read and checked first (the metadata against its schema, then keys,
    shapes and dtypes against the model, the optimizer's state, the RNG state);
    nothing is assigned unless all of it fits, else ``CheckpointError``. ``cast=True`` takes
    floating arrays of another floating dtype into the model's (a bfloat16 run's weights into a
    float32 model, for export or inference on a device without bfloat16).
    """
    path = os.fspath(path)
    meta = read_metadata(path)
    listed = meta["arrays"]
    if model is not None:  # the shapes checked from the metadata before any array is inflated
        own = model.state_dict()
        saved_keys = {k[len("model/"):]: v for k, v in listed.items() if k.startswith("model/")}
        _refuse_errors(path, check_keys, f"the {meta['model']['class']} saved here and this {type(model).__name__}",
                       own, saved_keys)
        widened = meta.get("widened", {})
        for key, want in saved_keys.items():
            mine = own[key]
            saved = widened.get(f"model/{key}", np.dtype(want["dtype"]).name)
            castable = cast and saved in backend.FLOAT_NAMES and _dtype_name(mine.dtype) in backend.FLOAT_NAMES
            if tuple(want["shape"]) != tuple(mine.shape) or (saved != _dtype_name(mine.dtype) and not castable):
                raise CheckpointError(f"{path}: {key} is {saved}{tuple(want['shape'])} in the file, "
                                      f"{_dtype_name(mine.dtype)}{tuple(mine.shape)} in the model")
    params = model.params if model is not None else []
    if optimizer is not None:
        _check_optimizer_listing(path, meta, optimizer, params)
    arrays = _arrays(path, meta)  # the metadata read above, not again
    model_state = {k[len("model/"):]: a for k, a in arrays.items() if k.startswith("model/")}
    opt_state = {}
    if model is not None:
        widened = meta.get("widened", {})
        for key, a in model_state.items():
            mine = own[key]
            if _dtype_name(mine.dtype) != a.dtype.name:  # narrowed back (or cast) on the model's device
                dev = backend.device_of(mine)
                model_state[key] = dev.xp.astype(backend.to_device(a, dev), mine.dtype)
    if optimizer is not None:
        saved = meta["optimizer"]
        opt_arrays = {k[len("optimizer/"):]: a for k, a in arrays.items() if k.startswith("optimizer/")}
        opt_state = {**saved["scalars"], **opt_arrays}
        _refuse_errors(path, optimizer.check_state, opt_state, params)
    if restore_rng and meta["rng"] is not None:
        _refuse_errors(path, backend.check_rng_state, meta["rng"])
    # every check passed: assign
    if model is not None:
        model.load_state_dict(model_state)
    if optimizer is not None:
        optimizer.load_state_dict(opt_state, params)
    if restore_rng and meta["rng"] is not None:
        backend.set_rng_state(meta["rng"])
    return meta


def _check_optimizer_listing(path: str, meta: dict[str, Any], optimizer: Any, params: list[Any]) -> None:
    """The optimizer's class, and each state array's shape (that of its parameter), from the
    metadata alone."""
    saved = meta["optimizer"]
    if saved is None:
        raise CheckpointError(f"{path}: holds no optimizer state")
    if saved["class"] != type(optimizer).__name__:
        raise CheckpointError(f"{path}: optimizer state of {saved['class']}, not {type(optimizer).__name__}")
    for key, want in meta["arrays"].items():
        if not key.startswith("optimizer/"):
            continue
        index, _, slot = key[len("optimizer/state."):].partition(".")
        if not key.startswith("optimizer/state.") or not index.isdigit() or not slot or int(index) >= len(params):
            raise CheckpointError(f"{path}: the optimizer state holds {key[len('optimizer/'):]!r}, which names no "
                                  f"parameter state of the {len(params)} parameters")
        if tuple(want["shape"]) != params[int(index)].shape:
            raise CheckpointError(f"{path}: state {slot} of parameter {index} has shape {tuple(want['shape'])}, "
                                  f"the parameter {params[int(index)].shape}")


def _refuse_errors(path: str, check: Any, *args: Any) -> None:
    """Run ``check(*args)``; its ValueError or TypeError becomes a CheckpointError naming ``path``."""
    try:
        check(*args)
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: {err}") from None


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_schema(path: str, meta: Any) -> None:
    """Every field's type and range, so that nothing later meets a field it cannot read."""
    def need(field: str, value: Any, ok: bool, what: str) -> None:
        if not ok:
            raise CheckpointError(f"{path}: the metadata's {field} must be {what}, got {value!r:.120}")

    need("top level", meta, isinstance(meta, dict), "a JSON object")
    if meta.get("format") != FORMAT or not _is_int(meta.get("version")) or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: format {meta.get('format')!r:.60} version {meta.get('version')!r:.60}, "
                              f"expected {FORMAT!r} version {VERSION}")
    fields = {"format", "version", "model", "optimizer", "trainer", "rng", "metadata", "arrays"}
    need("field list", sorted(meta), fields <= set(meta) <= fields | {"widened"},
         f"{sorted(fields)} and optionally 'widened'")
    model = meta["model"]
    need("model", model, isinstance(model, dict) and set(model) == {"class", "num_params"},
         "an object of class and num_params")
    need("model.class", model["class"], isinstance(model["class"], str), "a class name")
    need("model.num_params", model["num_params"], _is_int(model["num_params"]), "a non-negative integer")
    opt = meta["optimizer"]
    if opt is not None:
        need("optimizer", opt, isinstance(opt, dict) and set(opt) == {"class", "scalars"},
             "null or an object of class and scalars")
        need("optimizer.class", opt["class"], isinstance(opt["class"], str), "a class name")
        need("optimizer.scalars", opt["scalars"], isinstance(opt["scalars"], dict) and all(
            _is_scalar(v) or (isinstance(v, list) and all(map(_is_scalar, v))) for v in opt["scalars"].values()),
            "an object of numbers, strings and lists of them")
    trainer = meta["trainer"]
    need("trainer", trainer, isinstance(trainer, dict)
         and set(trainer) <= {"epoch", "history", "shuffle_seed", "rank_rng", "precision"},
         "an object of epoch, history, precision and (several processes) shuffle_seed and rank_rng")
    if "precision" in trainer:
        _check_precision(need, trainer["precision"])
    if "epoch" in trainer:
        need("trainer.epoch", trainer["epoch"], _is_int(trainer["epoch"]), "a non-negative integer")
    seed = trainer.get("shuffle_seed")
    need("trainer.shuffle_seed", seed, seed is None or _is_int(seed), "null or a non-negative integer")
    ranks = trainer.get("rank_rng")
    need("trainer.rank_rng", ranks, ranks is None or isinstance(ranks, list), "null or a list of RNG states")
    for i, state in enumerate(ranks or []):
        try:
            backend.check_rng_state(state)  # each rank restores its own: all must be readable
        except (ValueError, TypeError, KeyError) as err:
            raise CheckpointError(f"{path}: the metadata's trainer.rank_rng[{i}] is not an RNG state ({err})") from None
    history = trainer.get("history", {})
    need("trainer.history", history, isinstance(history, dict) and all(
        isinstance(v, list) and all(map(_is_number, v)) for v in history.values()), "an object of lists of numbers")
    rng = meta["rng"]
    need("rng", rng, rng is None or isinstance(rng, dict), "null or an object (checked when restored)")
    need("metadata", meta["metadata"], isinstance(meta["metadata"], dict), "an object")
    arrays = meta["arrays"]
    need("arrays", arrays, isinstance(arrays, dict), "an object")
    widened = meta.get("widened", {})
    need("widened", widened, isinstance(widened, dict) and all(
        k in arrays and v == "bfloat16" for k, v in widened.items()), "an object naming arrays stored as float32")
    for key, want in arrays.items():
        need(f"arrays[{key!r}]", want, key.startswith(("model/", "optimizer/")) and isinstance(want, dict)
             and set(want) == {"shape", "dtype", "sha256"} and isinstance(want["shape"], list)
             and all(map(_is_int, want["shape"])) and isinstance(want["dtype"], str)
             and isinstance(want["sha256"], str), "a model/ or optimizer/ array's shape, dtype and sha256")
        need(f"arrays[{key!r}].dtype", want["dtype"], _numeric_dtype(want["dtype"]), "a numeric dtype")


def _numeric_dtype(name: str) -> bool:
    try:
        return np.dtype(name).kind in "biuf"
    except TypeError:
        return False


def _check_precision(need: Any, prec: Any) -> None:
    """The trainer's precision: its dtypes (checked against the run's when loaded) and the loss
    scaler's state."""
    names = backend.FLOAT_NAMES
    need("trainer.precision", prec, isinstance(prec, dict) and {"compute", "master"} <= set(prec)
         <= {"compute", "master", "loss_scaler"} and prec["compute"] in names and prec["master"] in names,
         f"an object of compute and master dtypes (of {', '.join(names)}) and optionally loss_scaler")
    scaler = prec.get("loss_scaler", {"scale": 1.0, "good_steps": 0})
    need("trainer.precision.loss_scaler", scaler, isinstance(scaler, dict)
         and set(scaler) == {"scale", "good_steps"} and _is_number(scaler["scale"]) and scaler["scale"] > 0
         and _is_int(scaler["good_steps"]), "an object of a positive scale and a count of good_steps")
