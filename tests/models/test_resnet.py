"""Residual networks (anynet.models.resnet): structure, resnet20 against a PyTorch twin with the same weights
(forward and backward), loss falling on every CPU backend, compiled on JAX, exported to ONNX, in the CLI."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet import layers as L
from anynet.cli.build import MODELS, ModelSpec
from anynet.cli.options import UsageError
from anynet.models import BasicBlock, Bottleneck, ResNet, resnet8, resnet10, resnet14, resnet18, resnet20, resnet32
from anynet.testing import host

from .test_convnets import loss_falls, two_stripes


def _convs(model):
    return [m for m in model.modules() if isinstance(m, L.Conv)]


@pytest.mark.parametrize(("make", "depth", "blocks"), [(resnet8, 8, 3), (resnet14, 14, 6), (resnet20, 20, 9),
                                                       (resnet32, 32, 15)])
def test_cifar_resnets_have_the_papers_depth(make, depth, blocks):
    model = make(input_shape=(3, 32, 32), output_size=10)
    assert isinstance(model, ResNet) and isinstance(model, anynet.Sequential)
    assert sum(isinstance(layer, BasicBlock) for layer in model) == blocks
    shortcuts = [c for c in _convs(model) if c.kernel == (1, 1)]
    assert len(_convs(model)) - len(shortcuts) + 1 == depth and len(shortcuts) == 2  # convs + the Affine
    assert [c.W.shape[0] for c in shortcuts] == [32, 64]


def test_resnet10_has_four_stages_of_one_block():
    model = resnet10((1, 28, 28), 10)
    blocks = [layer for layer in model if isinstance(layer, BasicBlock)]
    assert [b.body[3].W.shape[0] for b in blocks] == [16, 32, 64, 128]
    assert len(_convs(model)) - 3 + 1 == 10  # three projection shortcuts; the Affine counts
    assert sum(int(np.prod(p.data.shape)) for p in model.params) == 309_258
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    assert model.forward(x, train=False).shape == (2, 10)
    assert [b.body[3].W.shape[0] for b in resnet10(width=8) if isinstance(b, BasicBlock)] == [8, 16, 32, 64]


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("stem", ["small", "imagenet"])
def test_resnet18_maps_images_to_scores(shape, stem):
    model = resnet18(shape, 7, width=4, stem=stem)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    y = model.forward(x, train=True)
    assert y.shape == (2, 7) and y.dtype == np.float32
    assert model.backward(np.ones_like(y)) is None  # the images' gradient is skipped by default
    assert all(p.grad is not None and p.grad.shape == p.data.shape for p in model.params)
    widths = [layer.body[3].W.shape[0] for layer in model if isinstance(layer, BasicBlock)]
    assert widths == [4, 4, 8, 8, 16, 16, 32, 32]
    assert model.predict(x).shape == (2, 7)


def test_bottleneck_resnet_and_initialisation():
    model = ResNet((1, 16, 16), 3, block="bottleneck", layers=(1, 2), widths=(4, 8), zero_init_residual=True)
    blocks = [layer for layer in model if isinstance(layer, Bottleneck)]
    assert [b.body[-1].gamma.shape[0] for b in blocks] == [16, 32, 32]
    assert all(float(np.max(np.abs(b.body[-1].gamma.data))) == 0.0 for b in blocks)  # zero-init last BN
    assert float(np.min(model[1].gamma.data)) == 1.0  # every other BN starts at gamma 1
    last = _convs(model)[-1]  # He normal: std sqrt(2 / fan_in); the last shortcut's fan_in is 8 (1x1 from 8)
    assert last.W.shape == (32, 8, 1, 1) and abs(float(np.std(last.W.data)) - np.sqrt(2 / 8)) < 0.05
    assert model.forward(np.ones((2, 1, 16, 16), np.float32)).shape == (2, 3)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(input_shape=(1, 2, 2), layers=(1, 1, 1), widths=(2, 2, 2)),
     r"ResNet: input_shape \(1, 2, 2\) is too small for 3 stages: the map is 1x1 before stage 3"),
    (dict(layers=(1, 1), widths=(4,)), "ResNet: layers and widths must have one entry per stage"),
    (dict(block="wide"), "ResNet: block must be one of 'basic', 'bottleneck', got 'wide'"),
    (dict(stem="tiny"), "ResNet: stem must be one of"),
    (dict(input_shape=(28, 28)), r"ResNet: input_shape must be \(C, H, W\)"),
    (dict(widths=(4, 0, 8)), "ResNet: widths\\[1\\] must be"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet(**kwargs)


# -- resnet20 against PyTorch, the same weights -----------------------------------------------


def torch_twin(model, torch):
    """``model`` (a ResNet, or any of its parts) in torch.nn, holding a copy of its weights and statistics."""
    nn = torch.nn

    class Res(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.body = torch_twin(layer.body, torch)
            self.shortcut = nn.Identity() if layer.shortcut is None else torch_twin(layer.shortcut, torch)

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    def t(a):
        return torch.from_numpy(np.array(host(a)))

    def one(layer):
        if isinstance(layer, L.Residual):
            return Res(layer)
        if isinstance(layer, L.Conv):
            FN, C, FH, FW = layer.W.shape
            m = nn.Conv2d(C, FN, (FH, FW), layer.stride, layer.pad)
            m.weight.data, m.bias.data = t(layer.W.data), t(layer.b.data)
        elif isinstance(layer, L.BatchNorm):
            m = nn.BatchNorm2d(layer.num_features, eps=layer.eps, momentum=1 - layer.momentum)
            m.weight.data, m.bias.data = t(layer.gamma.data), t(layer.beta.data)
            m.running_mean.data, m.running_var.data = t(layer.running_mean), t(layer.running_var)
        elif isinstance(layer, L.Affine):
            m = nn.Linear(*layer.W.shape)
            m.weight.data, m.bias.data = t(layer.W.data).T.contiguous(), t(layer.b.data)
        else:
            m = {L.ReLU: nn.ReLU, L.GlobalAvgPool: lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                 L.MaxPool: lambda: nn.MaxPool2d(layer.kernel, layer.stride, layer.pad)}[type(layer)]()
        return m

    return nn.Sequential(*(one(layer) for layer in model)) if isinstance(model, anynet.Sequential) else one(model)


def _torch_grads(twin, nn):
    """The twin's parameter gradients in anynet's order and layout (Linear's weight transposed)."""
    out = []
    for m in twin.modules():  # in registration order: a block's body, then its shortcut, as anynet's
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
            w = m.weight.grad.T if isinstance(m, nn.Linear) else m.weight.grad
            out += [w.numpy(), m.bias.grad.numpy()]
    return out


@pytest.mark.parametrize(("dtype", "fwd", "grad"), [("float32", 1e-5, 1e-4), ("float64", 1e-11, 1e-10)])
def test_resnet20_matches_pytorch(dtype, fwd, grad):
    torch = pytest.importorskip("torch")
    anynet.seed(3)
    model = resnet20((1, 28, 28), 10, width=2, input_grad=True, dtype=dtype)
    for m in model.modules():  # statistics and affine parameters away from 0 and 1
        if isinstance(m, L.BatchNorm):
            m.gamma.data = m.gamma.data + np.linspace(-0.3, 0.3, m.num_features).astype(dtype)
            m.running_var = m.running_var + 0.5
    twin = torch_twin(model, torch).to(getattr(torch, dtype))
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((2, 1, 28, 28)).astype(dtype)
    dout = rng.standard_normal((2, 10)).astype(dtype)
    xt = torch.from_numpy(x0).requires_grad_(True)
    for train in (False, True):
        twin.train(train)
        y, yt = model.forward(x0, train=train), twin(xt)
        scale = float(np.max(np.abs(yt.detach().numpy())))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=fwd, atol=fwd * scale)
    dx = model.backward(dout)
    yt.backward(torch.from_numpy(dout))
    ours = [dx] + [p.grad for p in model.params]
    theirs = [xt.grad.numpy()] + _torch_grads(twin, torch.nn)
    assert len(ours) == len(theirs) == 1 + len(model.params)
    # A conv's bias before a BatchNorm has a gradient of 0 and holds rounding only: each array is compared
    # relative to its own largest value, but no more tightly than 1% of the largest gradient of all.
    largest = max(float(np.max(np.abs(b))) for b in theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        scale = max(float(np.max(np.abs(b))), 0.01 * largest)
        np.testing.assert_allclose(a, b, rtol=grad, atol=grad * scale, err_msg=f"gradient {i}")


# -- training: every CPU backend, compiled on JAX -----------------------------------------------


def test_loss_falls(cpu_backend):
    anynet.seed(0)
    x, t = two_stripes(16, np.random.default_rng(4), 8)
    model = resnet8((2, 8, 8), 2, width=2, input_grad=True)
    loss_falls(cpu_backend, model, anynet.Momentum(lr=0.05), x, t)


def test_compiled_jax_step_agrees_with_eager():
    from anynet.testing import resolve_backend
    from anynet.training import TrainStep, compile_step

    dev = resolve_backend("jax")
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((4, 1, 6, 6)).astype(np.float32), rng.integers(0, 3, 4)) for _ in range(4)]
    runs = []
    for compiled in (False, True):
        anynet.seed(7)
        with anynet.device(dev):
            model = resnet8((1, 6, 6), 3, width=2)
        loss, opt = anynet.SoftmaxWithLoss(), anynet.SGD(0.05)
        step = compile_step(model, loss, opt) if compiled else TrainStep(model, loss, opt)
        run = step.run if compiled else step
        with anynet.device(dev), anynet.debug(False):
            losses = [float(run(anynet.to_device(x, dev), anynet.to_device(t, dev))[0]) for x, t in batches]
        runs.append((model, losses, step))
    (m1, l1, _), (m2, l2, step) = runs
    np.testing.assert_allclose(l2, l1, rtol=1e-4, atol=1e-5)
    for key, a in m1.state_dict().items():  # parameters and BatchNorm's running statistics
        np.testing.assert_allclose(host(m2.state_dict()[key]), host(a), rtol=1e-4, atol=1e-5, err_msg=key)
    assert step.traces == 1


