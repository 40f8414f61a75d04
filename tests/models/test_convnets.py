"""The conv model zoo (anynet.models.convnets): shapes, whole-net gradient checks and loss falling on every
CPU backend."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import arr, host
from anynet.testing.gradcheck import check_layer

MODELS = ["SimpleConvNet", "LeNet5", "DeepConvNet", "AlexNet", "VGG"]
# Image sizes for the tiny runs: LeNet5's two 5x5 convs and AlexNet's two 3/2 poolings need 16x16.
SIZE = {"SimpleConvNet": 8, "LeNet5": 16, "DeepConvNet": 8, "AlexNet": 16, "VGG": 8}

# Narrow versions for fast runs on every backend.
TINY = {
    "SimpleConvNet": dict(filter_num=4, filter_size=3, hidden_size=8),
    "LeNet5": dict(),
    "DeepConvNet": dict(channels=(4, 4, 4, 4, 8, 8), hidden_size=8, dropout=0.0),
    "AlexNet": dict(channels=(4, 4, 8, 8, 4), hidden_size=8, dropout=0.0),
    "VGG": dict(blocks=((4,), (8,)), hidden_size=8, dropout=0.0),
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_default_models_map_images_to_scores(name, shape):
    model = getattr(anynet, name)(input_shape=shape, output_size=7)
    assert isinstance(model, anynet.Sequential)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    y = model.forward(x, train=True)
    assert y.shape == (2, 7) and y.dtype == np.float32
    assert model.backward(np.ones_like(y)) is None  # the images' gradient is skipped by default
    for p in model.params:
        assert p.grad is not None and p.grad.shape == p.data.shape and p.grad.dtype == np.float32
    assert model.predict(x).shape == (2, 7)


# Whole-net gradient checks on every CPU backend, along a few random directions (two forward
# passes each): every layer in them is also checked element by element in tests/layers/.
def test_simple_convnet_gradient(cpu_backend):
    model = anynet.SimpleConvNet(input_shape=(1, 6, 6), output_size=2, filter_num=2, filter_size=3,
                                 hidden_size=3, input_grad=True, dtype="float64")
    x = arr(cpu_backend, np.random.default_rng(2).uniform(-1, 1, (2, 1, 6, 6)))
    check_layer(model, x, tol=1e-5, directions=2)


def test_deep_convnet_with_batchnorm_gradient(cpu_backend):
    model = anynet.DeepConvNet(input_shape=(1, 4, 4), output_size=2, channels=(2, 2, 2, 2, 2, 2), hidden_size=3,
                               dropout=0.0, batchnorm=True, input_grad=True, dtype="float64")
    x = arr(cpu_backend, np.random.default_rng(3).uniform(-1, 1, (3, 1, 4, 4)))
    check_layer(model, x, tol=1e-5, train=True, directions=2)


def test_impossible_input_shape_is_refused():
    with pytest.raises(ValueError, match="DeepConvNet: input_shape is too small"):
        anynet.DeepConvNet(input_shape=(1, 1, 1))
    with pytest.raises(ValueError, match=r"SimpleConvNet: input_shape must be \(C, H, W\)"):
        anynet.SimpleConvNet(input_shape=(28, 28))


def two_stripes(n, rng, size):
    """Images with a bright left half (class 0) or right half (class 1), plus noise."""
    t = rng.integers(0, 2, n)
    x = rng.normal(0.0, 0.3, (n, 2, size, size))
    x[t == 0, :, :, :size // 2] += 1.0
    x[t == 1, :, :, size // 2:] += 1.0
    return x.astype(np.float32), t


def loss_falls(backend, model, opt, x, t, steps=8):
    """``steps`` explicit forward/backward/update steps on (x, t) on ``backend``: the loss falls to under
    half, the shapes, dtype and device hold; the inputs on the device come back."""
    loss = anynet.SoftmaxWithLoss()
    xb, tb = arr(backend, x), arr(backend, t)
    losses = []
    for _ in range(steps):
        y = model.forward(xb, train=True)
        assert tuple(y.shape) == (len(t), 2)
        losses.append(float(loss.forward(y, tb)))
        dx = model.backward(loss.backward())
        assert tuple(dx.shape) == tuple(xb.shape) and dx.dtype == xb.dtype
        opt.update(model.params)
    assert np.mean(losses[-3:]) < 0.5 * losses[0], losses
    assert anynet.device_of(model.params[0].data) == backend
    return xb


@pytest.mark.parametrize("name", MODELS)
def test_loss_falls(cpu_backend, name):
    """A few SGD steps on a tiny version of each net, also checking the shapes and the device."""
    anynet.seed(0)
    size = SIZE[name]
    x, t = two_stripes(16, np.random.default_rng(4), size)
    model = getattr(anynet, name)(input_shape=(2, size, size), output_size=2, input_grad=True, **TINY[name])
    xb = loss_falls(cpu_backend, model, anynet.SGD(lr=0.1), x, t)
    assert np.isfinite(host(model.predict(xb))).all()
