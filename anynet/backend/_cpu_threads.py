"""A layer's batch chunks on several CPU cores at once: Python threads, each with one-threaded BLAS.

A conv layer's chunks are independent (im2col copies, then a product), and NumPy releases the
GIL in its copies, ufuncs and BLAS calls, so one Python thread per core, each running whole
chunks, keeps every core busy where OpenBLAS's own threads split each product but leave the
copies between products to one core. Measured on a 2-core machine (benchmarks/results-cpu.md):
DeepConvNet's step takes 106-210 ms with OpenBLAS on 2 threads, 136 ms on 1, and 88-95 ms on 1 with two
chunk threads. But OpenBLAS's idle threads spin for a while after each product and take the
cores from the chunk threads: with OpenBLAS started on 2 threads, chunk threads make the step
slower (130-148 ms), even with BLAS held at one thread around them.

So by default the chunks run on all cores only where BLAS runs one thread
(``OPENBLAS_NUM_THREADS=1``, or ``OMP_NUM_THREADS=1``, before NumPy loads), and in order
otherwise. ``ANYNET_CPU_WORKERS=N`` sets the number of threads (1: in order); where BLAS has
more threads, threadpoolctl (``pip install 'anynet[cpu]'``) holds it at one around the chunks.
A map inside a map runs in order.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

__all__ = ["cpu_workers", "parallel_map"]

_lock = threading.Lock()
_inside = threading.local()
_pool: ThreadPoolExecutor | None = None
_controller: Any = None  # threadpoolctl's ThreadpoolController; False when it is not installed
_workers: int | None = None


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


def _blas_threads() -> int:
    """Threads NumPy's BLAS runs (threadpoolctl's answer, else what the environment asked for)."""
    ctl = _blas_controller()
    if ctl is not None:
        counts = [lib.num_threads for lib in ctl.lib_controllers if lib.user_api == "blas"]
        if counts:
            return max(counts)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return os.cpu_count() or 1


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_workers() -> int:
    """Threads a layer's chunks are spread over (1: in order), decided once: ``ANYNET_CPU_WORKERS``,
    else all cores where BLAS runs one thread, else 1."""
    global _workers
    if _workers is None:
        env = os.environ.get("ANYNET_CPU_WORKERS", "").strip()
        if env:
            if not env.isdigit() or int(env) < 1:
                raise ValueError(f"ANYNET_CPU_WORKERS must be a whole number >= 1, got {env!r}")
            n = int(env)
            if n > 1 and _blas_threads() > 1 and _blas_controller() is None:
                n = 1  # BLAS cannot be held at one thread: chunk threads would fight its threads
        else:
            n = _cores() if _blas_threads() == 1 else 1
        _workers = n
    return _workers


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(item) for item in items]``, the items spread over ``cpu_workers()`` threads with BLAS
    at one thread each; in order when there is one worker, one item, or a map already running."""
    global _pool
    n = cpu_workers()
    if n < 2 or len(items) < 2 or getattr(_inside, "active", False):
        return [fn(item) for item in items]
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(n, thread_name_prefix="anynet-cpu")

    def run(item: Any) -> Any:
        _inside.active = True
        try:
            return fn(item)
        finally:
            _inside.active = False

    controller = _blas_controller()
    if controller is None or _blas_threads() == 1:
        return list(_pool.map(run, items))
    with controller.limit(limits=1, user_api="blas"):
        return list(_pool.map(run, items))
