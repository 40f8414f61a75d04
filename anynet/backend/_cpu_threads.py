"""The convolution kernels' batch chunks on several CPU cores at once: Python threads, each with
one-threaded BLAS.

The chunks the executor plans for ``anynet.kernels``' reference convolutions are independent
(im2col copies, then a product), and NumPy releases the
GIL in its copies, ufuncs and BLAS calls, so one Python thread per core, each running whole
chunks, keeps every core busy where OpenBLAS's own threads split each product but leave the
copies between products to one core. Measured on a 2-core machine (benchmarks/results-cpu.md):
DeepConvNet's step takes 106-210 ms with OpenBLAS on 2 threads, 136 ms on 1, and 88-95 ms on 1 with two
chunk threads. But OpenBLAS's idle threads spin for a while after each product and take the
cores from the chunk threads: with OpenBLAS started on 2 threads, chunk threads make the step
slower (130-148 ms), even with BLAS held at one thread around them.

So by default the chunks run on all cores only where BLAS runs one thread (``OPENBLAS_NUM_THREADS=1``,
or ``OMP_NUM_THREADS=1``, before NumPy loads), as threadpoolctl (``pip install 'anynet[cpu]'``)
reports; without threadpoolctl BLAS's threads are unknown and the chunks run in order.
``anynet.configure(cpu_workers=N)`` sets the number of threads (1: in order); where BLAS has
more threads, threadpoolctl holds it at one around the chunks (without threadpoolctl a configured
count runs beside BLAS as it is). A map inside a map runs in order.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from .. import config
from ._executor import Executor

__all__ = ["CpuThreads", "cpu_workers", "parallel_map"]

_lock = threading.Lock()
_inside = threading.local()
_pools: dict[int, ThreadPoolExecutor] = {}  # by thread count: a later configure may change it
_controller: Any = None  # threadpoolctl's ThreadpoolController; False when it is not installed
_automatic: int | None = None  # the workers chosen without a configured count, decided once


def _blas_controller() -> Any:
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    return _controller or None


def _blas_threads() -> int | None:
    """Threads NumPy's BLAS runs, as threadpoolctl reports; None when unknown."""
    ctl = _blas_controller()
    if ctl is None:
        return None
    counts = [lib.num_threads for lib in ctl.lib_controllers if lib.user_api == "blas"]
    return max(counts) if counts else None


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_workers() -> int:
    """Threads a convolution's chunks are spread over (1: in order).

    **Returns:** ``anynet.config.current().cpu_workers`` (read at every call, so a later
    ``anynet.configure`` takes effect), else all cores where BLAS is known to run one thread,
    else 1 (decided once).
    """
    configured = config.current().cpu_workers
    if configured is not None:
        return configured
    global _automatic
    if _automatic is None:
        _automatic = _cores() if _blas_threads() == 1 else 1
    return _automatic


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(item) for item in items]``, the items spread over ``cpu_workers()`` threads with BLAS
    at one thread each; in order when there is one worker, one item, or a map already running."""
    n = cpu_workers()
    if n < 2 or len(items) < 2 or getattr(_inside, "active", False):
        return [fn(item) for item in items]
    with _lock:
        pool = _pools.get(n)
        if pool is None:
            pool = _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="anynet-cpu")

    def run(item: Any) -> Any:
        _inside.active = True
        try:
            return fn(item)
        finally:
            _inside.active = False

    controller = _blas_controller()
    if controller is None or _blas_threads() == 1:
        return list(pool.map(run, items))
    with controller.limit(limits=1, user_api="blas"):
        return list(pool.map(run, items))


class CpuThreads(Executor):
    """The host's executor: chunks on ``cpu_workers()`` threads (see the module's notes)."""

    @property
    def workers(self) -> int:
        """``cpu_workers()``: the configured count, else the automatic one."""
        return cpu_workers()

    def parallel_map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(item) for item in items]`` on the CPU threads, results in order (see ``parallel_map``)."""
        return parallel_map(fn, items)
