"""TimeAffine (anynet.layers.time) on every backend: gradient, inputs left unchanged."""

from __future__ import annotations

import numpy as np

import anynet
from anynet.testing import arr, check_inputs_unchanged
from anynet.testing.gradcheck import check_layer

F64 = "float64"
N, T, D, H = 2, 3, 3, 4


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_time_affine_gradient(backend):
    check_layer(anynet.TimeAffine(D, 5, dtype=F64), arr(backend, randn((N, T, D))))


def test_inputs_left_unchanged(backend):
    check_inputs_unchanged(backend, anynet.TimeAffine(D, H, dtype=F64), randn((N, T, D)))
