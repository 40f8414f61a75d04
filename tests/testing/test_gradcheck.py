"""Numerical gradients and the backward checkers (anynet.testing.gradcheck), on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.testing import arr, host
from anynet.testing.gradcheck import check_backward, check_layer


def test_numerical_gradient_like_the_book(backend):
    x = arr(backend, [3.0, 4.0])
    grad = anynet.numerical_gradient(lambda v: backend.xp.sum(v * v), x)
    np.testing.assert_allclose(host(grad), [6.0, 8.0], rtol=1e-6)
    np.testing.assert_array_equal(host(x), [3.0, 4.0])


def _two_in_two_out(xp):
    """f(x, y) = (x * y, exp(x)) with its backward; ``wrong`` scales dy by 1.01."""

    def forward(x, y):
        return x * y, xp.exp(x)

    def backward(d1, d2, wrong=False):
        x, y = state
        return d1 * y + d2 * xp.exp(x), d1 * x * (1.01 if wrong else 1.0)

    state = []
    return forward, backward, state


@pytest.mark.parametrize("directions", [None, 2])
def test_several_inputs_and_outputs(backend, directions):
    forward, backward, state = _two_in_two_out(backend.xp)
    rng = np.random.default_rng(0)
    x0, y0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    x, y = arr(backend, x0), arr(backend, y0)
    state[:] = [x, y]
    errors = check_backward(forward, backward, (x, y), None, directions=directions)
    assert set(errors) == ({"x0", "x1"} if directions is None else {"direction 0", "direction 1"})
    np.testing.assert_array_equal(host(x), x0)  # the probes never write into the inputs
    np.testing.assert_array_equal(host(y), y0)


@pytest.mark.parametrize("directions", [None, 2])
def test_a_wrong_gradient_is_caught(backend, directions):
    forward, backward, state = _two_in_two_out(backend.xp)
    rng = np.random.default_rng(1)
    x, y = arr(backend, rng.standard_normal((2, 3))), arr(backend, rng.standard_normal((2, 3)))
    state[:] = [x, y]
    culprit = "x1" if directions is None else "direction 0"
    with pytest.raises(AssertionError, match=f"Pair: backward disagrees with numerical gradients.*'{culprit}'"):
        check_backward(forward, lambda *d: backward(*d, wrong=True), (x, y), None, directions=directions,
                       name="Pair")


def test_integer_inputs_are_left_out_and_parameters_restored(backend):
    xp = backend.xp
    w = anynet.Parameter(arr(backend, [0.5, -1.0, 2.0]), "w")
    original = w.data
    counts = arr(backend, [1, 0, 3])

    def forward(x, n):
        return x * w.data * xp.astype(n, x.dtype)

    def backward(dout):
        w.grad = xp.sum(dout * x * xp.astype(counts, x.dtype), axis=0)
        return dout * w.data * xp.astype(counts, x.dtype), None

    x = arr(backend, np.random.default_rng(2).standard_normal((4, 3)))
    errors = check_backward(forward, backward, (x, counts), None, [w])
    assert set(errors) == {"x0", "0:w"}  # nothing for the integer counts
    assert len(check_backward(forward, backward, (x, counts), None, [w], directions=2)) == 2
    assert w.data is original
    np.testing.assert_array_equal(host(counts), [1, 0, 3])


def test_a_missing_gradient_is_an_error(backend):
    w = anynet.Parameter(arr(backend, [1.0]), "w")
    x = arr(backend, [2.0])
    with pytest.raises(AssertionError, match="f: backward gave no gradient for 0:w"):
        check_backward(lambda v: v * w.data, lambda d: d * w.data, x, None, [w], name="f")


def test_check_layer_directional_agrees_with_elementwise(backend):
    layer = anynet.Affine(4, 3, dtype="float64")
    x = arr(backend, np.random.default_rng(3).standard_normal((5, 4)))
    assert set(check_layer(layer, x)) == {"x", "0:W", "1:b"}
    assert set(check_layer(layer, x, directions=3)) == {"direction 0", "direction 1", "direction 2"}
    with pytest.raises(ValueError, match="directions must be a positive number"):
        check_layer(layer, x, directions=0)
