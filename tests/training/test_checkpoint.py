"""Checkpoints: round trip, atomic writes, refusal of truncated, corrupted or ill-fitting files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anynet
from anynet.testing import arr, host
from anynet.training import CheckpointError, checkpoint


def _net(hidden=5):
    return anynet.MLP(3, [hidden], 2, batchnorm=True)


def _params(net):
    return [host(p.data).copy() for p in net.params]


def _saved(tmp_path, hidden=5):
    anynet.seed(1)
    net, opt = _net(hidden), anynet.SGD(lr=0.05)
    opt.iterations = 7
    for i, p in enumerate(net.params):
        p.state = {"v": p.data * 0 + i}  # per-parameter optimizer state, as momentum keeps
    path = checkpoint.save(tmp_path / "ck.npz", net, opt, {"epoch": 3}, {"note": "x"})
    return net, opt, path


def test_round_trip_restores_model_optimizer_and_rng(cpu_backend, tmp_path):
    net, opt, path = _saved(tmp_path)
    expected_draw = anynet.backend.host_rng().random()
    anynet.seed(2)
    other, other_opt = _net(), anynet.SGD(lr=1.0)
    meta = checkpoint.load(path, other, other_opt)
    assert meta["trainer"] == {"epoch": 3} and meta["metadata"] == {"note": "x"}
    for a, b in zip(_params(net), _params(other)):
        np.testing.assert_array_equal(a, b)
    assert (other_opt.lr, other_opt.iterations) == (0.05, 7)
    assert [float(host(p.state["v"]).flat[0]) for p in other.params] == list(range(len(net.params)))
    assert all(anynet.device_of(p.state["v"]) == cpu_backend for p in other.params)
    assert anynet.backend.host_rng().random() == expected_draw
    with np.load(path, allow_pickle=False) as z:  # a plain npz, readable without pickle
        assert "model/0.W" in z.files


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    net, opt, path = _saved(tmp_path)
    checkpoint.save(path, net, opt)  # overwrite in place
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def _assert_refused(path, match):
    anynet.seed(9)
    victim, opt = _net(), anynet.SGD(lr=1.0)
    before = _params(victim)
    with pytest.raises(CheckpointError, match=match):
        checkpoint.load(path, victim, opt)
    for a, b in zip(before, _params(victim)):  # never half-loaded
        np.testing.assert_array_equal(a, b)
    assert opt.lr == 1.0


def test_truncated_file_is_refused(tmp_path):
    _, _, path = _saved(tmp_path)
    data = open(path, "rb").read()
    for keep in (len(data) // 2, len(data) - 30, 10):
        cut = tmp_path / f"cut{keep}.npz"
        cut.write_bytes(data[:keep])
        _assert_refused(cut, "truncated or corrupted")


def test_corrupted_file_is_refused_or_read_exactly(tmp_path):
    _, _, path = _saved(tmp_path)
    good_meta, good = checkpoint.read(path)
    data = bytearray(open(path, "rb").read())
    refused = 0
    offsets = range(60, len(data) - 60, 37)
    for offset in offsets:
        bad = bytearray(data)
        bad[offset] ^= 0xFF
        (tmp_path / "bad.npz").write_bytes(bytes(bad))
        try:
            meta, arrays = checkpoint.read(tmp_path / "bad.npz")
        except CheckpointError:
            refused += 1
            continue
        # a flip in zip bookkeeping that changes no content (timestamps, extra fields) may pass
        assert meta == good_meta and arrays.keys() == good.keys()
        for key in good:
            np.testing.assert_array_equal(arrays[key], good[key])
    assert refused > 0.8 * len(offsets)
    bad = bytearray(data)
    bad[data.index(b"\x00\x00\x80?") + 2] ^= 0x01  # one bit of a stored float
    (tmp_path / "bad.npz").write_bytes(bytes(bad))
    _assert_refused(tmp_path / "bad.npz", "truncated or corrupted|is corrupted")


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    _, _, path = _saved(tmp_path, hidden=6)
    _assert_refused(path, r"0.W is float32\(3, 6\) in the file, float32\(3, 5\) in the model")


def test_another_optimizer_class_is_refused(tmp_path):
    _, _, path = _saved(tmp_path)

    class Other(anynet.SGD):
        pass

    net = _net()
    before = _params(net)
    with pytest.raises(CheckpointError, match="optimizer state of SGD, not Other"):
        checkpoint.load(path, net, Other(lr=1.0))
    for a, b in zip(before, _params(net)):
        np.testing.assert_array_equal(a, b)


def test_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not an anynet checkpoint"):
        checkpoint.read(tmp_path / "plain.npz")


def test_optimizer_state_that_does_not_fit_changes_nothing(tmp_path):
    """The optimizer state is checked before the model is touched: a model whose parameter
    order differs from the saved one (same names and shapes) is refused whole."""

    class Reversed(anynet.Sequential):
        @property
        def params(self):
            return list(reversed(super().params))

    anynet.seed(1)
    saved, opt = anynet.Sequential(anynet.Affine(2, 3), anynet.Affine(3, 4)), anynet.Adam(lr=0.01)
    for p in saved.params:
        p.grad = p.data * 0 + 1
    opt.update(saved.params)
    path = checkpoint.save(tmp_path / "ck.npz", saved, opt)
    victim, victim_opt = Reversed(anynet.Affine(2, 3), anynet.Affine(3, 4)), anynet.Adam(lr=0.01)
    before = _params(victim)
    with pytest.raises(CheckpointError, match="has shape"):
        checkpoint.load(path, victim, victim_opt)
    for a, b in zip(before, _params(victim)):
        np.testing.assert_array_equal(a, b)
    assert victim_opt.iterations == 0


def test_resume_is_exact_with_dropout_on_every_cpu_backend(cpu_backend, tmp_path):
    """The device generators (dropout masks) are saved too: NumPy, PyTorch and JAX resume exactly."""
    from anynet.training import Checkpoint

    x, t = anynet.data.spiral(points_per_class=20)

    def run(epochs, resume=None, callbacks=()):
        anynet.seed(0)
        net = anynet.MLP(2, [8], 3, dropout=0.3)
        trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.Adam(lr=0.01), verbose=0,
                                 callbacks=list(callbacks))
        trainer.fit((x, t), epochs=epochs, batch_size=15, resume=resume)
        return _params(net)

    straight = run(3)
    run(1, callbacks=[Checkpoint(tmp_path / "ck.npz", every=1)])
    for a, b in zip(straight, run(3, resume=tmp_path / "ck.npz")):
        np.testing.assert_array_equal(a, b)


# -- property-based: random damage never loads, and a refused load changes nothing ---------------


def _ready(dev, tmp_path):
    """A checkpoint with model, optimizer (per-parameter state), trainer and device RNG state,
    and a different model and optimizer to load it into."""
    anynet.seed(3)
    net, opt = _net(), anynet.Momentum(lr=0.05)
    for p in net.params:
        p.grad = p.data * 0 + 1
    opt.update(net.params)
    anynet.Dropout(0.5).forward(arr(dev, np.ones((2, 3), np.float32)), train=True)  # a device generator
    path = checkpoint.save(tmp_path / "good.npz", net, opt, {"epoch": 3, "history": {"loss": [1.0, 0.5, 0.25]}},
                           {"note": "x"})
    anynet.seed(4)
    return path, _net(), anynet.Momentum(lr=1.0)


def _everything(net, opt):
    states = [{k: host(v).copy() for k, v in p.state.items()} for p in net.params]
    return ([host(v).copy() for v in net.state_dict().values()], states, opt.lr, opt.iterations,
            anynet.backend.rng_state())


def _assert_refused_whole(path, net, opt):
    before = _everything(net, opt)
    with pytest.raises(CheckpointError):
        checkpoint.load(path, net, opt)
    after = _everything(net, opt)
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    assert [s.keys() for s in before[1]] == [s.keys() for s in after[1]]
    assert before[2:] == after[2:]


corruptions = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, 2**20), st.integers(1, 255)), min_size=1,
                                        max_size=4)),
    st.tuples(st.just("cut"), st.integers(0, 2**20)),
    st.tuples(st.just("insert"), st.tuples(st.integers(0, 2**20), st.binary(min_size=1, max_size=8))),
)


def _damage(data: bytes, how) -> bytes:
    kind, what = how
    if kind == "cut":
        return data[:what % len(data)]
    if kind == "insert":
        at, extra = what
        return data[:at % len(data)] + extra + data[at % len(data):]
    out = bytearray(data)
    for offset, bits in what:
        out[offset % len(out)] ^= bits
    return bytes(out)


@settings(max_examples=25)
@given(how=corruptions)
def test_random_byte_damage_is_refused_or_reads_exactly(cpu_backend, tmp_path, how):
    path, net, opt = _ready(cpu_backend, tmp_path)
    good_meta, good_arrays = checkpoint.read(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(_damage(open(path, "rb").read(), how))
    try:
        checkpoint.read(bad)
    except CheckpointError:
        _assert_refused_whole(bad, net, opt)
        return
    meta = checkpoint.load(bad, net, opt)
    # damage to zip bookkeeping that changes no content (timestamps, extra fields) may pass
    assert meta == good_meta
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(host(value), good_arrays[f"model/{key}"])


def _nodes(meta):
    """(path, value) of every node of the metadata but the user's free-form ``metadata``."""
    found = []

    def walk(node, path):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if path + (key,) != ("metadata",):
                found.append((path + (key,), value))
                walk(value, path + (key,))

    walk(meta, ())
    return found