# -- export and the command line ----------------------------------------------------------------


def test_onnx_export_matches_predict(tmp_path):
    pytest.importorskip("ndonnx")
    ort = pytest.importorskip("onnxruntime")
    from anynet.export import to_onnx

    model = resnet8((1, 8, 8), 3, width=2)
    rng = np.random.default_rng(3)
    for m in model.modules():  # running statistics away from (0, 1): inference must use them
        if isinstance(m, L.BatchNorm):
            m.running_mean = rng.normal(size=m.num_features).astype(np.float32)
            m.running_var = rng.uniform(0.5, 2.0, m.num_features).astype(np.float32)
    to_onnx(model, (None, 1, 8, 8), tmp_path / "resnet.onnx")
    session = ort.InferenceSession(str(tmp_path / "resnet.onnx"), providers=["CPUExecutionProvider"])
    ops = [node.op_type for node in pytest.importorskip("onnx").load(str(tmp_path / "resnet.onnx")).graph.node]
    assert ops.count("Conv") == len(_convs(model)) == 9 and "Gemm" in ops  # the blocks' convolutions too
    for n in (1, 3):
        x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
        np.testing.assert_allclose(session.run(["y"], {"x": x})[0], model.predict(x), rtol=1e-5, atol=1e-5)


def test_in_the_command_line():
    assert {"resnet8", "resnet10", "resnet14", "resnet20", "resnet18"} <= set(MODELS)
    model = ModelSpec.of("resnet20", "fashion-mnist").build()
    assert isinstance(model, ResNet) and model[0].W.shape == (16, 1, 3, 3) and model[-1].W.shape == (64, 10)
    with pytest.raises(UsageError, match="--batchnorm: model 'resnet8' has no BatchNorm option"):
        ModelSpec.of("resnet8", "fashion-mnist", batchnorm=True)
    with pytest.raises(UsageError, match="needs image data"):
        ModelSpec.of("resnet20", "spiral")
    wide = ModelSpec.of("resnet10", "fashion-mnist", width=24)
    assert wide.build()[0].W.shape == (24, 1, 3, 3) and wide.metadata()["width"] == 24
    assert ModelSpec.from_metadata(wide.metadata()) == wide
    with pytest.raises(UsageError, match="--width: model 'deep-convnet' has no width option"):
        ModelSpec.of("deep-convnet", "fashion-mnist", width=24)
    with pytest.raises(ValueError, match="--width"):
        ModelSpec.of("resnet8", "fashion-mnist", width=0)
