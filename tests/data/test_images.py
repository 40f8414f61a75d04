"""Fashion-MNIST and MNIST: the search path, and clear messages for absent or wrong files (anynet.data.images)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import anynet
import anynet.data.images
from anynet.data import DataNotFoundError, IDXError


def _idx_bytes(a: np.ndarray, code: int = 0x08) -> bytes:
    return struct.pack(">HBB", 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


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
