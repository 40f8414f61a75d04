"""IDX files: gzip and raw, magic numbers, truncated and oversized data (anynet.data.idx)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from anynet.data import IDXError, read_idx


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
