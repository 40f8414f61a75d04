"""No hidden host traffic in a training step.

On a GPU every ``float()``, ``bool()`` or copy to the host is a device sync.
array-api-strict on ``Device("device1")`` lets us count them on the CPU: each
conversion of one of its arrays to a Python number or to the host is counted
while the Trainer runs. An epoch may read its metrics once; the count must not
grow with the number of steps (the batch upload is host-to-device and is not
counted).
"""

from __future__ import annotations

import contextlib
import sys
import warnings

import numpy as np
import pytest

import anynet
from anynet import losses as L
from anynet import optim
from anynet.backend._cupy import SYNCING
from anynet.optim import hooks
from anynet.optim.hooks import ClipByNorm
from anynet.testing import resolve_backend

READS = ("__float__", "__bool__", "__int__", "__index__", "__complex__", "__array__", "__dlpack__", "to_device")


@pytest.fixture
def host_reads(monkeypatch):
    """A counter of device-to-host conversions of array-api-strict arrays."""
    strict_array = pytest.importorskip("array_api_strict._array_object").Array
    count = {"n": 0}
    for name in READS:
        original = getattr(strict_array, name)

        def counted(self, *args, _original=original, **kwargs):
            count["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(strict_array, name, counted)
    return count


@pytest.fixture
def no_data_dependent():
    """array-api-strict without boolean-mask indexing, nonzero or unique (both flags: the first
    alone still allows masks), restored afterwards: what syncs on a GPU fails here."""
    strict = pytest.importorskip("array_api_strict")
    with strict.ArrayAPIStrictFlags(data_dependent_shapes=False, boolean_indexing=False):
        yield


@pytest.fixture(params=["numpy", "strict"])
def sync_free(request, monkeypatch):
    """A device on which whatever would sync on CuPy raises: array-api-strict without
    data-dependent operations, or NumPy with array-api-compat's CuPy-syncing functions refused."""
    dev = resolve_backend(request.param)
    if request.param == "strict":
        request.getfixturevalue("no_data_dependent")
    else:
        for name in SYNCING:
            def refused(*args, _name=name, **kwargs):
                raise AssertionError(f"anynet called xp.{_name}, which syncs on CuPy; see backend SYNCING")

            monkeypatch.setattr(dev.xp, name, refused)
    with anynet.device(dev), anynet.debug(False):  # as on a GPU: value checks off
        yield dev


MODELS = {
    "mlp": (lambda: anynet.MLP(12, [16, 16], 3, dropout=0.2, batchnorm=True), (12,)),
    "lstm": (lambda: anynet.models.SequenceClassifier(4, 8, 3, cell="lstm"), (3, 4)),
    "convnet": (lambda: anynet.SimpleConvNet((1, 8, 8), 3, filter_num=4, filter_size=3, hidden_size=8), (1, 8, 8)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_reads_per_epoch_do_not_grow_with_steps(host_reads, no_data_dependent, name):
    make, shape = MODELS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, *shape)).astype(np.float32)
    t = rng.integers(0, 3, 80)
    reads = {}
    for batch_size in (40, 10):  # 2 and 8 steps per epoch
        with anynet.device(resolve_backend("strict")):
            model = make()
            opt = anynet.Adam(lr=1e-3, hooks=[ClipByNorm(1.0)])
            trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), opt, verbose=0)
            with anynet.debug(False):  # as on a GPU: value checks off
                host_reads["n"] = 0
                trainer.fit((x, t), epochs=1, batch_size=batch_size)
                reads[batch_size] = host_reads["n"]
    assert reads[10] == reads[40], f"host reads grow with the steps: {reads}"
    assert reads[40] <= 4, f"more host reads per epoch than the metrics need: {reads}"


