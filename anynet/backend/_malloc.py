"""Host memory: let the C allocator keep freed blocks for the next training step.

A training step on the CPU frees and reallocates the same large arrays (columns, activations,
gradients) every step. With glibc's defaults, blocks from 128 KiB up are mapped fresh from the
kernel and unmapped when freed, and the heap is trimmed back whenever its free top passes
128 KiB, so each step pays a page fault for every 4 KiB it touches again: 2,000-4,000 faults
and 15-30% of a conv net's step on these machines. Raising glibc's mmap and trim thresholds
(``mallopt``; the same knobs as the ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``
environment variables) keeps up to ``TRIM_BYTES`` of freed memory in the process for reuse.

Process-wide, so it is done in one place: when anynet's CPU device is set up (``_numpy.cpu``),
if ``anynet.config.current().keep_freed_memory`` (the default). Nothing happens on other C
libraries (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["keep_freed_memory", "keeps_freed_memory"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_BYTES = 32 << 20  # the largest mmap threshold glibc accepts on 64-bit machines
TRIM_BYTES = 256 << 20

_done: bool | None = None  # None: not tried yet


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for the whole process (tried once).

    **Returns:** True when they are raised (False on other C libraries).
    """
    global _done
    if _done is None:
        _done = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt"):
                _done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(
                    libc.mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
        except OSError:  # no C library to load: leave the allocator alone
            pass
    return _done


def keeps_freed_memory() -> bool:
    """Whether ``keep_freed_memory`` raised the thresholds in this process (changes nothing)."""
    return bool(_done)
