"""Reading the IDX files of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the values, row-major
and big-endian. Files ending in ``.gz`` are decompressed on the fly.

The header is read and checked first, and only as many bytes as it declares are read or
inflated (one more tells trailing data): a small hostile file (a gzip bomb, a header whose
sizes wrap around) costs no more memory than the array it claims to hold, and that array
is bounded by ``max_bytes``.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import IO

import numpy as np

from ..validation import check_int

__all__ = ["IDXError", "MAX_BYTES", "MAX_DIMS", "read_idx"]

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# MNIST's largest file holds 47 MB (60000 images of 28x28 bytes); the limit leaves room for
# larger IDX sets while refusing the gigabytes a hostile header may declare.
MAX_BYTES = 1 << 30
"""The default bound on the bytes ``read_idx`` inflates (1 GiB), whatever a header declares."""
# Images and labels use 1 to 4 dimensions; NumPy itself stops at 64.
MAX_DIMS = 16
"""The most dimensions an IDX header may declare."""
_CHUNK = 1 << 20  # what one read inflates at most


class IDXError(ValueError):
    """The file is not a well-formed IDX file (or not the one expected)."""


def read_idx(path: str | os.PathLike, shape: tuple[int | None, ...] | None = None,
             max_bytes: int = MAX_BYTES) -> np.ndarray:
    """The array stored in the IDX file at ``path`` (``.gz`` or raw), in native byte order.

    **Arguments:**
        path: the file; a name ending in ``.gz`` is read through gzip.
        shape: the shape expected (None entries match any size), checked against the header
            before any data is read.
        max_bytes: the largest array accepted (default ``MAX_BYTES``, 1 GiB).

    **Returns:** a NumPy array of the header's shape and type (uint8 for MNIST).

    Raises IDXError naming the file for a wrong magic number, more than ``MAX_DIMS``
    dimensions, an array over ``max_bytes``, an unexpected shape, or too few or too many
    data bytes; nothing beyond the declared size (plus one byte) is ever inflated.
    """
    path = os.fspath(path)
    max_bytes = check_int("read_idx", "max_bytes", max_bytes, minimum=1)
    compressed = path.endswith(".gz")
    try:
        with (gzip.open if compressed else open)(path, "rb") as f:
            dims, dtype = _header(path, f, max_bytes)
            if shape is not None and (len(shape) != len(dims)
                                      or any(s is not None and s != d for s, d in zip(shape, dims))):
                raise IDXError(f"{path}: expected shape {tuple(shape)}, the header says {dims}")
            size = None if compressed else os.fstat(f.fileno()).st_size
            data = _data(path, f, dims, math.prod(dims) * dtype.itemsize, size)
    except (OSError, EOFError, zlib.error) as err:
        raise IDXError(f"{path}: cannot read ({type(err).__name__}: {err}); the file may be truncated") from err
    # a uint8 file comes back as a view of the buffer read (no byte order to change); wider types swap once
    return data.view(dtype).reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def _header(path: str, f: IO[bytes], max_bytes: int) -> tuple[tuple[int, ...], np.dtype]:
    """The dimensions and type the header of ``f`` declares, checked before any data is read."""
    magic = f.read(4)
    if len(magic) < 4:
        raise IDXError(f"{path}: {len(magic)} bytes, too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", magic)
    if zero != 0 or code not in _TYPES or ndim == 0:
        raise IDXError(f"{path}: bad IDX magic number 0x{magic.hex()} (expected 0x0000, a type code "
                       f"in {sorted(hex(c) for c in _TYPES)} and the number of dimensions)")
    if ndim > MAX_DIMS:
        raise IDXError(f"{path}: the header declares {ndim} dimensions, more than the {MAX_DIMS} an IDX "
                       "file may have here; the file is damaged or not an IDX file")
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise IDXError(f"{path}: header announces {ndim} dimensions but the file ends after {4 + len(raw)} bytes")
    dims = struct.unpack(f">{ndim}I", raw)
    dtype = np.dtype(_TYPES[code])
    # Python integers: a product of uint32s cannot wrap around to a small size here
    nbytes, most = math.prod(dims) * dtype.itemsize, max_bytes // dtype.itemsize
    declared = f"{path}: the header declares shape {dims} of {dtype.name}"
    big = [i for i, d in enumerate(dims) if d > most]
    if big:
        raise IDXError(f"{declared}: dimension {big[0]} ({dims[big[0]]}) is over the limit of {most} values "
                       f"(max_bytes={max_bytes}); pass a larger max_bytes to read larger files")
    if nbytes > max_bytes:
        raise IDXError(f"{declared}: {nbytes} bytes, over the limit of {max_bytes} (max_bytes); "
                       "pass a larger max_bytes to read larger files")
    return dims, dtype


def _data(path: str, f: IO[bytes], dims: tuple[int, ...], need: int, size: int | None) -> np.ndarray:
    """The ``need`` data bytes after the header as uint8, read in chunks into one buffer; ``size``
    is a raw file's size (None for a compressed one, whose size is unknown until inflated)."""
    head = 4 + 4 * len(dims)
    if size is not None and size - head != need:  # a raw file's size tells, without reading
        raise IDXError(f"{path}: the header {dims} needs {need} data bytes, the file has {size - head}"
                       + (" (truncated)" if size - head < need else ""))
    buf = np.empty(need, dtype=np.uint8)
    view, got = memoryview(buf), 0
    while got < need:
        n = f.readinto(view[got:got + _CHUNK])
        if not n:
            raise IDXError(f"{path}: the header {dims} needs {need} data bytes, the file has {got} (truncated)")
        got += n
    if f.read(1):
        raise IDXError(f"{path}: the header {dims} needs {need} data bytes, the file holds more (trailing data; "
                       "read no further)")
    return buf
