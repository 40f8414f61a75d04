"""Weights as ``.safetensors`` files: the format of the Hugging Face hub and most model zoos.

``save_weights(model, path)`` writes ``model.state_dict()`` (parameters and buffers, by the same
names) with the ``safetensors`` package's NumPy API, atomically (``anynet.files.atomic_write``);
``load_weights(model, path)`` reads one back into a model of the same architecture on any device.
bfloat16 arrays, which NumPy lacks, are stored widened to float32 (exactly) and narrowed back on
load. The file's metadata names the anynet version and the model's class.

Reading is bounded: the 8-byte header length is checked against the file's size and a sane maximum
before the header is read, and every name, dtype, shape and byte range it declares is checked
against the model before any array is read; a file that does not fit is a ``CheckpointError``
and the model is left as it was.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
from typing import Any

from . import backend
from .files import atomic_write
from .training.checkpoint import CheckpointError
from .training.checkpoint import _to_host as to_host

__all__ = ["MAX_HEADER_BYTES", "load_weights", "read_header", "save_weights"]

FORMAT = "anynet-weights"
MAX_HEADER_BYTES = 100_000_000
"""The largest JSON header ``load_weights`` reads (bytes): safetensors' own reader refuses headers over
100 MB, and a model's header is a few kilobytes."""
# safetensors dtype codes by the dtype names they hold (bfloat16 is written as F32, widened)
_NAMES = {"F16": "float16", "F32": "float32", "F64": "float64", "BF16": "bfloat16", "I64": "int64",
          "I32": "int32"}
_ITEMSIZE = {"F16": 2, "F32": 4, "F64": 8, "BF16": 2, "I64": 8, "I32": 4}


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def _version() -> str:
    # the package's own __version__, read when saving (importing it here would be an arrow back up)
    return str(getattr(sys.modules.get("anynet"), "__version__", "unknown"))


def _safetensors_numpy(where: str) -> Any:
    """safetensors' NumPy API, or an ImportError that says how to install it."""
    try:
        import safetensors.numpy
    except ImportError as err:
        raise ImportError(f"{where}: needs the safetensors package (pip install 'anynet[safetensors]')") from err
    return safetensors.numpy


def save_weights(model: Any, path: str | os.PathLike) -> str:
    """Write ``model``'s parameters and buffers to the ``.safetensors`` file ``path``, atomically.

    Names are those of ``model.state_dict()`` ("0.W", "1.running_mean", ...); arrays come to the host
    through the backend (from any device); bfloat16 is stored widened to float32, and the metadata
    lists the widened names so that ``load_weights`` narrows them back.

    **Arguments:**

    - ``model``: a layer or model (anything with ``state_dict()``).
    - ``path``: the file to write (its folder is created when missing).

    **Returns:** the path written.
    """
    save = _safetensors_numpy("save_weights").save
    path = os.fspath(path)
    arrays, widened = {}, {}
    for key, value in model.state_dict().items():  # bfloat16 widened as checkpoints widen it, and listed
        arrays[key] = to_host(value, widened, key)
    metadata = {"format": FORMAT, "anynet_version": _version(), "model": type(model).__name__,
                "widened": json.dumps(list(widened))}
    data = save(arrays, metadata=metadata)
    with atomic_write(path) as f:
        f.write(data)
    return path


