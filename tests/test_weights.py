"""anynet.weights: save_weights / load_weights, .safetensors files on every CPU backend, bfloat16
widened and narrowed, refused files (names, shapes, dtypes, hostile headers) that change nothing."""

from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np
import pytest

pytest.importorskip("safetensors")

from safetensors.numpy import load_file, save_file  # noqa: E402

import anynet  # noqa: E402
from anynet import CheckpointError, load_weights, save_weights  # noqa: E402
from anynet.testing import host  # noqa: E402
from anynet.weights import MAX_HEADER_BYTES, read_header  # noqa: E402


def _net(seed, hidden=5, dtype=None):
    anynet.seed(seed)
    return anynet.MLP(4, [hidden], 3, batchnorm=True, dtype=dtype)


def _state(model):
    return {k: host(v).astype(np.float32) for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _trained(seed=0):
    """A net whose running statistics moved, so that buffers are checked too."""
    net = _net(seed)
    net.forward(anynet.to_device(np.random.default_rng(seed).random((8, 4), dtype=np.float32),
                                 net.device), train=True)
    return net


def test_round_trip_on_every_cpu_backend(cpu_backend, tmp_path):
    with anynet.device(cpu_backend):
        net, other = _trained(0), _net(1)
    path = save_weights(net, tmp_path / "m.safetensors")
    assert path == str(tmp_path / "m.safetensors") and os.listdir(tmp_path) == ["m.safetensors"]
    assert load_weights(other, path) is other
    assert _same(_state(other), _state(net))
    assert all(anynet.device_of(v) == cpu_backend for v in other.state_dict().values())
    x = anynet.to_device(np.ones((2, 4), np.float32), cpu_backend)
    assert np.array_equal(host(other.predict(x)), host(net.predict(x)))


def test_the_file_is_plain_safetensors_with_the_models_names_and_metadata(tmp_path):
    net = _trained()
    save_weights(net, tmp_path / "m.safetensors")
    assert _same(load_file(tmp_path / "m.safetensors"), _state(net))
    _, meta, _ = read_header(tmp_path / "m.safetensors")
    assert meta == {"format": "anynet-weights", "anynet_version": anynet.__version__, "model": "MLP",
                    "widened": "[]"}
    # and a file another tool wrote with the same names loads
    save_file({k: v * 2 for k, v in _state(net).items()}, tmp_path / "other.safetensors")
    other = load_weights(_net(1), tmp_path / "other.safetensors")
    assert _same(_state(other), {k: v * 2 for k, v in _state(net).items()})


def test_bfloat16_is_widened_in_the_file_and_narrowed_on_load(tmp_path):
    torch_cpu = pytest.importorskip("torch") and anynet.as_device("torch:cpu")
    with anynet.device(torch_cpu, dtype="bfloat16"):
        net, other = _net(0), _net(1)
    save_weights(net, tmp_path / "b.safetensors")
    header, meta, _ = read_header(tmp_path / "b.safetensors")
    assert {e["dtype"] for e in header.values()} == {"F32"} and set(json.loads(meta["widened"])) == set(header)
    load_weights(other, tmp_path / "b.safetensors")
    assert all(str(v.dtype) == "torch.bfloat16" for v in other.state_dict().values())
    assert _same(_state(other), _state(net))  # bfloat16 -> float32 -> bfloat16 is exact


@pytest.mark.parametrize(("other", "message"), [
    (lambda: anynet.MLP(4, [5], 3), r"missing \['2.W', '2.b'\], unexpected \['1.beta', '1.gamma'"),
    (lambda: _net(1, hidden=6), r"0.W is float32\(4, 5\) in the file, float32\(4, 6\) in the model"),
    (lambda: _net(1, dtype="float64"), r"0.W is float32\(4, 5\) in the file, float64\(4, 5\) in the model"),
], ids=["names", "shapes", "dtypes"])
def test_a_file_that_does_not_fit_is_refused_and_changes_nothing(tmp_path, other, message):
    save_weights(_trained(), tmp_path / "m.safetensors")
    model = other()
    before = _state(model)
    with pytest.raises(CheckpointError, match=message):
        load_weights(model, tmp_path / "m.safetensors")
    assert _same(_state(model), before)


def _damaged(path, how):
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    if how == "header longer than the file":
        data[:8] = struct.pack("<Q", len(data))
    elif how == "absurd header":
        data[:8] = struct.pack("<Q", 2**62)
    elif how == "truncated":
        del data[-4:]
    elif how == "padded":
        data += b"\0" * 8
    elif how == "not JSON":
        data[8:8 + n] = b"{" * n
    elif how == "offsets past the data":
        header = json.loads(data[8:8 + n])
        header["0.W"]["data_offsets"] = [10**12, 10**12 + 80]
        text = json.dumps(header).encode()
        data[:8 + n] = struct.pack("<Q", len(text)) + text
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("how", "message"), [
    ("header longer than the file", "more than the .* the file holds after its length"),
    ("absurd header", f"at most {MAX_HEADER_BYTES}"),
    ("truncated", "the file holds .*; truncated or padded"),
    ("padded", "truncated or padded"),
    ("not JSON", "the header is not JSON"),
    ("offsets past the data", "the arrays declare .* bytes of data"),
])
def test_hostile_or_damaged_files_are_refused_from_the_header(tmp_path, how, message):
    path = tmp_path / "m.safetensors"
    save_weights(_trained(), path)
    _damaged(path, how)
    model = _net(1)
    before = _state(model)
    with pytest.raises(CheckpointError, match=message):
        load_weights(model, path)
    assert _same(_state(model), before)


def test_a_file_too_short_for_a_header(tmp_path):
    (tmp_path / "e.safetensors").write_bytes(b"\1\0")
    with pytest.raises(CheckpointError, match="holds 2 bytes, too few for a safetensors header"):
        load_weights(_net(0), tmp_path / "e.safetensors")


def test_without_safetensors_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)  # as if not installed
    with pytest.raises(ImportError, match=r"save_weights: needs the safetensors package \(pip install"):
        save_weights(_net(0), tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
