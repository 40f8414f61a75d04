"""IDX files: gzip and raw, magic numbers, truncated and oversized data (anynet.data.idx)."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[2]  # the tree whose anynet the subprocess must import

# Reads the file named by argv[1] in a fresh process; prints the peak memory growth of the read
# (ru_maxrss, bytes) and the tracemalloc peak of the Python and NumPy buffers it made, then
# the error. Fresh, so the test process's own peak cannot hide the growth.
MEASURE = """
import resource, sys, tracemalloc
from anynet.data.idx import IDXError, read_idx
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
try:
    read_idx(sys.argv[1])
    error = "no error"
except IDXError as err:
    error = f"IDXError: {err}"
traced = tracemalloc.get_traced_memory()[1]
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(grown, traced)
print(error)
"""


def _gzip_bomb(path: Path, head: bytes, zeros_mib: int) -> None:
    """A valid gzip file of ``head`` then ``zeros_mib`` MiB of zeros, written without ever holding
    the zeros inflated: one MiB compressed once, its deflate blocks repeated (a full flush ends
    each copy on a byte boundary with nothing referring back), the CRC carried along."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    first = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH)
    piece = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    with open(path, "wb") as f:
        f.write(struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, 0, 255) + first)
        for _ in range(zeros_mib):
            f.write(piece)
            crc = zlib.crc32(block, crc)
        f.write(comp.flush(zlib.Z_FINISH))
        f.write(struct.pack("<II", crc, (len(head) + (zeros_mib << 20)) & 0xFFFFFFFF))


def test_idx_gzip_bomb_costs_little_memory(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    bomb = tmp_path / "labels.gz"
    _gzip_bomb(bomb, _idx_bytes(labels), 512)  # 10 labels declared, 512 MiB of zeros behind them
    assert bomb.stat().st_size < 2 << 20
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(bomb)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    sizes, error = done.stdout.splitlines()
    grown, traced = map(int, sizes.split())
    assert grown < 50 << 20 and traced < 50 << 20, f"reading the bomb grew by {grown} bytes ({traced} traced)"
    assert error.startswith(f"IDXError: {bomb}: the header (10,) needs 10 data bytes"), error
    assert "trailing" in error


def test_idx_gzip_bomb_is_well_formed(tmp_path):
    """The bomb above is a gzip file any reader accepts: its refusal is the reader's, not gzip's."""
    _gzip_bomb(tmp_path / "small.gz", b"head", 3)
    with gzip.open(tmp_path / "small.gz", "rb") as f:
        assert f.read() == b"head" + bytes(3 << 20)


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    return struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ((1 << 16,) * 4, r"declares shape \(65536, 65536, 65536, 65536\) of uint8: 18446744073709551616 bytes"),
        ((0, (1 << 32) - 1), r"dimension 1 \(4294967295\) is over the limit"),
        ((1,) * 255, "declares 255 dimensions, more than the 16"),
    ],
)
def test_idx_refuses_headers_beyond_sane_sizes(tmp_path, dims, message):
    # a product that wraps to 0 in int64, a huge dimension beside an empty one, 255 dimensions
    (tmp_path / "hostile").write_bytes(_header(0x08, dims) + b"\x00")
    with pytest.raises(IDXError, match=f"{tmp_path / 'hostile'}: .*{message}"):
        read_idx(tmp_path / "hostile")


def test_idx_limit_can_be_raised_and_refuses_nonsense(tmp_path):
    images = np.zeros((4, 8, 8), dtype=np.float32)
    (tmp_path / "img").write_bytes(_idx_bytes(images.astype(">f4"), 0x0D))
    with pytest.raises(IDXError, match=r"declares shape \(4, 8, 8\) of float32: 1024 bytes, over the limit of 1000"):
        read_idx(tmp_path / "img", max_bytes=1000)
    np.testing.assert_array_equal(read_idx(tmp_path / "img", max_bytes=1024), images)
    with pytest.raises(ValueError, match="read_idx: max_bytes must be an integer >= 1, got 0"):
        read_idx(tmp_path / "img", max_bytes=0)


def test_idx_refuses_trailing_data_after_a_compressed_array(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    (tmp_path / "long.gz").write_bytes(gzip.compress(_idx_bytes(labels) + b"\x07" * 5))
    with pytest.raises(IDXError, match=r"needs 10 data bytes, the file holds more \(trailing data"):
        read_idx(tmp_path / "long.gz")
