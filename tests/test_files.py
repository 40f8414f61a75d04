"""anynet.files.atomic_write: a failed write leaves the old file; the mode follows the umask."""

from __future__ import annotations

import os
import stat

import pytest

from anynet.files import atomic_write


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"good")

    def interrupted():
        with atomic_write(path) as f:
            f.write(b"partial")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        interrupted()
    assert path.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_the_mode_is_what_open_would_give(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.bin") as f:
            f.write(b"x")
        with open(tmp_path / "b.bin", "wb") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "a.bin").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "b.bin").st_mode) == 0o644


def test_text_mode_and_a_new_folder(tmp_path):
    with atomic_write(tmp_path / "sub" / "h.csv", "w", newline="") as f:
        f.write("epoch,loss\n1,0.5\n")
    assert (tmp_path / "sub" / "h.csv").read_text() == "epoch,loss\n1,0.5\n"
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_write(tmp_path / "x", "a"):
            pass
