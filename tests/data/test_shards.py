"""Memory-mapped .npy shards under one index (anynet.data.shards): writing, reading, the checks of
every header before anything is mapped, and training within a memory limit smaller than the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from anynet.data import ArrayFiles, DataSet, ShardError, train_val_split, write_shards

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sample_data(n: int = 53, shape: tuple[int, ...] = (2, 3), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)).astype(np.float32), rng.integers(0, 7, n)


def test_shards_read_back_any_rows_in_any_order(tmp_path):
    x, t = sample_data()
    write_shards(x, t, tmp_path, shard_size=10)
    names = sorted(os.listdir(tmp_path))
    assert names[0] == "index.json" and len(names) == 1 + 2 * 6  # 5 full shards and one of 3
    files = ArrayFiles(tmp_path)
    assert len(files) == 53 and files.x.shape == (53, 2, 3) and files.x.dtype == np.float32
    assert files.classes == 7 and not files.in_memory
    np.testing.assert_array_equal(files.t, t)
    idx = np.array([52, 0, 9, 10, 9, 31, 11])  # across shards, repeated, out of order
    np.testing.assert_array_equal(files.x[idx], x[idx])
    np.testing.assert_array_equal(files.x[5:25], x[5:25])
    np.testing.assert_array_equal(files.x[-1], x[-1])
    np.testing.assert_array_equal(files.x[np.arange(53) % 4 == 0], x[::4])
    np.testing.assert_array_equal(np.asarray(files.x), x)
    assert files.x.min() == x.min() and files.x.max() == x.max()
    x_, t_ = files  # unpacks like a DataSet
    assert x_ is files.x and t_ is files.t


def test_subsets_and_splits_are_views_that_read_nothing_until_asked(tmp_path):
    x, t = sample_data()
    write_shards(x, t, tmp_path, shard_size=10)
    files = ArrayFiles(tmp_path)
    reads = files.x.log_reads()
    train, val = train_val_split(files, 13)
    assert isinstance(train, ArrayFiles) and len(train) == 40 and len(val) == 13 and reads == []
    rows = np.sort(np.concatenate([train.x.source_rows(slice(None)), val.x.source_rows(slice(None))]))
    assert rows.tolist() == list(range(53))
    part = files.subset(slice(20, 40)).subset([3, 0])
    np.testing.assert_array_equal(part.x[:], x[[23, 20]])
    np.testing.assert_array_equal(part.t, t[[23, 20]])
    flat = ArrayFiles(tmp_path, sample_shape=(6,))
    np.testing.assert_array_equal(flat.x[[4, 2]], x[[4, 2]].reshape(2, 6))
    with pytest.raises(ValueError, match=r"samples of shape \(2, 3\) cannot be seen as \(5,\)"):
        ArrayFiles(tmp_path, sample_shape=(5,))


def test_a_memory_map_pair_and_files_stay_out_of_device_memory(tmp_path):
    x, t = sample_data()
    np.save(tmp_path / "x.npy", x)
    mapped = DataSet(np.load(tmp_path / "x.npy", mmap_mode="r"), t)
    write_shards(*mapped, tmp_path / "shards", shard_size=20)  # a memory map as the source
    assert not mapped.in_memory and DataSet(x, t).in_memory
    np.testing.assert_array_equal(ArrayFiles(tmp_path / "shards").x[:], x)


def test_write_shards_refuses_bad_data_and_replaces_an_earlier_write(tmp_path):
    x, t = sample_data()
    with pytest.raises(ValueError, match="write_shards: x and t must hold the same number of samples"):
        write_shards(x, t[:-1], tmp_path)
    bad = x.copy()
    bad[33, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"write_shards: x holds NaN or Inf values in samples 30\.\.39"):
        write_shards(bad, t, tmp_path, shard_size=10)
    assert not (tmp_path / "index.json").exists()  # no index: the folder is not a data set
    write_shards(x, t, tmp_path, shard_size=10)
    write_shards(x[:15], t[:15], tmp_path, shard_size=10)
    assert sorted(os.listdir(tmp_path)) == ["index.json", "t-00000.npy", "t-00001.npy", "x-00000.npy", "x-00001.npy"]
    assert len(ArrayFiles(tmp_path)) == 15
    write_shards(x, t.astype(np.float32), tmp_path / "regression")
    assert ArrayFiles(tmp_path / "regression").classes is None  # targets that are no class indices


def _written(tmp_path) -> tuple[np.ndarray, np.ndarray]:
    x, t = sample_data(20)
    write_shards(x, t, tmp_path, shard_size=10)
    return x, t


def test_a_shard_whose_header_differs_from_the_index_is_refused_before_mapping(tmp_path):
    x, t = _written(tmp_path)
    np.save(tmp_path / "x-00001.npy", x[:9])  # one sample short
    with pytest.raises(ShardError, match=r"x-00001.npy: its header declares \(9, 2, 3\) float32; the index "
                                         r"expects \(10, 2, 3\) float32"):
        ArrayFiles(tmp_path)
    np.save(tmp_path / "x-00001.npy", np.asfortranarray(x[10:].astype(np.float64)))
    with pytest.raises(ShardError, match="float64 in Fortran order"):
        ArrayFiles(tmp_path)


def test_a_truncated_or_hostile_shard_costs_no_memory(tmp_path):
    """A header declaring 10**12 samples with a few bytes behind it is refused by the file's size."""
    x, t = _written(tmp_path)
    data = (tmp_path / "x-00000.npy").read_bytes()
    (tmp_path / "x-00000.npy").write_bytes(data[:-8])
    with pytest.raises(ShardError, match="x-00000.npy: truncated"):
        ArrayFiles(tmp_path)
    index = json.loads((tmp_path / "index.json").read_text())
    index["shards"][0]["n"], index["n"] = 10**12, 10**12 + 10
    (tmp_path / "index.json").write_text(json.dumps(index))
    header = np.lib.format.header_data_from_array_1_0(x[:1])
    header["shape"] = (10**12, 2, 3)
    with open(tmp_path / "x-00000.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\0" * 64)
    with pytest.raises(ShardError, match="truncated"):
        ArrayFiles(tmp_path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda ix: ix.update(format="other"), "not a valid index"),
    (lambda ix: ix.update(n=21), "not a valid index"),
    (lambda ix: ix["shards"][0].update(x="../../etc/passwd"), "not a valid index"),
    (lambda ix: ix["x"].update(dtype="|O"), "object dtypes are refused"),
    (lambda ix: ix.pop("shards"), "not an index of anynet shards .KeyError"),
])
def test_a_damaged_index_is_refused_naming_the_file(tmp_path, change, message):
    _written(tmp_path)
    index = json.loads((tmp_path / "index.json").read_text())
    change(index)
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ShardError, match=message):
        ArrayFiles(tmp_path)
    with pytest.raises(ShardError, match="no index.json; expected a folder written by anynet.data.write_shards"):
        ArrayFiles(tmp_path / "elsewhere")


