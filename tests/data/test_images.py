"""Fashion-MNIST and MNIST: the search path, and clear messages for absent or wrong files (anynet.data.images)."""

from __future__ import annotations

import contextlib
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import anynet
import anynet.data.images
from anynet.data import DataNotFoundError, IDXError


def _idx_bytes(a: np.ndarray, code: int = 0x08) -> bytes:
    return struct.pack(">HBB", 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


@contextlib.contextmanager
def _no_data_anywhere(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(anynet.data.images, "SYSTEM_DATA", empty)
    with anynet.configure(data_dir=str(empty), cache_dir=str(empty / "anynet")):
        yield empty


def test_absent_data_says_where_to_put_the_files(monkeypatch, tmp_path):
    with _no_data_anywhere(monkeypatch, tmp_path) as empty, pytest.raises(DataNotFoundError) as err:
        anynet.data.fashion_mnist(download=False)
    text = str(err.value)
    assert str(empty / "fashion-mnist") in text and "apt-get install dataset-fashion-mnist" in text
    assert "train-images-idx3-ubyte.gz" in text and "downloading is off" in text


def _tiny_mnist(folder):
    folder.mkdir(parents=True)
    for split, n in (("train", 5), ("t10k", 3)):
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(_idx_bytes(np.zeros((n, 28, 28), np.uint8))))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros(n, np.uint8))))


def test_files_of_the_wrong_size_are_refused(monkeypatch, tmp_path):
    with _no_data_anywhere(monkeypatch, tmp_path) as empty:
        folder = empty / "mnist"
        _tiny_mnist(folder)
        assert anynet.data.data_search_path("mnist")[0] == folder
        with pytest.raises(IDXError, match=r"expected shape \(60000, 28, 28\), the header says \(5, 28, 28\)"):
            anynet.data.mnist(download=False)


def test_the_search_path_follows_the_configuration_not_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ANYNET_DATA", str(tmp_path / "from-env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "env-cache"))
    unconfigured = [str(f) for f in anynet.data.data_search_path("mnist")]
    assert not any(str(tmp_path) in f for f in unconfigured), unconfigured
    with anynet.configure(data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache")):
        folders = anynet.data.data_search_path("mnist", tmp_path / "given")
    data = tmp_path / "data"
    assert folders[:4] == [tmp_path / "given", data / "mnist", data, tmp_path / "cache" / "mnist"]
    assert anynet.data.data_search_path("mnist") == [Path(f) for f in unconfigured]  # the block ended


def test_a_configured_data_dir_is_read(monkeypatch, tmp_path):
    monkeypatch.setattr(anynet.data.images, "SYSTEM_DATA", tmp_path / "none")
    _tiny_mnist(tmp_path / "data" / "mnist")
    with anynet.configure(data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache")):
        with pytest.raises(IDXError, match=r"the header says \(5, 28, 28\)"):  # found there, then read
            anynet.data.mnist(download=False)