def read_header(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, str], int]:
    """The header of the ``.safetensors`` file ``path``, read without its arrays: its length is checked
    against the file's size and ``MAX_HEADER_BYTES`` before it is read.

    **Arguments:**

    - ``path``: the file.

    **Returns:** (tensors: name -> {"dtype", "shape", "data_offsets"}, metadata, byte size of the data
    section); ``CheckpointError`` for a file that is not safetensors.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"load_weights: {path} holds {size} bytes, too few for a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, MAX_HEADER_BYTES):
            raise CheckpointError(f"load_weights: {path} declares a header of {n} bytes, more than the "
                                  f"{size - 8} the file holds after its length (at most {MAX_HEADER_BYTES}); "
                                  "not a safetensors file")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(f"load_weights: {path}: the header is not JSON ({type(err).__name__}); "
                              "not a safetensors file") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"load_weights: {path}: the header is not a JSON object; not a safetensors file")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"load_weights: {path}: __metadata__ must map names to strings")
    return header, metadata, size - 8 - n


def _check_entry(path: str, key: str, entry: Any, mine: Any, widened: set[str]) -> None:
    """Refuse the header's ``entry`` for ``key`` unless its dtype and shape are those of the model's array
    ``mine`` (bfloat16: float32 listed as widened) and its byte range is the size they need."""
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise CheckpointError(f"load_weights: {path}: the header's entry {key!r} lacks dtype, shape or data_offsets")
    want = _dtype_name(mine.dtype)
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    stored = "bfloat16" if code == "F32" and key in widened else _NAMES.get(code, str(code))
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
        raise CheckpointError(f"load_weights: {path}: {key}'s shape {shape!r:.60} is not a list of sizes")
    if stored != want or tuple(shape) != tuple(mine.shape):
        raise CheckpointError(f"load_weights: {path}: {key} is {stored}{tuple(shape)} in the file, "
                              f"{want}{tuple(mine.shape)} in the model")
    nbytes = math.prod(shape) * _ITEMSIZE[code]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] and offsets[1] - offsets[0] == nbytes):
        raise CheckpointError(f"load_weights: {path}: {key}'s data_offsets {offsets!r:.60} do not span the "
                              f"{nbytes} bytes of {want}{tuple(shape)}")


def _check_header(path: str, model: Any, own: dict[str, Any]) -> set[str]:
    """Check every name, dtype, shape and byte range the file declares against ``own`` (the model's
    state) before reading an array; returns the names stored widened (bfloat16 as float32)."""
    header, metadata, data_bytes = read_header(path)
    missing, unexpected = sorted(set(own) - set(header)), sorted(set(header) - set(own))
    if missing or unexpected:
        saved = metadata.get("model", "model")
        raise CheckpointError(f"load_weights: {path}: the {saved} saved here does not fit this "
                              f"{type(model).__name__}: missing {missing}, unexpected {unexpected}")
    try:
        widened = set(json.loads(metadata.get("widened", "[]")))
    except (json.JSONDecodeError, TypeError):
        raise CheckpointError(f"load_weights: {path}: the metadata's widened is not a JSON list of names") from None
    end = 0
    for key, entry in header.items():
        _check_entry(path, key, entry, own[key], widened)
        end = max(end, entry["data_offsets"][1])
    if end != data_bytes:
        raise CheckpointError(f"load_weights: {path}: the arrays declare {end} bytes of data, the file holds "
                              f"{data_bytes}; truncated or padded")
    return widened


def load_weights(model: Any, path: str | os.PathLike) -> Any:
    """Load the ``.safetensors`` file ``path`` into ``model`` (on its device, in its dtypes).

    Every name, dtype and shape is checked against ``model.state_dict()`` from the header alone, before
    an array is read (the data read is then the size the model's arrays need); a file that does not fit
    raises ``CheckpointError`` and leaves the model unchanged. Arrays stored widened from bfloat16 are
    narrowed back.

    **Arguments:**

    - ``model``: a model of the architecture the file was saved from.
    - ``path``: the ``.safetensors`` file.

    **Returns:** ``model``.
    """
    load = _safetensors_numpy("load_weights").load
    path = os.fspath(path)
    own = model.state_dict()
    widened = _check_header(path, model, own)
    with open(path, "rb") as f:
        data = f.read()
    try:
        arrays = load(data)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own SafetensorError and others
        raise CheckpointError(f"load_weights: {path}: not a readable safetensors file "
                              f"({type(err).__name__}: {err})") from None
    dev = model.device
    state = {}
    for key, a in arrays.items():
        if key in widened:  # narrowed back on the model's device (NumPy has no bfloat16)
            state[key] = dev.xp.astype(backend.to_device(a, dev), own[key].dtype)
        else:
            state[key] = a
    model.load_state_dict(state)
    return model
