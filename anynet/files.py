"""Writing files so that nothing is lost: every file anynet writes (checkpoints, ONNX exports,
weights, histories, plots) goes through ``atomic_write``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator

__all__ = ["atomic_write"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", newline: str | None = None) -> Iterator[IO]:
    """A file object whose contents replace ``path`` only when the block ends without an
    exception: written to a temporary file in the same folder, flushed, fsynced and renamed over
    ``path`` (an interrupted or failed write leaves the previous file as it was, and no
    temporary file behind). The file gets the mode an ordinary ``open()`` would give it (0666
    less the umask), so other users of a shared folder can read it as they could before.

    **Arguments:**

    - ``path``: the file to write (its folder is created when missing).
    - ``mode``: "wb" (default) or "w" (text, UTF-8); ``newline`` as for ``open()``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}-", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        kwargs = {} if mode == "wb" else {"encoding": "utf-8", "newline": newline}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
