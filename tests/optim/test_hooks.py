"""Optimizer hooks: weight decay, clipping by norm and by value (anynet.optim.hooks), on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet.optim.hooks import global_norm
from anynet.testing import arr, host

W0 = np.array([[1.0, -2.0], [0.5, 3.0]])
G0 = np.array([[3.0, -4.0], [0.0, 12.0]])
B0, GB0 = np.array([2.0, -1.0]), np.array([0.0, -3.0])  # global norm of (G0, GB0): sqrt(169 + 9) = sqrt(178)


def _params(backend):
    w, b = anynet.Parameter(arr(backend, W0), "W"), anynet.Parameter(arr(backend, B0), "b")
    w.grad, b.grad = arr(backend, G0), arr(backend, GB0)
    return [w, b]


def _sgd_with(backend, hooks, lr=0.1):
    params = _params(backend)
    anynet.SGD(lr=lr, hooks=hooks).update(params)
    np.testing.assert_array_equal(host(params[0].grad), G0)  # hooks never rewrite p.grad
    return [host(p.data) for p in params]


def test_weight_decay_adds_rate_times_w(backend):
    w, b = _sgd_with(backend, [anynet.WeightDecay(0.5, only_weights=False)])
    np.testing.assert_allclose(w, W0 - 0.1 * (G0 + 0.5 * W0))
    np.testing.assert_allclose(b, B0 - 0.1 * (GB0 + 0.5 * B0))


def test_weight_decay_spares_biases_by_default_like_the_book(backend):
    w, b = _sgd_with(backend, [anynet.WeightDecay(0.5)])
    np.testing.assert_allclose(w, W0 - 0.1 * (G0 + 0.5 * W0))
    np.testing.assert_allclose(b, B0 - 0.1 * GB0)


def test_clip_by_norm_scales_all_gradients_together(backend):
    assert float(global_norm([arr(backend, G0), arr(backend, GB0)])) == pytest.approx(math.sqrt(178))
    w, b = _sgd_with(backend, [anynet.ClipByNorm(2.0)], lr=1.0)
    rate = 2.0 / (math.sqrt(178) + 1e-6)
    np.testing.assert_allclose(w, W0 - rate * G0, rtol=1e-12)
    np.testing.assert_allclose(b, B0 - rate * GB0, rtol=1e-12)
    assert math.hypot(*(W0 - w).ravel(), *(B0 - b).ravel()) == pytest.approx(2.0, rel=1e-6)
    w, b = _sgd_with(backend, [anynet.ClipByNorm(100.0)], lr=1.0)  # under the limit: unchanged
    np.testing.assert_allclose(w, W0 - G0, rtol=1e-12)


def test_clip_by_value(backend):
    w, b = _sgd_with(backend, [anynet.ClipByValue(3.5)], lr=1.0)
    np.testing.assert_allclose(w, W0 - np.clip(G0, -3.5, 3.5))
    np.testing.assert_allclose(b, B0 - np.array([0.0, -3.0]))


def test_hooks_run_in_order(backend):
    clip_then_decay = _sgd_with(backend, [anynet.ClipByValue(1.0), anynet.WeightDecay(1.0)], lr=1.0)[0]
    decay_then_clip = _sgd_with(backend, [anynet.WeightDecay(1.0), anynet.ClipByValue(1.0)], lr=1.0)[0]
    np.testing.assert_allclose(clip_then_decay, W0 - (np.clip(G0, -1, 1) + W0))
    np.testing.assert_allclose(decay_then_clip, W0 - np.clip(G0 + W0, -1, 1))


def test_hooks_with_an_adaptive_optimizer(backend):
    params = _params(backend)
    anynet.Adam(lr=0.1, hooks=[anynet.ClipByValue(1.0)]).update(params)
    # Adam's first step is lr * sign(g) (up to eps) whatever the clip, except where g is 0
    np.testing.assert_allclose(host(params[0].data), W0 - 0.1 * np.sign(G0), atol=1e-7)


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match="ClipByNorm: max_norm must be a number > 0.0, got 0.0"):
        anynet.ClipByNorm(0.0)
    with pytest.raises(ValueError, match="ClipByValue: limit must be a number > 0.0, got inf"):
        anynet.ClipByValue(math.inf)
