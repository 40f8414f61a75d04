"""Data sets, loaders, splits, IDX files and the Fashion-MNIST / MNIST search path."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import anynet
import anynet.data.images
from anynet.data import DataLoader, DataNotFoundError, DataSet, IDXError, read_idx, train_val_split
from anynet.testing import host


def _idx_bytes(a: np.ndarray, code: int = 0x08) -> bytes:
    return struct.pack(">HBB", 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def test_idx_reads_gz_and_raw_files(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "img.gz").write_bytes(gzip.compress(_idx_bytes(images)))
    (tmp_path / "img").write_bytes(_idx_bytes(images))
    np.testing.assert_array_equal(read_idx(tmp_path / "img.gz"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "img", shape=(None, 3, 4)), images)
    wide = np.array([-1, 70000, 3], dtype=">i4")  # big-endian ints come back in native order
    (tmp_path / "ints").write_bytes(_idx_bytes(wide, 0x0C))
    assert read_idx(tmp_path / "ints").tolist() == [-1, 70000, 3]


@pytest.mark.parametrize("magic", [b"\x08\x03\x00\x00", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00", b"PK\x03\x04"])
def test_idx_refuses_wrong_magic_numbers(tmp_path, magic):
    (tmp_path / "bad").write_bytes(magic + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(IDXError, match="bad IDX magic number"):
        read_idx(tmp_path / "bad")


def test_idx_refuses_truncated_and_oversized_data(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    raw = _idx_bytes(labels)
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(IDXError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "long").write_bytes(raw + b"\x00")
    with pytest.raises(IDXError, match="needs 10 data bytes, the file has 11"):
        read_idx(tmp_path / "long")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw)[:-6])  # a download that stopped early
    with pytest.raises(IDXError, match="truncated"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "hdr").write_bytes(raw[:6])
    with pytest.raises(IDXError, match="header announces 1 dimensions"):
        read_idx(tmp_path / "hdr")
    with pytest.raises(IDXError, match=r"expected shape \(60000,\), the header says \(10,\)"):
        read_idx(tmp_path / "long", shape=(60000,))


def _no_data_anywhere(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("ANYNET_DATA", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty))
    monkeypatch.setattr(anynet.data.images, "SYSTEM_DATA", empty)
    return empty


def test_absent_data_says_where_to_put_the_files(monkeypatch, tmp_path):
    empty = _no_data_anywhere(monkeypatch, tmp_path)
    with pytest.raises(DataNotFoundError) as err:
        anynet.data.fashion_mnist(download=False)
    text = str(err.value)
    assert str(empty / "fashion-mnist") in text and "apt-get install dataset-fashion-mnist" in text
    assert "train-images-idx3-ubyte.gz" in text and "downloading is off" in text


def test_files_of_the_wrong_size_are_refused(monkeypatch, tmp_path):
    folder = _no_data_anywhere(monkeypatch, tmp_path) / "mnist"
    folder.mkdir()
    for split, n in (("train", 5), ("t10k", 3)):
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(_idx_bytes(np.zeros((n, 28, 28), np.uint8))))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros(n, np.uint8))))
    assert anynet.data.data_search_path("mnist")[0] == folder
    with pytest.raises(IDXError, match=r"expected shape \(60000, 28, 28\), the header says \(5, 28, 28\)"):
        anynet.data.mnist(download=False)


def test_dataset_checks_where_data_enters():
    with pytest.raises(ValueError, match="same number of samples"):
        DataSet(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="NaN or Inf"):
        DataSet(np.array([[0.0, np.nan]]), np.zeros(1))
    x, t = DataSet(np.zeros((3, 2)), np.arange(3))  # unpacks like the book's tuples
    assert x.shape == (3, 2) and t.tolist() == [0, 1, 2]


def test_loader_covers_every_sample_once_and_keeps_the_partial_batch(cpu_backend):
    x = np.arange(10, dtype=np.float32)[:, None]
    loader = DataLoader((x, np.arange(10)), batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert all(anynet.device_of(b[0]) == cpu_backend for b in batches)
    seen = np.concatenate([host(t) for _, t in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    np.testing.assert_array_equal(np.concatenate([host(b[0])[:, 0] for b in batches]), seen)
    second = np.concatenate([host(t) for _, t in loader])
    assert second.tolist() != seen.tolist()  # a new order every pass
    assert len(DataLoader((x, np.arange(10)), batch_size=4, drop_last=True)) == 2
    (full,) = list(DataLoader((x, np.arange(10)), batch_size=None, shuffle=False))
    assert host(full[1]).tolist() == list(range(10))


def test_loader_shuffling_follows_the_seed():
    data = (np.zeros((20, 1), np.float32), np.arange(20))
    anynet.seed(3)
    a = [host(t).tolist() for _, t in DataLoader(data, 7)]
    anynet.seed(3)
    b = [host(t).tolist() for _, t in DataLoader(data, 7)]
    assert a == b


def test_train_val_split_is_a_partition():
    x, t = np.arange(20, dtype=np.float32)[:, None], np.arange(20)
    train, val = train_val_split((x, t), 0.25)
    assert (len(train), len(val)) == (15, 5)
    assert sorted(train.t.tolist() + val.t.tolist()) == list(range(20))
    np.testing.assert_array_equal(train.x[:, 0], train.t)
    train, val = train_val_split(DataSet(x, t), 4, shuffle=False)
    assert val.t.tolist() == [16, 17, 18, 19]
    with pytest.raises(ValueError, match="at least one on each side"):
        train_val_split((x, t), 20)


def test_linear_regression_is_the_stated_problem():
    x, t = anynet.data.linear_regression(n=500, noise=0.0)
    assert x.shape == (500, 2) and t.shape == (500, 1) and x.dtype == np.float32
    w, *_ = np.linalg.lstsq(x.astype(np.float64), t[:, 0].astype(np.float64), rcond=None)
    np.testing.assert_allclose(w, [2.0, -30.0], atol=1e-4)