# deleting these (or a device's generator, or one series of the history) leaves a valid
# checkpoint, so deletion skips them
_OPTIONAL = {("trainer", "epoch"), ("trainer", "history"), ("optimizer", "scalars", "lr"), ("rng", "unsaved")}


def _retyped(value):
    """A JSON value of another type than ``value``."""
    if isinstance(value, str):
        return 12345
    if isinstance(value, (dict, list)):
        return "text" if isinstance(value, dict) else {"a": 1}
    return "text"  # numbers, booleans, null


@settings(max_examples=25)
@given(pick=st.integers(0, 2**16), delete=st.booleans())
def test_random_metadata_edits_are_refused_and_change_nothing(cpu_backend, tmp_path, pick, delete):
    import json

    path, net, opt = _ready(cpu_backend, tmp_path)
    meta, arrays = checkpoint.read(path)
    nodes = _nodes(meta)
    where, value = nodes[pick % len(nodes)]
    parent = meta
    for key in where[:-1]:
        parent = parent[key]
    deletable = (isinstance(parent, dict) and where not in _OPTIONAL
                 and where[:2] not in (("rng", "devices"), ("trainer", "history")))
    if delete and deletable:
        del parent[where[-1]]
    else:
        parent[where[-1]] = _retyped(value)
    edited = tmp_path / "edited.npz"
    np.savez(edited, **arrays, __metadata__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    _assert_refused_whole(edited, net, opt)


# -- hostile files: bounded memory, clear refusals ---------------------------------------------


def _rewrite(path, replace):
    """A copy of the checkpoint at ``path`` with members replaced: ``replace(name, zin, zout)``
    writes the member itself and returns True, or returns False to keep it."""
    import zipfile

    out = str(path) + ".bad.npz"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if not replace(info.filename, zin, zout):
                zout.writestr(info, zin.read(info.filename))
    return out


def _peak_growth(fn):
    """(result or exception, peak bytes allocated by Python while ``fn`` ran)."""
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            result = fn()
        except Exception as err:  # noqa: BLE001 - returned to the test
            result = err
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_member_declaring_a_huge_array_is_refused_before_it_is_inflated(tmp_path):
    """A 0.3 MB file whose metadata and member header both declare a 240 MB array (zeros,
    which compress 1000:1): the model's shapes are compared with the metadata first, so the
    member is never inflated."""
    import json

    _, _, path = _saved(tmp_path)
    big = 30_000_000

    def bomb(name, zin, zout):
        if name == "__metadata__.npy":
            meta = json.loads(bytes(np.load(zin.open(name))).decode())
            meta["arrays"]["model/0.W"].update(shape=[big], dtype="<f8")
            with zout.open(name, "w") as f:
                np.lib.format.write_array(f, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
            return True
        if name != "model/0.W.npy":
            return False
        with zout.open(name, "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (big,)})
            left, chunk = 8 * big, bytes(1 << 20)
            while left:
                f.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))
        return True

    bad = _rewrite(path, bomb)
    assert os.path.getsize(bad) < 1 << 20
    err, peak = _peak_growth(lambda: checkpoint.load(bad, _net(), anynet.SGD(lr=0.05)))
    assert isinstance(err, CheckpointError) and "0.W" in str(err), err
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB allocated reading a hostile checkpoint"


def test_a_huge_metadata_member_is_refused_before_it_is_inflated(tmp_path):
    _, _, path = _saved(tmp_path)

    def huge(name, zin, zout):
        if name != "__metadata__.npy":
            return False
        with zout.open(name, "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(80):
                f.write(chunk)
        return True

    bad = _rewrite(path, huge)
    err, peak = _peak_growth(lambda: checkpoint.load(bad, _net()))
    assert isinstance(err, CheckpointError) and "not an anynet checkpoint" in str(err), err
    assert peak < 16 << 20


def test_deeply_nested_metadata_is_a_checkpoint_error(tmp_path):
    import json

    _, _, path = _saved(tmp_path)

    def nested(name, zin, zout):
        if name != "__metadata__.npy":
            return False
        meta = json.loads(bytes(np.load(zin.open(name))).decode())
        text = json.dumps(meta).replace('"note": "x"', '"note": ' + "[" * 100_000 + "]" * 100_000)
        with zout.open(name, "w") as f:
            np.lib.format.write_array(f, np.frombuffer(text.encode(), dtype=np.uint8))
        return True

    bad = _rewrite(path, nested)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        checkpoint.load(bad, _net())


def test_checkpoints_follow_the_umask(tmp_path):
    import stat

    old = os.umask(0o022)
    try:
        _, _, path = _saved(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_a_refused_resume_changes_no_parameter_gradient_or_dtype(tmp_path):
    """A float32 checkpoint resumed into a float16 trainer, and a damaged one: both refused
    after the model was brought to the trainer's precision; the model is as it was."""
    x, t = anynet.data.spiral()
    anynet.seed(0)
    model = anynet.MLP(2, [6], 3)
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.Adam(0.01), verbose=0)
    trainer.fit((x, t), epochs=1, batch_size=100)
    path = checkpoint.save(tmp_path / "f32.npz", model, trainer.optimizer, trainer.state())
    loss = anynet.SoftmaxWithLoss()  # gradients in place, as a step leaves them
    loss.forward(model.forward(x[:4].astype(np.float32), train=True), t[:4])
    model.backward(loss.backward())
    before = [(p.data, p.grad, dict(p.state)) for p in model.params]
    for precision, target in [("float16", path), ("float32", _rewrite(path, lambda n, zi, zo: n.endswith("0.b.npy")))]:
        other = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.Adam(0.01), verbose=0, precision=precision)
        with pytest.raises(CheckpointError):
            other.fit((x, t), epochs=2, batch_size=100, resume=target)
        for p, (data, grad, state) in zip(model.params, before):
            assert p.data is data and p.grad is grad and p.state.keys() == state.keys()
