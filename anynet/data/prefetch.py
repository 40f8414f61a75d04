"""Batches prepared ahead in background threads, handed out in order (``DataLoader(prefetch=...)``).

The loader decides everything that draws random numbers (the pass's order, augmentation on the
device) in the thread that iterates, exactly as without prefetch; the threads only run the work
that draws nothing: reading the samples from memory or a memory map, the copy to the device and
the cast to the compute dtype. So the batches, their order and a resumed run are those of the
plain loader.

The threads are stopped cleanly: when the pass ends, breaks, raises or is interrupted (Ctrl-C), no
new batch is started, the queued ones are cancelled, and the pass waits at most ``join_timeout``
seconds for the batch a thread is reading (the threads are daemons: an exit never waits on one).
An exception in a thread is raised in the iterating thread, at the batch that failed.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from typing import Any, Callable, Iterator, Sequence

__all__ = ["prefetched"]

_STOP = object()


def prefetched(tasks: Sequence[Callable[[], Any]], depth: int = 2, workers: int = 1,
               join_timeout: float = 10.0) -> Iterator[Any]:
    """``task()`` for each of ``tasks``, in order, each run ahead on one of ``workers`` threads with at
    most ``depth`` results ready or in progress.

    **Arguments:**

    - ``tasks``: callables of no argument; each runs in a thread that sees a copy of the caller's
      context (its device, its random streams).
    - ``depth``: how many results may be prepared ahead (>= 1).
    - ``workers``: the threads (>= 1).
    - ``join_timeout``: seconds the end of a pass waits for each thread.

    **Returns:** an iterator of the results, in the order of ``tasks``.
    """
    depth, workers = max(1, int(depth)), max(1, min(int(workers), int(depth)))
    todo: queue.Queue = queue.Queue()
    results: dict[int, tuple[bool, Any]] = {}
    ready = threading.Condition()
    stop = threading.Event()
    slots = threading.Semaphore(depth)
    for i in range(len(tasks)):
        todo.put(i)
    threads = [threading.Thread(target=contextvars.copy_context().run,
                                args=(_work, tasks, todo, results, ready, stop, slots),
                                name=f"anynet-prefetch-{k}", daemon=True) for k in range(workers)]
    for thread in threads:
        thread.start()
    try:
        for i in range(len(tasks)):
            with ready:
                while i not in results:
                    ready.wait(0.5)  # a timeout keeps Ctrl-C prompt
                    if i not in results and not any(th.is_alive() for th in threads):
                        raise RuntimeError("prefetched: the worker threads ended before every batch was ready")
                ok, value = results.pop(i)
            slots.release()
            if not ok:
                raise value
            yield value
    finally:
        stop.set()
        for _ in threads:
            slots.release()  # wake a thread waiting for room, so that it sees the stop
        for thread in threads:
            thread.join(join_timeout)


def _work(tasks: Sequence[Callable[[], Any]], todo: queue.Queue, results: dict[int, tuple[bool, Any]],
          ready: threading.Condition, stop: threading.Event, slots: threading.Semaphore) -> None:
    """A worker thread: take the next task once there is room for its result, run it, publish it."""
    while not stop.is_set():
        slots.acquire()
        if stop.is_set():
            return
        try:
            i = todo.get_nowait()
        except queue.Empty:
            return
        try:
            item = (True, tasks[i]())
        except BaseException as err:  # noqa: BLE001 - handed to the iterating thread, which raises it
            item = (False, err)
        with ready:
            results[i] = item
            ready.notify_all()
        if not item[0]:
            return
