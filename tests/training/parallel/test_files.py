"""Data parallelism over memory-mapped shards (anynet.data.ArrayFiles) under ``mpiexec -n 2``
(files_worker.py beside it): each rank reads only its own shard of the seeded permutation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from anynet.data import write_shards

from .test_parallel import _mpiexec

WORKER = os.path.join(os.path.dirname(__file__), "files_worker.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_ranks_read_disjoint_shards_of_the_files_that_cover_the_set(tmp_path):
    mpiexec = _mpiexec()
    rng = np.random.default_rng(0)
    n = 42  # batches of 4 per rank: the last global batch is shared 1 + 1
    write_shards(rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n), tmp_path / "data",
                 shard_size=10)
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [mpiexec, "-n", "2", sys.executable, WORKER, str(tmp_path / "out.json"), str(tmp_path / "data")]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{' '.join(cmd)} still ran after 120 s:\n{err.stderr}")
    assert proc.returncode == 0, proc.stderr
    got = json.loads((tmp_path / "out.json").read_text())
    zero, one = got["ranks"]
    assert zero["before"] == one["before"] == [0]  # the one sample fit's checks run through the model
    for epoch in range(2):
        a, b = zero["epochs"][epoch], one["epochs"][epoch]
        assert len(a) == len(set(a)) == 21 and len(b) == len(set(b)) == 21  # each sample read once
        assert not set(a) & set(b) and sorted(a + b) == list(range(got["n"]))
    assert zero["epochs"][0] != zero["epochs"][1]  # a new permutation every epoch
    assert zero["digest"] == one["digest"] and zero["loss"] == one["loss"]
