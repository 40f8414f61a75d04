"""Executors: in order and CPU-sized by default, GPU-sized budgets on a GPU, and the batch chunks
they plan for the convolution kernels."""

from __future__ import annotations

from anynet.backend import Executor, GpuExecutor


def test_the_default_runs_in_order_with_cpu_budgets():
    ex = Executor()
    assert ex.parallel_map(lambda i: i * i, [3, 1, 2]) == [9, 1, 4]
    assert (ex.workers, ex.work_budget, ex.data_budget) == (1, 16 << 20, 1 << 30)


def test_a_gpu_gives_a_quarter_of_its_memory_to_data_asked_once():
    asked = []
    ex = GpuExecutor(lambda: asked.append(1) or 8 << 30)
    assert ex.work_budget == 1 << 30 and ex.work_budget >= 64 * Executor().work_budget
    assert ex.data_budget == 2 << 30 and ex.data_budget == 2 << 30 and asked == [1]
    assert GpuExecutor().data_budget == Executor.data_budget  # memory not known: the default


def test_the_plan_bounds_each_chunk_by_the_budget_shared_among_the_workers():
    ex = Executor()
    assert ex.plan(10, 1 << 20) == [(0, 10)]  # 10 MiB of work fits 16 MiB: one piece
    assert ex.plan(10, 4 << 20) == [(0, 4), (4, 8), (8, 10)]  # 4 samples of 4 MiB per chunk
    assert ex.plan(3, 64 << 20) == [(0, 1), (1, 2), (2, 3)]  # a sample over the budget: one each
    assert ex.plan(None, 1 << 20) == [(0, None)]  # a symbolic batch: one piece
    assert GpuExecutor().plan(1024, 64 * 9 * 28 * 28 * 4) == [(0, 512), (512, 1024)]


def test_the_plan_gives_every_worker_as_many_chunks():
    class TwoWorkers(Executor):
        workers = 2

    ex = TwoWorkers()
    assert ex.plan(10, 1 << 20) == [(0, 5), (5, 10)]  # small: still one chunk per worker
    assert ex.plan(10, 4 << 20) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]  # 2 per chunk fit 8 MiB each
    assert ex.plan(1, 1 << 20) == [(0, 1)]  # one sample: one worker
