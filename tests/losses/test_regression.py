"""The regression and distribution losses (anynet.losses.regression) on every backend: guarded undefined
cases. Values, gradients and reductions of every loss: test_base.py."""

from __future__ import annotations

import numpy as np
import pytest

from anynet import losses as L
from anynet.testing import arr, host


def _finite(*xs):
    for x in xs:
        assert np.all(np.isfinite(host(x))), host(x)


def test_mape_zero_targets_divide_by_eps(backend, no_float_errors):
    y, t = arr(backend, [[2.0, 1.0]]), arr(backend, [[0.0, 2.0]])
    loss = L.MeanAbsolutePercentageError()
    assert float(loss.forward(y, t)) == pytest.approx((100 * 2.0 / 1e-7 + 100 * 0.5) / 2)
    np.testing.assert_allclose(host(loss.backward()), [[100 / 1e-7 / 2, -100 / 2.0 / 2]])


def test_msle_clamps_negative_values(backend, no_float_errors):
    y, t = arr(backend, [[-2.0, -0.5, 1.0]]), arr(backend, [[1.0, -3.0, 1.0]])
    loss = L.MeanSquaredLogarithmicError()
    expected = (np.log(2.0) ** 2 + 0.0 + 0.0) / 3  # log1p(max(-2, 0)) = 0 vs log1p(1)
    assert float(loss.forward(y, t)) == pytest.approx(expected)
    np.testing.assert_allclose(host(loss.backward()), [[0.0, 0.0, 0.0]])


def test_kl_divergence_clips_zeros(backend, no_float_errors):
    y, t = arr(backend, [[0.0, 1.0]]), arr(backend, [[0.5, 0.5]])
    loss = L.KLDivergence()
    expected = 0.5 * np.log(0.5 / 1e-7) + 0.5 * np.log(0.5)
    assert float(loss.forward(y, t)) == pytest.approx(expected)
    np.testing.assert_allclose(host(loss.backward()), [[0.0, -0.5]])
    assert float(L.KLDivergence().forward(arr(backend, [[0.5, 0.5]]), arr(backend, [[0.0, 1.0]]))) == pytest.approx(
        1e-7 * np.log(1e-7 / 0.5) + np.log(2.0)
    )


def test_poisson_guards_zero_and_negative_rates(backend, no_float_errors):
    y, t = arr(backend, [[0.0, -1.0]]), arr(backend, [[2.0, 3.0]])
    loss = L.Poisson()
    expected = ((0.0 - 2.0 * np.log(1e-7)) + (-1.0 - 3.0 * np.log(1e-7))) / 2
    assert float(loss.forward(y, t)) == pytest.approx(expected)
    np.testing.assert_allclose(host(loss.backward()), [[(1 - 2.0 / 1e-7) / 2, 0.5]])


def test_cosine_proximity_of_a_zero_vector(backend, no_float_errors):
    y, t = arr(backend, [[0.0, 0.0], [3.0, 4.0]]), arr(backend, [[1.0, 0.0], [6.0, 8.0]])
    loss = L.CosineProximity(reduction="none")
    np.testing.assert_allclose(host(loss.forward(y, t)), [0.0, -1.0], atol=1e-12)
    dy = host(loss.backward(arr(backend, [1.0, 1.0])))
    _finite(dy)
    np.testing.assert_allclose(dy[1], [0.0, 0.0], atol=1e-12)  # at the optimum
