"""A layer's chunks on several CPU threads (NumPy's executor), BLAS held at one thread inside."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import anynet

EXECUTOR = anynet.as_device("cpu").executor


@pytest.fixture
def two_workers():
    pytest.importorskip("threadpoolctl")
    with anynet.configure(cpu_workers=2):
        yield


def test_results_come_back_in_order_from_several_threads(two_workers):
    seen = set()

    def work(i):
        seen.add(threading.current_thread().name)
        return np.full((200, 200), float(i)) @ np.eye(200)

    out = EXECUTOR.parallel_map(work, list(range(8)))
    assert [float(o[0, 0]) for o in out] == [float(i) for i in range(8)]
    assert all(name.startswith("anynet-cpu") for name in seen)


def test_blas_runs_one_thread_inside_and_all_of_them_after(two_workers):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    inside = EXECUTOR.parallel_map(lambda _: blas_threads(), [0, 1])
    assert inside == [[1] * len(before)] * 2
    assert blas_threads() == before


def test_a_map_inside_a_map_runs_in_order_on_its_thread(two_workers):
    def outer(i):
        names = EXECUTOR.parallel_map(lambda _: threading.current_thread().name, [0, 1])
        return names == [threading.current_thread().name] * 2

    assert EXECUTOR.parallel_map(outer, [0, 1]) == [True, True]


def test_an_error_in_a_chunk_reaches_the_caller(two_workers):
    def work(i):
        if i == 1:
            raise ValueError("chunk 1 failed")
        return i

    with pytest.raises(ValueError, match="chunk 1 failed"):
        EXECUTOR.parallel_map(work, [0, 1, 2])


def _workers_in_subprocess(configured, blas_threads, block_threadpoolctl=False):
    code = ("import sys\n"
            + ("sys.modules['threadpoolctl'] = None\n" if block_threadpoolctl else "")
            + "import numpy, anynet\n"
            + (f"anynet.configure(cpu_workers={configured})\n" if configured is not None else "")
            + "print(anynet.as_device('cpu').executor.workers, len(__import__('os').sched_getaffinity(0)))\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS") and k != "ANYNET_CPU_WORKERS"}
    env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_chunk_threads_by_default_only_where_blas_runs_one_thread():
    pytest.importorskip("threadpoolctl")
    workers, cores = _workers_in_subprocess(None, 1).stdout.split()
    assert workers == cores
    assert _workers_in_subprocess(None, 2).stdout.split()[0] == "1"  # OpenBLAS's threads would fight them


def test_the_configuration_sets_the_workers_and_without_threadpoolctl_blas_threads_are_unknown():
    pytest.importorskip("threadpoolctl")
    assert _workers_in_subprocess(3, 2).stdout.split()[0] == "3"
    assert _workers_in_subprocess(1, 1).stdout.split()[0] == "1"
    # no threadpoolctl: BLAS's threads are unknown, so chunk threads only where configured
    assert _workers_in_subprocess(None, 1, block_threadpoolctl=True).stdout.split()[0] == "1"
    assert _workers_in_subprocess(3, 2, block_threadpoolctl=True).stdout.split()[0] == "3"
    assert _workers_in_subprocess(3, 1, block_threadpoolctl=True).stdout.split()[0] == "3"
    with pytest.raises(ValueError, match="ANYNET_CPU_WORKERS must be a whole number >= 1, got 'two'"):
        anynet.RunConfig.from_environment({"ANYNET_CPU_WORKERS": "two"})


def test_a_later_configure_takes_effect():
    with anynet.configure(cpu_workers=3):
        assert EXECUTOR.workers == 3
        with anynet.configure(cpu_workers=1):
            assert EXECUTOR.workers == 1
            seen = EXECUTOR.parallel_map(lambda _: threading.current_thread().name, [0, 1])
            assert seen == [threading.current_thread().name] * 2  # one worker: in order, here
        assert EXECUTOR.workers == 3


def test_a_deep_convnet_step_on_chunk_threads_matches_one_thread(monkeypatch):
    """Every conv of a training step in chunks on two threads: the gradients one thread gives."""
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(EXECUTOR, "work_budget", 64 << 10)  # several chunks in every conv
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((8, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 8)
    grads = []
    for workers in (2, 1):
        with anynet.configure(cpu_workers=workers):
            anynet.seed(0)
            net, loss = anynet.DeepConvNet(dropout=0.0), anynet.SoftmaxWithLoss()
            loss.forward(net.forward(x, train=True), t)
            net.backward(loss.backward())
            grads.append([np.asarray(p.grad) for p in net.params])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
