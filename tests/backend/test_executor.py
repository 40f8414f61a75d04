"""Executors: in order and CPU-sized by default, GPU-sized budgets on a GPU."""

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