def test_values_are_checked_where_they_enter_a_batch(tmp_path):
    x, t = _written(tmp_path)
    x[14, 1, 2] = np.inf
    np.save(tmp_path / "x-00001.npy", x[10:])  # the header matches; a value does not
    files = ArrayFiles(tmp_path)
    np.testing.assert_array_equal(files.x[:10], x[:10])
    with pytest.raises(ShardError, match="x-00001.npy: holds NaN or Inf values"):
        files.x[[3, 14]]


MEMORY_CHILD = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import anynet
    from anynet import MLP, SGD, SoftmaxWithLoss, Trainer

    folder, limit = sys.argv[1], int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    files = anynet.data.ArrayFiles(folder, sample_shape=(3 * 64 * 64,))
    try:
        np.asarray(files.x)  # the whole set in memory: refused by the limit
        refused = False
    except MemoryError:
        refused = True
    reads = files.x.log_reads()
    anynet.seed(0)
    trainer = Trainer(MLP(3 * 64 * 64, [16], 10), SoftmaxWithLoss(), SGD(lr=0.01), verbose=0)
    trainer.fit(files, epochs=1, batch_size=64, prefetch=2)
    print(json.dumps({"refused": refused, "loss": trainer.history["loss"][0],
                      "rows": int(sum(len(r) for r in reads)), "file_bytes": files.x.nbytes}))
""")


def test_training_over_files_larger_than_the_memory_limit(tmp_path):
    """400 MB of shards trained over in a process whose data memory (RLIMIT_DATA: heap and private
    mappings; the mapped files are page cache, not counted) is held to 160 MiB, of which the
    interpreter, NumPy and OpenBLAS take ~110 MiB. About 4 s: writing and reading the files is what
    it tests."""
    n = 8192
    rng = np.random.default_rng(0)
    x = np.broadcast_to(rng.standard_normal((1, 3, 64, 64)).astype(np.float32), (n, 3, 64, 64))  # no memory
    write_shards(x, np.arange(n) % 10, tmp_path, shard_size=1000)
    limit = 160 * 2**20
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(tmp_path), str(limit)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["file_bytes"] > 2.3 * limit
    assert got["refused"]  # the limit is real: the set does not fit under it
    assert got["rows"] == n + 1  # every sample was read once, and one more for the trainer's first check
    assert np.isfinite(got["loss"])
