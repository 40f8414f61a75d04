"""The error contract: bad arguments and bad data give ValueError or TypeError naming the class,
what was expected and what came (anynet.validation and the checks that call it), and a refused
call changes nothing. Messages of one module are also pinned in that module's tests.

Besides the pinned messages: a table of bad constructor arguments for every class a user builds,
and property-based tests (hypothesis) that feed random shapes and dtypes into every layer and
loss on every CPU backend.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anynet
from anynet import layers, losses, models, optim
from anynet.data import DataLoader, DataSet, train_val_split
from anynet.optim import hooks, schedules
from anynet.testing import arr, host
from anynet.training import Checkpoint, EarlyStopping
from anynet.validation import check_bool, check_choice, check_float, check_int


def test_wrong_shape_names_layer_and_shapes(backend):
    layer = anynet.Affine(784, 10)
    with pytest.raises(ValueError, match=r"Affine: expected x of shape \(N, 784\), got \(32, 28, 28\)"):
        layer.forward(arr(backend, np.zeros((32, 28, 28)), "float32"))
    with pytest.raises(ValueError, match=r"Affine: expected x of shape \(N, 784\), got \(32, 783\)"):
        layer.forward(arr(backend, np.zeros((32, 783)), "float32"))


def test_integers_into_affine(backend):
    with pytest.raises(TypeError, match=r"Affine: expected x of a floating dtype, got .*int.* \(2, 3\)"):
        anynet.Affine(3, 2).forward(arr(backend, np.ones((2, 3), dtype=np.int64)))


def test_dtype_must_match_the_parameters(backend):
    with pytest.raises(TypeError, match=r"Affine: expected x of dtype .*float32.*got .*float64"):
        anynet.Affine(3, 2).forward(arr(backend, np.ones((2, 3))))


def test_empty_batch(backend):
    with pytest.raises(ValueError, match=r"Affine: empty batch: x has shape \(0, 3\)"):
        anynet.Affine(3, 2).forward(arr(backend, np.ones((0, 3)), "float32"))
    with pytest.raises(ValueError, match=r"ReLU: empty batch"):
        anynet.ReLU().forward(arr(backend, np.ones((0, 3)), "float32"))


def test_labels_out_of_range(backend):
    x = arr(backend, np.zeros((3, 4)), "float32")
    with anynet.debug():
        with pytest.raises(ValueError, match=r"SoftmaxWithLoss: labels must lie in \[0, 4\).*\[0, 4\]"):
            anynet.SoftmaxWithLoss().forward(x, arr(backend, [0, 4, 1]))
        with pytest.raises(ValueError, match=r"SoftmaxWithLoss: labels must lie in"):
            anynet.SoftmaxWithLoss().forward(x, arr(backend, [0, -1, 1]))


def test_label_shape_and_dtype(backend):
    x = arr(backend, np.zeros((3, 4)), "float32")
    with pytest.raises(ValueError, match=r"SoftmaxWithLoss: expected labels t of shape \(3,\) or \(3, 4\), got \(2,\)"):
        anynet.SoftmaxWithLoss().forward(x, arr(backend, [0, 1]))
    with pytest.raises(ValueError, match=r"MeanSquaredError: expected t of shape \(3, 4\) like y, got \(3,\)"):
        anynet.MeanSquaredError().forward(x, arr(backend, np.zeros(3), "float32"))


def test_nan_in_input(backend):
    x = arr(backend, [[1.0, np.nan, 0.0]], "float32")
    with anynet.debug():
        with pytest.raises(ValueError, match=r"ReLU: x of shape \(1, 3\) holds 1 NaN or Inf"):
            anynet.ReLU().forward(x)
        with pytest.raises(ValueError, match=r"MLP: x of shape \(1, 3\) holds 1 NaN"):
            anynet.MLP(3, [2], 2).forward(x)


def test_value_checks_are_on_by_default_for_numpy_only():
    x = np.array([[1.0, np.nan]], dtype=np.float32)
    with pytest.raises(ValueError, match="NaN"):
        anynet.ReLU().forward(x)
    with anynet.debug(False):
        anynet.ReLU().forward(x)  # off when asked


def test_dout_shape_and_order(backend):
    layer = anynet.Affine(3, 2)
    with pytest.raises(RuntimeError, match="Affine: backward called before forward"):
        layer.backward(arr(backend, np.ones((1, 2)), "float32"))
    layer.forward(arr(backend, np.ones((4, 3)), "float32"))
    with pytest.raises(ValueError, match=r"Affine: expected dout of shape \(4, 2\), got \(4, 3\)"):
        layer.backward(arr(backend, np.ones((4, 3)), "float32"))


def test_state_that_does_not_fit(backend):
    layer = anynet.Affine(3, 2)
    with pytest.raises(ValueError, match=r"Affine: W has shape \(3, 2\), the state gives \(2, 2\)"):
        layer.load_state_dict({"W": arr(backend, np.ones((2, 2)), "float32"), "b": layer.b.data})
    with pytest.raises(ValueError, match="missing"):
        layer.load_state_dict({"W": layer.W.data})


def test_the_shared_checks_name_class_argument_and_value():
    assert check_int("A", "n", np.int64(3)) == 3 and check_float("A", "r", 1) == 1.0
    with pytest.raises(ValueError, match=r"^A: n must be an integer >= 1, got 0$"):
        check_int("A", "n", 0)
    with pytest.raises(TypeError, match=r"^A: n must be an integer, got 2.0 \(float\)$"):
        check_int("A", "n", 2.0)
    with pytest.raises(TypeError, match=r"^A: n must be an integer, got True \(bool\)$"):
        check_int("A", "n", True)
    with pytest.raises(ValueError, match=r"^A: n must be an integer in \[0, 3\], got 4$"):
        check_int("A", "n", 4, 0, 3)
    with pytest.raises(ValueError, match=r"^A: r must be a number in \[0.0, 1.0\), got nan$"):
        check_float("A", "r", math.nan, 0.0, 1.0, high_open=True)
    with pytest.raises(ValueError, match=r"^A: r must be a number > 0.0, got 0.0$"):
        check_float("A", "r", 0.0, 0.0, low_open=True)
    with pytest.raises(ValueError, match=r"^A: r must be a number that is finite, got inf$"):
        check_float("A", "r", math.inf)
    with pytest.raises(TypeError, match=r"^A: r must be a number, got '1' \(str\)$"):
        check_float("A", "r", "1")
    with pytest.raises(ValueError, match=r"^A: mode must be one of 'min', 'max', got 'mean'$"):
        check_choice("A", "mode", "mean", ("min", "max"))
    with pytest.raises(TypeError, match=r"^A: flag must be True or False, got 1 \(int\)$"):
        check_bool("A", "flag", 1)


# (what is built, the error, the class and argument the message must name)
BAD_ARGUMENTS = [
    # layers
    (lambda: anynet.Affine(0, 3), ValueError, "Affine: in_size"),
    (lambda: anynet.Affine(4, -1), ValueError, "Affine: out_size"),
    (lambda: anynet.Affine(4.5, 3), TypeError, "Affine: in_size"),
    (lambda: anynet.Affine(4, 3, weight_init="glorot"), ValueError, "Affine: weight_init"),
    (lambda: anynet.Affine(4, 3, weight_init=-0.1), ValueError, "Affine: weight_init"),
    (lambda: anynet.Affine(4, 3, weight_init=math.nan), ValueError, "Affine: weight_init"),
    (lambda: anynet.MatMul(4, 0), ValueError, "MatMul: out_size"),
    (lambda: anynet.BatchNorm(0), ValueError, "BatchNorm: num_features"),
    (lambda: anynet.BatchNorm(3, momentum=1.5), ValueError, "BatchNorm: momentum"),
    (lambda: anynet.BatchNorm(3, eps=0.0), ValueError, "BatchNorm: eps"),
    (lambda: anynet.Dropout(1.0), ValueError, "Dropout: ratio"),
    (lambda: anynet.Dropout(-0.1), ValueError, "Dropout: ratio"),
    (lambda: anynet.Dropout("half"), TypeError, "Dropout: ratio"),
    (lambda: anynet.Embedding(0, 3), ValueError, "Embedding: vocab_size"),
    (lambda: anynet.Embedding(5, -3), ValueError, "Embedding: embed_size"),
    (lambda: anynet.Embedding(5, 3, weight_init=-1.0), ValueError, "Embedding: weight_init"),
    (lambda: anynet.TimeEmbedding(5, 0), ValueError, "TimeEmbedding: embed_size"),
    (lambda: anynet.Conv(0, 3, 3), ValueError, "Conv: in_channels"),
    (lambda: anynet.Conv(1, 3, 0), ValueError, "Conv: kernel_size"),
    (lambda: anynet.Conv(1, 3, (3,)), ValueError, "Conv: kernel_size"),
    (lambda: anynet.Conv(1, 3, 3, stride=0), ValueError, "Conv: stride"),
    (lambda: anynet.Conv(1, 3, 3, pad=-1), ValueError, "Conv: pad"),
    (lambda: anynet.Conv(1, 3, 2.5), TypeError, "Conv: kernel_size"),
    (lambda: anynet.Conv(1, 3, 3, input_grad="yes"), TypeError, "Conv: input_grad"),
    (lambda: anynet.MaxPool(0), ValueError, "MaxPool: pool_size"),
    (lambda: anynet.AvgPool(2, stride=-2), ValueError, "AvgPool: stride"),
    (lambda: anynet.LRN(0), ValueError, "LRN: size"),
    (lambda: anynet.LRN(5, k=0.0), ValueError, "LRN: k"),
    (lambda: anynet.LeakyReLU(math.inf), ValueError, "LeakyReLU: alpha"),
    (lambda: anynet.ELU("one"), TypeError, "ELU: alpha"),
    (lambda: anynet.Softmax(axis=1.0), TypeError, "Softmax: axis"),
    (lambda: anynet.TimeAffine(0, 3), ValueError, "TimeAffine: in_size"),
    (lambda: anynet.RNN(3, 0), ValueError, "RNN: hidden_size"),
    (lambda: anynet.LSTM(0, 3), ValueError, "LSTM: input_size"),
    (lambda: anynet.GRU(3, 2.0), TypeError, "GRU: hidden_size"),
    (lambda: anynet.TimeLSTM(3, -4), ValueError, "TimeLSTM: hidden_size"),
    (lambda: anynet.TimeRNN(0, 4), ValueError, "TimeRNN: input_size"),
    # models
    (lambda: anynet.MLP(0, [4], 2), ValueError, "MLP: input_size"),
    (lambda: anynet.MLP(2, [4, 0], 2), ValueError, r"MLP: hidden_sizes\[1\]"),
    (lambda: anynet.MLP(2, 4, 2), TypeError, "MLP: hidden_sizes"),
    (lambda: anynet.MLP(2, [4], 0), ValueError, "MLP: output_size"),
    (lambda: anynet.MLP(2, [4], 2, dropout=1.0), ValueError, "MLP: dropout"),
    (lambda: anynet.MLP(2, [4], 2, activation="swish"), ValueError, "MLP: activation"),
    (lambda: anynet.MLP(2, [4], 2, batchnorm=1), TypeError, "MLP: batchnorm"),
    (lambda: anynet.TwoLayerNet(2, 0, 3), ValueError, r"TwoLayerNet: hidden_sizes\[0\]"),
    (lambda: models.SimpleConvNet(output_size=0), ValueError, "SimpleConvNet: output_size"),
    (lambda: models.SimpleConvNet(filter_size=2.5), TypeError, "SimpleConvNet: filter_size"),
    (lambda: models.SimpleConvNet(pad=-1), ValueError, "SimpleConvNet: pad"),
    (lambda: models.SimpleConvNet(input_shape=(1, 0, 28)), ValueError, "SimpleConvNet: input_shape"),
    (lambda: models.SimpleConvNet(input_shape=28), ValueError, "SimpleConvNet: input_shape"),
    (lambda: models.LeNet5(output_size=-1), ValueError, "LeNet5: output_size"),
    (lambda: models.LeNet5(pool="median"), ValueError, "LeNet5: .*pool"),
    (lambda: models.DeepConvNet(channels=(16, 16, 32, 0, 64, 64)), ValueError, r"DeepConvNet: channels\[3\]"),
    (lambda: models.DeepConvNet(channels=16), ValueError, "DeepConvNet: channels"),
    (lambda: models.DeepConvNet(dropout=2.0), ValueError, "DeepConvNet: dropout"),
    (lambda: models.AlexNet(hidden_size=0), ValueError, "AlexNet: hidden_size"),
    (lambda: models.VGG(blocks=((32, 0),)), ValueError, r"VGG: blocks\[0\]\[1\]"),
    (lambda: models.SequenceClassifier(5, 4, 3, cell="transformer"), ValueError, "recurrent_stack: cell"),
    (lambda: models.SequenceClassifier(5, 4, 3, layers=0), ValueError, "recurrent_stack: layers"),
    (lambda: models.LanguageModel(10, 4, 4, dropout=-0.5), ValueError, "recurrent_stack: dropout"),
    # losses
    (lambda: anynet.SoftmaxWithLoss(reduction="avg"), ValueError, "SoftmaxWithLoss: reduction"),
    (lambda: anynet.CrossEntropy(delta=0.0), ValueError, "CrossEntropy: delta"),
    (lambda: anynet.BinaryCrossEntropy(eps=-1e-7), ValueError, "BinaryCrossEntropy: eps"),
    (lambda: anynet.Hinge(reduction=None), ValueError, "Hinge: reduction"),
    (lambda: anynet.SoftmaxWithLoss(label_smoothing=1.0), ValueError, "SoftmaxWithLoss: label_smoothing"),
    (lambda: losses.FocalLoss(gamma=math.inf), ValueError, "FocalLoss: gamma"),
    (lambda: losses.Huber(delta="1"), TypeError, "Huber: delta"),
    (lambda: anynet.SparseCategoricalCrossEntropy(from_logits="no"), TypeError,
     "SparseCategoricalCrossEntropy: from_logits"),
    (lambda: anynet.MeanAbsolutePercentageError(eps=math.nan), ValueError, "MeanAbsolutePercentageError: eps"),
    (lambda: anynet.TimeSoftmaxWithLoss(ignore_label=0.5), TypeError, "TimeSoftmaxWithLoss: ignore_label"),
    # optimizers
    (lambda: anynet.SGD(lr=0.0), ValueError, "SGD: lr"),
    (lambda: anynet.SGD(lr=math.nan), ValueError, "SGD: lr"),
    (lambda: anynet.SGD(lr="0.1"), TypeError, "SGD: lr"),
    (lambda: anynet.SGD(hooks=[0.5]), TypeError, r"SGD: hooks\[0\]"),
    (lambda: anynet.Momentum(momentum=-0.1), ValueError, "Momentum: momentum"),
    (lambda: anynet.Nesterov(momentum=1.0), ValueError, "Nesterov: momentum"),
    (lambda: anynet.AdaGrad(eps=0.0), ValueError, "AdaGrad: eps"),
    (lambda: anynet.RMSProp(decay=1.0), ValueError, "RMSProp: decay"),
    (lambda: anynet.AdaDelta(rho=-1.0), ValueError, "AdaDelta: rho"),
    (lambda: anynet.Adam(beta1=1.0), ValueError, "Adam: beta1"),
    (lambda: anynet.Adam(eps=-1.0), ValueError, "Adam: eps"),
    (lambda: anynet.AdamW(weight_decay=math.inf), ValueError, "AdamW: weight_decay"),
    (lambda: anynet.Nadam(momentum_decay=-0.004), ValueError, "Nadam: momentum_decay"),
    (lambda: optim.RAdam(beta2=1.5), ValueError, "RAdam: beta2"),
    (lambda: optim.Lion(beta1=-0.5), ValueError, "Lion: beta1"),
    (lambda: optim.Lion(weight_decay=-1.0), ValueError, "Lion: weight_decay"),
    (lambda: optim.LAMB(weight_decay=math.nan), ValueError, "LAMB: weight_decay"),
    # schedules and hooks
    (lambda: schedules.Constant(0.0), ValueError, "Constant: lr"),
    (lambda: schedules.StepDecay(0.1, step=2.5), TypeError, "StepDecay: step"),
    (lambda: schedules.StepDecay(0.1, step=10, gamma=0.0), ValueError, "StepDecay: gamma"),
    (lambda: schedules.CosineDecay(0.1, total=0), ValueError, "CosineDecay: total"),
    (lambda: schedules.CosineDecay(0.1, total=10, min_lr=-0.1), ValueError, "CosineDecay: min_lr"),
    (lambda: schedules.Warmup(0.1, steps=-1), ValueError, "Warmup: steps"),
    (lambda: schedules.Warmup(-0.1, steps=3), ValueError, "Constant: lr"),
    (lambda: schedules.OneCycle(0.1, total=1), ValueError, "OneCycle: total"),
    (lambda: schedules.OneCycle(0.1, total=10, pct_start=0.0), ValueError, "OneCycle: pct_start"),
    (lambda: schedules.OneCycle(0.1, total=10, div_factor=0), ValueError, "OneCycle: div_factor"),
    (lambda: hooks.WeightDecay(-1e-4), ValueError, "WeightDecay: rate"),
    (lambda: hooks.WeightDecay(1e-4, only_weights="yes"), TypeError, "WeightDecay: only_weights"),
    (lambda: hooks.ClipByNorm(0.0), ValueError, "ClipByNorm: max_norm"),
    (lambda: hooks.ClipByValue(math.inf), ValueError, "ClipByValue: limit"),
    # data and training
    (lambda: DataLoader((np.zeros((4, 2)), np.zeros(4)), batch_size=0), ValueError, "DataLoader: batch_size"),
    (lambda: DataLoader((np.zeros((4, 2)), np.zeros(4)), batch_size=2.5), TypeError, "DataLoader: batch_size"),
    (lambda: DataLoader((np.zeros((4, 2)), np.zeros(4)), shuffle=None), TypeError, "DataLoader: shuffle"),
    (lambda: DataSet(np.zeros((4, 2)), np.zeros(3)), ValueError, "DataSet 'data': x and t"),
    (lambda: DataSet(np.array([[math.nan]]), np.zeros(1)), ValueError, "DataSet 'data': x holds NaN"),
    (lambda: train_val_split((np.zeros((4, 2)), np.zeros(4)), 1.5), ValueError, "train_val_split: val"),
    (lambda: train_val_split((np.zeros((4, 2)), np.zeros(4)), -1), ValueError, "train_val_split: val"),
    (lambda: EarlyStopping(patience=0), ValueError, "EarlyStopping: patience"),
    (lambda: EarlyStopping(mode="lowest"), ValueError, "EarlyStopping: mode"),
    (lambda: EarlyStopping(min_delta=-1.0), ValueError, "EarlyStopping: min_delta"),
    (lambda: EarlyStopping(monitor=3), TypeError, "EarlyStopping: monitor"),
    (lambda: Checkpoint("x.npz", every=0), ValueError, "Checkpoint: every"),
    (lambda: Checkpoint("x.npz", metadata=["a"]), TypeError, "Checkpoint: metadata"),
    (lambda: anynet.Trainer(anynet.MLP(2, [3], 2), anynet.SoftmaxWithLoss(), anynet.SGD(), verbose=-1),
     ValueError, "Trainer: verbose"),
    (lambda: anynet.Trainer(anynet.MLP(2, [3], 2), anynet.SoftmaxWithLoss(), anynet.SGD(), callbacks=[print]),
     TypeError, r"Trainer: callbacks\[0\]"),
    (lambda: anynet.Trainer(anynet.MLP(2, [3], 2), anynet.SoftmaxWithLoss(reduction="sum"), anynet.SGD()),
     ValueError, "Trainer: the loss must average"),
]


@pytest.mark.parametrize(("build", "error", "names"), BAD_ARGUMENTS, ids=[b[2].split(":")[0] for b in BAD_ARGUMENTS])
def test_bad_constructor_arguments_name_class_and_argument(build, error, names):
    with pytest.raises(error, match=f"^{names}") as info:
        build()
    assert type(info.value) is error  # exactly the documented kind, not a subclass from elsewhere


# -- property-based: random shapes and dtypes into every layer and loss ----------------------------

DTYPES = ("float32", "float64", "int32", "int64", "bool")


def _layer_table():
    """Every layer, built small: input size 4 (features, channels or embedding ids < 4)."""
    return {
        "Affine": lambda: anynet.Affine(4, 3), "MatMul": lambda: anynet.MatMul(4, 3),
        "Flatten": layers.Flatten, "Dropout": lambda: anynet.Dropout(0.5),
        "BatchNorm": lambda: anynet.BatchNorm(4), "Embedding": lambda: anynet.Embedding(4, 3),
        "TimeEmbedding": lambda: anynet.TimeEmbedding(4, 3), "Conv": lambda: anynet.Conv(4, 2, 3, pad=1),
        "MaxPool": lambda: anynet.MaxPool(2), "AvgPool": lambda: anynet.AvgPool(2),
        "LRN": lambda: anynet.LRN(3), "ReLU": anynet.ReLU, "LeakyReLU": anynet.LeakyReLU,
        "ELU": anynet.ELU, "Sigmoid": anynet.Sigmoid, "Tanh": anynet.Tanh, "Softmax": anynet.Softmax,
        "LogSoftmax": anynet.LogSoftmax, "TimeAffine": lambda: anynet.TimeAffine(4, 3),
        "TimeRNN": lambda: anynet.TimeRNN(4, 3), "TimeLSTM": lambda: anynet.TimeLSTM(4, 3),
        "TimeGRU": lambda: anynet.TimeGRU(4, 3), "GlobalAvgPool": anynet.GlobalAvgPool,
        "Residual": lambda: anynet.Residual(anynet.Sequential(anynet.Conv(4, 4, 3, pad=1), anynet.BatchNorm(4)),
                                            activation=anynet.ReLU()),
    }


LAYERS = sorted(_layer_table())
LOSSES = sorted(name for name in losses.__all__ if name != "Loss")

shapes = st.lists(st.integers(0, 5), min_size=0, max_size=5).map(tuple)
# each shape also gets the right size 4 in one random axis, so the valid inputs are met often
arrays = st.tuples(shapes, st.sampled_from(DTYPES), st.integers(0, 4), st.integers(0, 2**31 - 1))


def _host_array(spec):
    shape, dtype, axis4, seed = spec
    if shape and axis4 < len(shape):
        shape = shape[:axis4] + (4,) + shape[axis4 + 1:]
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("int"):
        return rng.integers(0, 4, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _state(layer):
    return {k: host(v).copy() for k, v in layer.state_dict().items()}


@settings(max_examples=40)
@given(name=st.sampled_from(LAYERS), spec=arrays, train=st.booleans())
def test_random_inputs_into_every_layer(cpu_backend, name, spec, train):
    """A result of the right kind or ValueError/TypeError, never another exception; a refused
    call leaves the layer's parameters and buffers (BatchNorm's statistics) as they were."""
    layer = _layer_table()[name]()
    x0 = _host_array(spec)
    x = arr(cpu_backend, x0)
    before = _state(layer)
    try:
        y = layer.forward(x, train)
    except (ValueError, TypeError):
        after = _state(layer)
        assert before.keys() == after.keys()
        for key in before:
            np.testing.assert_array_equal(before[key], after[key], err_msg=f"{name}: refused call changed {key}")
        return
    finally:
        np.testing.assert_array_equal(host(x), x0)  # inputs are never written
    assert anynet.device_of(y) == cpu_backend
    out = host(y)
    assert out.ndim >= 1 and out.shape[0] == x0.shape[0]
    if x0.dtype.kind == "f":
        assert np.isfinite(out).all(), f"{name}: finite input {x0.shape} gave non-finite output"
    dout = arr(cpu_backend, np.ones(out.shape, out.dtype))
    try:
        layer.backward(dout)
    except (ValueError, TypeError):
        pass


loss_inputs = st.tuples(arrays, arrays)


@settings(max_examples=30)
@given(name=st.sampled_from(LOSSES), specs=loss_inputs)
def test_random_inputs_into_every_loss(cpu_backend, name, specs):
    """A finite scalar loss or ValueError/TypeError, never another exception."""
    loss = getattr(losses, name)()
    y0, t0 = (_host_array(s) for s in specs)
    y, t = arr(cpu_backend, y0), arr(cpu_backend, t0)
    try:
        value = loss.forward(y, t)
    except (ValueError, TypeError):
        return
    out = host(value)
    assert out.shape == ()
    # values read back as finite whenever the inputs were finite floats in the losses' domain
    if y0.dtype.kind == "f" and y0.size and np.all((y0 > 0) & (y0 < 1)):
        assert np.isfinite(out), f"{name}: y in (0, 1) gave {out}"
    grad = loss.backward()
    assert tuple(grad.shape) == y0.shape
