"""Every layer on every backend: gradient check, closed-form forward, inputs left unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.gradcheck import check_layer
from anynet.testing import arr, check_inputs_unchanged, host

F64 = "float64"


def away_from_zero(shape, rng):
    """Inputs nudged away from the kinks of ReLU-like layers."""
    return rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)


# name -> (layer factory (float64), input shape, train flag, reseed)
LAYERS = {
    "MatMul": (lambda: anynet.MatMul(4, 3, dtype=F64), (5, 4), None, None),
    "Affine": (lambda: anynet.Affine(4, 3, dtype=F64), (5, 4), None, None),
    "Flatten": (lambda: anynet.Flatten(), (2, 3, 2, 2), None, None),
    "ReLU": (lambda: anynet.ReLU(), (4, 5), None, None),
    "LeakyReLU": (lambda: anynet.LeakyReLU(0.1), (4, 5), None, None),
    "ELU": (lambda: anynet.ELU(), (4, 5), None, None),
    "Sigmoid": (lambda: anynet.Sigmoid(), (4, 5), None, None),
    "Tanh": (lambda: anynet.Tanh(), (4, 5), None, None),
    "Softmax": (lambda: anynet.Softmax(), (4, 5), None, None),
    "LogSoftmax": (lambda: anynet.LogSoftmax(), (4, 5), None, None),
    "Dropout": (lambda: anynet.Dropout(0.3), (4, 5), True, 7),
    "BatchNorm-train": (lambda: anynet.BatchNorm(3, dtype=F64), (6, 3), True, None),
    "BatchNorm-eval": (lambda: anynet.BatchNorm(3, dtype=F64), (6, 3), False, None),
    "BatchNorm-4d": (lambda: anynet.BatchNorm(2, dtype=F64), (3, 2, 2, 3), True, None),
    "Sequential": (
        lambda: anynet.Sequential(anynet.Affine(3, 4, dtype=F64), anynet.Tanh(), anynet.Affine(4, 2, dtype=F64)),
        (5, 3), None, None,
    ),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradient(backend, name):
    make, shape, train, reseed = LAYERS[name]
    layer = make()
    rng = np.random.default_rng(0)
    x = arr(backend, away_from_zero(shape, rng))
    if name == "Sequential":
        for p in layer.params:  # check every parameter, not one per layer only
            assert p.data.dtype == x.dtype
    check_layer(layer, x, train=train, reseed=reseed)


@pytest.mark.parametrize("name", list(LAYERS))
def test_inputs_left_unchanged(backend, name):
    make, shape, train, reseed = LAYERS[name]
    check_inputs_unchanged(backend, make(), away_from_zero(shape, np.random.default_rng(1)), train)


def test_affine_forward_closed_form(backend):
    layer = anynet.Affine(2, 2, dtype=F64)
    layer.load_state_dict({"W": arr(backend, [[1.0, 2.0], [3.0, 4.0]]), "b": arr(backend, [0.5, -0.5])})
    y = layer.forward(arr(backend, [[1.0, 1.0], [0.0, 2.0]]))
    np.testing.assert_allclose(host(y), [[4.5, 5.5], [6.5, 7.5]])
    assert len(layer.params) == 2 and [p.name for p in layer.params] == ["W", "b"]
    assert layer.W.shape == (2, 2) and layer.b.shape == (2,)


def test_activation_values(backend):
    x = arr(backend, [[-2.0, 0.5, 3.0]])
    np.testing.assert_allclose(host(anynet.ReLU().forward(x)), [[0.0, 0.5, 3.0]])
    np.testing.assert_allclose(host(anynet.LeakyReLU(0.1).forward(x)), [[-0.2, 0.5, 3.0]])
    np.testing.assert_allclose(host(anynet.ELU().forward(x)), [[np.expm1(-2.0), 0.5, 3.0]])
    np.testing.assert_allclose(host(anynet.Sigmoid().forward(x)), 1 / (1 + np.exp([[2.0, -0.5, -3.0]])))
    np.testing.assert_allclose(host(anynet.Tanh().forward(x)), np.tanh([[-2.0, 0.5, 3.0]]))
    e = np.exp([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(host(anynet.Softmax().forward(x)), [e / e.sum()])
    np.testing.assert_allclose(host(anynet.LogSoftmax().forward(x)), [np.log(e / e.sum())])


def test_softmax_is_stable_for_large_scores(backend):
    x = arr(backend, [[1000.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(host(anynet.Softmax().forward(x)), [[0.5, 0.5, 0.0]])
    assert np.isfinite(host(anynet.LogSoftmax().forward(x))).all()
    assert np.isfinite(host(anynet.Sigmoid().forward(arr(backend, [-1000.0, 1000.0])))).all()


def test_dropout_train_and_eval(backend):
    layer = anynet.Dropout(0.5)
    x = arr(backend, np.ones((200, 50)), "float32")
    y = host(layer.forward(x, train=True))
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6  # inverted: kept units are scaled by 1/(1-0.5)
    np.testing.assert_array_equal(host(layer.forward(x, train=False)), host(x))
    layer.eval()
    np.testing.assert_array_equal(host(layer.forward(x)), host(x))


def test_dropout_masks_repeat_with_the_seed(backend):
    x = arr(backend, np.ones((10, 10)), "float32")
    anynet.seed(3)
    a = host(anynet.Dropout(0.5).forward(x, train=True))
    anynet.seed(3)
    b = host(anynet.Dropout(0.5).forward(x, train=True))
    np.testing.assert_array_equal(a, b)


def test_batchnorm_normalises_and_tracks_running_statistics(backend):
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((64, 3)) * [1.0, 2.0, 3.0] + [5.0, -1.0, 0.0]
    bn = anynet.BatchNorm(3, momentum=0.5, dtype=F64)
    y = host(bn.forward(arr(backend, x0), train=True))
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=1e-3)
    np.testing.assert_allclose(host(bn.running_mean), 0.5 * x0.mean(axis=0))
    np.testing.assert_allclose(host(bn.running_var), 0.5 + 0.5 * x0.var(axis=0))
    y_eval = host(bn.forward(arr(backend, x0), train=False))
    expected = (x0 - host(bn.running_mean)) / np.sqrt(host(bn.running_var) + bn.eps)
    np.testing.assert_allclose(y_eval, expected)


def test_container_train_eval_switches_every_layer(backend):
    net = anynet.MLP(4, [8], 2, dropout=0.5, batchnorm=True)
    net.eval()
    assert all(not layer.training for layer in net)
    x = arr(backend, np.ones((3, 4)), "float32")
    np.testing.assert_array_equal(host(net.forward(x)), host(net.predict(x)))
    net.train()
    assert all(layer.training for layer in net)
