"""How a device runs a kernel's independent pieces of work, and how much memory they may take.

The convolution kernels (``anynet.kernels``) ask ``plan`` for batch chunks whose im2col columns
fit ``work_budget`` and hand them to ``parallel_map``; a device with several ``workers`` runs them
at once. The data loader
keeps a whole data set on the device when it fits ``data_budget``. The base ``Executor`` suits a
CPU device: small chunks (cache-sized), run in order. ``GpuExecutor`` allows GPU-sized chunks;
``_cpu_threads.CpuThreads`` runs chunks on the CPU's cores.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

__all__ = ["CPU_WORK_BUDGET", "GPU_WORK_BUDGET", "Executor", "GpuExecutor"]

# 16 MiB of columns suits CPU caches: a fresh 40 MB array costs more in page faults than its copy.
CPU_WORK_BUDGET = 16 << 20
# On a GPU every chunk costs kernel launches: DeepConvNet at batch 1024 in one or two pieces.
GPU_WORK_BUDGET = 1 << 30


class Executor:
    """Work on a device with its own memory, in order, in cache-sized pieces.

    ``workers``: threads ``parallel_map`` may spread items over (1: in order);
    ``work_budget``: bytes one temporary work array may take (conv's im2col chunks);
    ``data_budget``: bytes of a data set the loader may keep on the device for a whole fit.
    """

    workers: int = 1
    work_budget: int = CPU_WORK_BUDGET
    data_budget: int = 1 << 30

    def parallel_map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(item) for item in items]``, in order.

        **Arguments:**

        - ``fn``: applied to each item; the items must be independent (an executor with several
          ``workers`` may run them at once).
        - ``items``: the work, e.g. a convolution's batch chunks (see ``plan``).

        **Returns:** the results, in the order of ``items``.
        """
        return [fn(item) for item in items]

    def plan(self, N: int | None, sample_bytes: int) -> list[tuple[int, int | None]]:
        """Batch ranges for work whose temporary arrays take ``sample_bytes`` per sample: each
        range's share stays under ``work_budget`` divided among the ``workers``, and the count of
        ranges is a multiple of theirs (each worker gets as many).

        **Arguments:**

        - ``N``: the batch size; None for a symbolic one (a traced graph): one range.
        - ``sample_bytes``: bytes of temporary work per sample (a conv's im2col columns).

        **Returns:** ``[(n0, n1), ...]`` covering ``range(N)`` in order; ``[(0, None)]`` when N is None.
        """
        if N is None:
            return [(0, None)]
        workers = max(1, min(self.workers, N))
        per_chunk = max(1, self.work_budget // workers // max(1, sample_bytes))
        count = -(-N // per_chunk)
        count = -(-count // workers) * workers
        per = -(-N // count)
        return [(n, min(N, n + per)) for n in range(0, N, per)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers}, work_budget={self.work_budget})"


class GpuExecutor(Executor):
    """Work on one GPU: large chunks, and a quarter of its memory for a data set.

    **Arguments:**

    - ``total_memory``: returns the GPU's memory in bytes (asked once, on the first
      ``data_budget``); None: the default ``data_budget``.
    """

    work_budget = GPU_WORK_BUDGET

    def __init__(self, total_memory: Callable[[], int] | None = None):
        self._total_memory = total_memory
        self._total: int | None = None

    @property
    def data_budget(self) -> int:
        """A quarter of the GPU's memory, leaving the rest to parameters, activations and the
        library's memory pool."""
        if self._total_memory is None:
            return Executor.data_budget
        if self._total is None:
            self._total = int(self._total_memory())
        return self._total // 4
