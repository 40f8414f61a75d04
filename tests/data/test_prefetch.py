"""Batches prepared ahead in background threads (anynet.data.prefetch, DataLoader(prefetch=...)): the
same batches in the same order as the plain loader, errors raised where they belong, and threads
that stop when the pass ends, breaks or is interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import anynet
from anynet.data import ArrayFiles, DataLoader, augment, write_shards
from anynet.data.prefetch import prefetched
from anynet.testing import host

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("anynet-prefetch")]


def _passes(loader: DataLoader, passes: int = 2) -> list[tuple[np.ndarray, np.ndarray, float]]:
    anynet.seed(7)
    out = []
    for epoch in range(passes):
        loader.epoch = epoch
        out += [(host(b.x).copy(), host(b.t).copy(), b.weight) for b in loader]
    return out


@pytest.mark.parametrize("source", ["memory", "files"])
def test_prefetched_batches_equal_the_plain_loaders(cpu_backend, tmp_path, source):
    """Shuffled passes, a partial last batch, a cast to float16, augmentation on the device."""
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((45, 1, 6, 6)).astype(np.float32), rng.integers(0, 3, 45)
    if source == "files":
        write_shards(x, t, tmp_path, shard_size=16)
    data = ArrayFiles(tmp_path) if source == "files" else (x, t)
    kw = dict(batch_size=8, dtype="float16", augment=augment.RandomShift(1))
    if cpu_backend.library == "array_api_strict" or "float16" not in cpu_backend.float_dtypes:
        kw["dtype"] = "float32"
    plain = _passes(DataLoader(data, **kw))
    ahead = _passes(DataLoader(data, prefetch=3, workers=2, **kw))
    assert len(plain) == len(ahead) == 12
    for (px, pt, pw), (ax, at, aw) in zip(plain, ahead):
        np.testing.assert_array_equal(px, ax)
        np.testing.assert_array_equal(pt, at)
        assert pw == aw
    assert _threads() == []


def _flip_some(x, rng):
    """A host augmentation: each image mirrored left-right with probability 1/2."""
    flip = rng.random(len(x)) < 0.5
    return np.where(flip[:, None, None, None], x[..., ::-1], x)


def test_a_host_transform_in_the_threads_gives_the_plain_loaders_batches(tmp_path):
    x = np.random.default_rng(2).standard_normal((40, 1, 3, 4)).astype(np.float32)
    write_shards(x, np.arange(40), tmp_path, shard_size=15)
    plain = _passes(DataLoader(ArrayFiles(tmp_path), 6, host_transform=_flip_some))
    ahead = _passes(DataLoader(ArrayFiles(tmp_path), 6, host_transform=_flip_some, prefetch=4, workers=2))
    for (px, pt, _), (ax, at, _) in zip(plain, ahead, strict=True):
        np.testing.assert_array_equal(px, ax)
        np.testing.assert_array_equal(pt, at)
    images = [(img, x[i]) for px, pt, _ in plain for i, img in zip(pt, px)]
    flipped = sum(not np.array_equal(img, orig) for img, orig in images)
    assert 10 < flipped < 70 and all(np.array_equal(img, orig) or np.array_equal(img, orig[..., ::-1])
                                     for img, orig in images)
    with pytest.raises(ValueError, match="host_transform must be a callable f.x, rng. of host batches"):
        DataLoader((x, np.arange(40)), host_transform=_flip_some, resident=True)


def test_each_shard_of_a_prefetched_pass_is_the_plain_shard(tmp_path):
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((37, 3)).astype(np.float32), rng.integers(0, 3, 37)
    for rank in (0, 1):
        plain = _passes(DataLoader((x, t), 5, shard=(rank, 2), seed=11), 3)
        ahead = _passes(DataLoader((x, t), 5, shard=(rank, 2), seed=11, prefetch=2), 3)
        assert all(np.array_equal(p[0], a[0]) and p[2] == a[2] for p, a in zip(plain, ahead))


def test_results_come_in_order_with_at_most_depth_prepared():
    started, running = [], threading.Semaphore(0)

    def task(i):
        def run():
            started.append(i)
            running.release()
            time.sleep(0.002 * (i % 3))  # finishing out of order
            return i * i
        return run

    it = prefetched([task(i) for i in range(20)], depth=3, workers=3)
    assert next(it) == 0
    time.sleep(0.05)
    assert len(started) <= 4  # the one handed out and at most 3 ahead
    assert list(it) == [i * i for i in range(1, 20)]
    assert _threads() == []


def test_an_error_in_a_thread_is_raised_at_its_batch_and_stops_the_others():
    def task(i):
        def run():
            if i == 4:
                raise ValueError("batch 4 is damaged")
            return i
        return run

    it = prefetched([task(i) for i in range(50)], depth=4, workers=2)
    assert [next(it) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="batch 4 is damaged"):
        next(it)
    assert _threads() == []


def test_leaving_a_pass_early_stops_its_threads():
    loader = DataLoader((np.zeros((100, 2), np.float32), np.zeros(100, np.int64)), 10, prefetch=4, workers=2)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    deadline = time.monotonic() + 5
    while _threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _threads() == []


CTRL_C_CHILD = textwrap.dedent("""
    import signal, sys, time
    from anynet.data.prefetch import prefetched

    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's: a background job inherits it ignored

    def slow():
        time.sleep(0.2)
        return 0

    print("started", flush=True)
    for _ in prefetched([slow] * 10_000, depth=4, workers=2):
        pass
""")


def test_ctrl_c_ends_a_prefetching_process_promptly():
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert time.monotonic() - start < 5
    assert proc.returncode != 0 and "KeyboardInterrupt" in err


def test_the_devices_own_upload_gives_the_batch_on_the_device(backend):
    """``prefetch_to_device`` (pinned memory and a side stream on a GPU) returns the host batch on the
    device, as a plain copy does, from a prefetch thread."""
    upload = getattr(backend, "prefetch_to_device", None)
    if upload is None:
        pytest.skip(f"{backend.name} has no upload of its own: the loader copies plainly")
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    got = []
    thread = threading.Thread(target=lambda: got.append(upload(a)))
    thread.start()
    thread.join(60)
    assert got and anynet.device_of(got[0]) == backend and got[0].dtype == backend.xp.float32
    np.testing.assert_array_equal(host(got[0]), a)
