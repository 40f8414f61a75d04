"""The backend matrix and helpers for users' tests (anynet.testing)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import anynet
from anynet import testing


def test_backends_lists_the_matrix_and_checks_names():
    assert testing.backends() == list(testing.BACKENDS)
    assert testing.backends(testing.CPU_BACKENDS) == ["numpy", "strict", "torch", "jax"]
    with pytest.raises(ValueError, match=r"unknown backends \['tpu'\]"):
        testing.backends(["numpy", "tpu"])


def test_a_missing_backend_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setitem(testing.BACKENDS, "nowhere", ("cuda:99", "a GPU numbered 99"))
    with pytest.raises(pytest.skip.Exception, match=r"backend nowhere not available \(a GPU numbered 99\)"):
        testing.resolve_backend("nowhere")
    monkeypatch.delitem(sys.modules, "pytest")  # as in a script: an exception, not a skip
    with pytest.raises(testing.BackendUnavailable, match="backend nowhere not available"):
        testing.resolve_backend("nowhere")


def test_arr_host_and_inputs_unchanged(backend):
    assert testing.resolve_backend("numpy") == anynet.as_device("cpu")
    x = testing.arr(backend, [[1, 2]], "float64")
    assert anynet.device_of(x) == backend
    np.testing.assert_array_equal(testing.host(x), [[1.0, 2.0]])
    testing.check_inputs_unchanged(backend, anynet.Tanh(), np.array([[0.5, -1.0]]))


def test_check_inputs_unchanged_catches_a_layer_that_writes_into_x():
    class Scribbler(anynet.ReLU):
        def forward(self, x, train=None):
            x[...] = 0.0  # what a layer must never do
            return super().forward(x, train)

    with pytest.raises(AssertionError):
        testing.check_inputs_unchanged(anynet.as_device("cpu"), Scribbler(), np.ones((2, 2)))


def test_input_makers_keep_away_from_kinks_and_ties():
    rng = np.random.default_rng(0)
    assert np.abs(testing.away_from_zero((50,), rng)).min() >= 0.1
    values = testing.tie_free((4, 5), rng).ravel()
    assert np.diff(np.sort(values)).min() > 0.1 / values.size