def test_dynamic_loss_scaling_reads_nothing_per_step(host_reads, no_data_dependent):
    """The scaler's finite check, skip and scale update stay on the device (array-api-strict has
    no float16: a float32 policy with a dynamic scaler runs the same code)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 12)).astype(np.float32)
    t = rng.integers(0, 3, 80)
    reads = {}
    for batch_size in (40, 10):
        with anynet.device(resolve_backend("strict")):
            precision = anynet.Precision("float32", loss_scaler=anynet.LossScaler(2.0**8, growth_interval=3))
            trainer = anynet.Trainer(anynet.MLP(12, [16], 3), anynet.SoftmaxWithLoss(), anynet.Adam(1e-3),
                                     verbose=0, precision=precision)
            with anynet.debug(False):
                host_reads["n"] = 0
                trainer.fit((x, t), epochs=1, batch_size=batch_size)
                reads[batch_size] = host_reads["n"]
        assert float(precision.loss_scaler.scale) == 2.0 ** (8 + 8 // 3 if batch_size == 10 else 8)
    assert reads[10] == reads[40] <= 4, f"host reads grow with the steps: {reads}"


R = np.random.default_rng(3)
N, C = 4, 3
_P = R.uniform(0.05, 0.9, (N, C))
_PM = np.where(R.random((N, C)) > 0.5, 1.0, -1.0)
_LABELS = np.array([0, 2, 1, 2])
# every loss: (factory, y, t), with values that reach the guards (clips at 0 and 1, |t| = 0)
LOSS_CASES = {
    "CrossEntropy": (L.CrossEntropy, _P, _LABELS),
    "CategoricalCrossEntropy": (L.CategoricalCrossEntropy, np.eye(C)[_LABELS], np.eye(C)[_LABELS]),
    "SparseCategoricalCrossEntropy": (L.SparseCategoricalCrossEntropy, _P, _LABELS),
    "SoftmaxWithLoss": (L.SoftmaxWithLoss, _PM, _LABELS),
    "FocalLoss": (L.FocalLoss, _PM, _LABELS),
    "Huber": (L.Huber, 3 * _PM, _P),
    "BinaryCrossEntropy": (L.BinaryCrossEntropy, np.round(_P), (_PM > 0) * 1.0),
    "SigmoidWithLoss": (L.SigmoidWithLoss, _PM, (_PM > 0) * 1.0),
    "Hinge": (L.Hinge, _P, _PM),
    "SquaredHinge": (L.SquaredHinge, _P, _PM),
    "MeanSquaredError": (L.MeanSquaredError, _P, _PM),
    "MeanAbsoluteError": (L.MeanAbsoluteError, _PM, _PM * (_P > 0.5)),
    "MeanAbsolutePercentageError": (L.MeanAbsolutePercentageError, _P, _PM * (_P > 0.5)),
    "MeanSquaredLogarithmicError": (L.MeanSquaredLogarithmicError, _PM, _P),
    "KLDivergence": (L.KLDivergence, np.round(_P), _P),
    "Poisson": (L.Poisson, _PM, _P),
    "CosineProximity": (L.CosineProximity, _PM, _P),
    "TimeSoftmaxWithLoss": (L.TimeSoftmaxWithLoss, R.standard_normal((2, 3, C)), np.array([[0, 2, -1], [1, -1, 2]])),
}


def test_every_loss_is_in_the_sync_free_table():
    assert set(LOSS_CASES) == set(L.__all__) - {"Loss"}


@pytest.mark.parametrize("case", list(LOSS_CASES))
def test_losses_do_nothing_that_syncs_on_a_gpu(sync_free, case):
    make, y0, t0 = LOSS_CASES[case]
    y = sync_free.from_numpy(y0.astype(np.float32))
    t = sync_free.from_numpy(t0 if t0.dtype.kind == "i" else t0.astype(np.float32))
    for reduction in ("mean", "sum"):
        loss = make(reduction=reduction)
        loss.forward(y, t)
        loss.backward()


HOOKS = {"WeightDecay": hooks.WeightDecay(1e-3), "ClipByNorm": hooks.ClipByNorm(0.1),
         "ClipByValue": hooks.ClipByValue(1e-3)}
OPTIMIZERS = [name for name in optim.__all__ if name != "Optimizer"]


def test_every_hook_is_in_the_sync_free_table():
    assert set(HOOKS) == set(hooks.__all__) - {"global_norm"}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_training_steps_do_nothing_that_syncs_on_a_gpu(sync_free, optimizer):
    """Every optimizer, with every hook, over the models of the step-count test."""
    rng = np.random.default_rng(0)
    for make, shape in MODELS.values():
        model = make()
        opt = getattr(optim, optimizer)(hooks=list(HOOKS.values()))
        loss = anynet.SoftmaxWithLoss()
        for _ in range(2):
            x = sync_free.from_numpy(rng.standard_normal((6, *shape)).astype(np.float32))
            t = sync_free.from_numpy(rng.integers(0, 3, 6))
            loss.forward(model.forward(x, train=True), t)
            model.backward(loss.backward())
            opt.update(model.params)
        model.predict(x)


def test_no_synchronisation_in_cupy_training_steps(monkeypatch):
    """On a real GPU: forward, loss, backward and update never wait for the device. The
    functions that sync in array-api-compat's CuPy wrappers are refused; where CuPy still has
    the deprecated ``cupyx.allow_synchronize(False)``, any device synchronisation (every
    device-to-host read) raises as well. The batches are uploaded before, as a loader would."""
    dev = resolve_backend("cupy")
    for name in SYNCING:
        def refused(*args, _name=name, **kwargs):
            raise AssertionError(f"anynet called xp.{_name}, which syncs on CuPy")

        monkeypatch.setattr(dev.xp, name, refused)
    cupyx = pytest.importorskip("cupyx")
    detector = getattr(cupyx, "allow_synchronize", None)
    rng = np.random.default_rng(0)

    def no_sync():
        if detector is None:
            return contextlib.nullcontext()
        warnings.simplefilter("ignore", DeprecationWarning)
        return detector(False)

    for make, shape in MODELS.values():
        with anynet.device(dev):
            model = make()
        loss = anynet.SoftmaxWithLoss()
        opt = anynet.Adam(lr=1e-3, hooks=list(HOOKS.values()))
        batches = [(anynet.to_device(rng.standard_normal((16, *shape)).astype(np.float32), dev),
                    anynet.to_device(rng.integers(0, 3, 16), dev)) for _ in range(3)]
        with anynet.debug(False), warnings.catch_warnings(), no_sync():
            for x, t in batches:
                y = model.forward(x, train=True)
                loss.forward(y, t)
                model.backward(loss.backward())
                opt.update(model.params)
    for make, y0, t0 in LOSS_CASES.values():
        y = dev.from_numpy(y0.astype(np.float32))
        t = dev.from_numpy(t0 if t0.dtype.kind == "i" else t0.astype(np.float32))
        with anynet.debug(False), warnings.catch_warnings(), no_sync():
            loss = make()
            loss.forward(y, t)
            loss.backward()


CREATION = ("zeros", "ones", "full", "empty", "arange", "asarray", "eye", "zeros_like", "ones_like", "full_like")


@pytest.mark.parametrize("name", ["numpy", "strict", "torch"])
def test_steps_create_copy_and_look_up_nothing_needlessly(monkeypatch, name):
    """Small models are host-bound on a GPU, so a step's Python overhead counts: after the first
    step (optimizer state) no array is created from scratch (ReLU's zero, one_hot's range, a loss's
    1.0), no astype copies an array already of its dtype, and no device object is built per array
    (array_api_compat.device) to compare devices. (array-api-strict's dropout masks are drawn on
    the host and uploaded by the backend: that creation is not counted.)"""
    import array_api_compat

    dev = resolve_backend(name)
    rng = np.random.default_rng(0)
    with anynet.device(dev):
        model = anynet.MLP(12, [16, 16], 3, dropout=0.2, batchnorm=True)
    loss, time_loss = anynet.SoftmaxWithLoss(), anynet.TimeSoftmaxWithLoss()
    opt = anynet.Adam(lr=1e-3, hooks=list(HOOKS.values()))
    x, t = dev.from_numpy(rng.standard_normal((6, 12)).astype(np.float32)), dev.from_numpy(rng.integers(0, 3, 6))
    xs = dev.from_numpy(rng.standard_normal((2, 3, 4)).astype(np.float32))
    ts = dev.from_numpy(rng.integers(0, 4, (2, 3)))

    def step():
        y = model.forward(x, train=True)
        loss.forward(y, t)
        model.backward(loss.backward())
        opt.update(model.params)
        anynet.metrics.accuracy(y, t)
        time_loss.forward(xs, ts)
        time_loss.backward()

    with anynet.device(dev), anynet.debug(False):
        step()  # the first step makes the optimizer's state
        made, copies, lookups = [], [], []
        for fn in CREATION:
            original = getattr(dev.xp, fn)

            def counted(*a, _fn=fn, _orig=original, **k):
                caller = sys._getframe(1).f_globals.get("__name__", "")
                if not caller.startswith("anynet.backend"):  # not the upload of host-drawn random numbers
                    made.append(f"{_fn} in {caller}")
                return _orig(*a, **k)

            monkeypatch.setattr(dev.xp, fn, counted)
        astype = dev.xp.astype

        def counted_astype(a, dtype, *args, **kwargs):
            if a.dtype == dtype and kwargs.get("copy", True):
                copies.append(dtype)
            return astype(a, dtype, *args, **kwargs)

        monkeypatch.setattr(dev.xp, "astype", counted_astype)
        device = array_api_compat.device
        monkeypatch.setattr(array_api_compat, "device", lambda a, **k: lookups.append(1) or device(a, **k))
        step()
    assert made == [] and copies == [] and lookups == [], (made, copies, len(lookups))
