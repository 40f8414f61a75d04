"""Messages between processes (``anynet.training.parallel``): a device's arrays as host buffers
for MPI, and a device-side communicator where the library has one (NCCL on CuPy)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["Comm"]


class Comm:
    """How one device's arrays travel between processes: through host copies by default.

    **Arguments:**

    - ``dev``: the ``Device`` whose arrays are sent and received.
    """

    def __init__(self, dev: Any):
        self.dev = dev

    def host_buffer(self, x: Any) -> tuple[np.ndarray, bool]:
        """``x`` (a contiguous array on the device) as a writable host NumPy array for a
        message-passing library.

        **Returns:** the host array, and whether it is ``x``'s own memory (writing it writes
        ``x``; else read the result back with ``from_host``).
        """
        a = self.dev.to_numpy(x)
        return (a if a.flags.writeable else a.copy()), False

    def from_host(self, a: np.ndarray) -> Any:
        """The host array ``a`` on the device, sharing its memory where the library allows."""
        return self.dev.from_numpy(a)

    def collective(self, size: int, rank: int, share: Callable[[Any], Any]) -> Any:
        """A device-side communicator among ``size`` processes, or None: messages then go
        through host buffers.

        **Arguments:**

        - ``size``, ``rank``: the number of processes and this one's rank.
        - ``share``: ``share(obj)`` returns rank 0's ``obj`` on every rank (how NCCL's id travels).

        **Returns:** an object with ``allreduce_sum(x)`` and ``broadcast(x)`` (in place), or None.
        """
        return None
