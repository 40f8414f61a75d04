"""Reading the IDX files of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the values, row-major
and big-endian. Files ending in ``.gz`` are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

__all__ = ["IDXError", "read_idx"]

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IDXError(ValueError):
    """The file is not a well-formed IDX file (or not the one expected)."""


def read_idx(path: str | os.PathLike, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """The array stored in the IDX file at ``path`` (``.gz`` or raw).

    ``shape`` (None entries match any size) is checked against the header.
    Raises IDXError naming the file for a wrong magic number, an unexpected
    shape, or too few or too many data bytes.
    """
    path = os.fspath(path)
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise IDXError(f"{path}: cannot read ({type(err).__name__}: {err}); the file may be truncated") from err
    if len(raw) < 4:
        raise IDXError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _TYPES or ndim == 0:
        raise IDXError(f"{path}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x0000, a type code "
                       f"in {sorted(hex(c) for c in _TYPES)} and the number of dimensions)")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise IDXError(f"{path}: header announces {ndim} dimensions but the file ends after {len(raw)} bytes")
    dims = struct.unpack(f">{ndim}I", raw[4:head])
    if shape is not None and (len(shape) != ndim or any(s is not None and s != d for s, d in zip(shape, dims))):
        raise IDXError(f"{path}: expected shape {tuple(shape)}, the header says {dims}")
    dtype = np.dtype(_TYPES[code])
    need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - head != need:
        raise IDXError(f"{path}: the header {dims} needs {need} data bytes, the file has {len(raw) - head}"
                       + (" (truncated)" if len(raw) - head < need else ""))
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(dims).astype(dtype.newbyteorder("="))
