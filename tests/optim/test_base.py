"""The optimizer protocol (``anynet.optim.base``): state checks, hyper-parameter checks, the
exported names, and the flat buffer an elementwise optimizer steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet import optim as O
from anynet.testing import arr, host

from ._common import W0, quadratic_params
from .test_adam import RULES as ADAM_RULES
from .test_sgd import RULES as SGD_RULES


def test_state_errors():
    params = quadratic_params(anynet.as_device("cpu"))
    with pytest.raises(ValueError, match=r"Nadam: the state lacks \['mu_product'\]"):
        anynet.Nadam().load_state_dict({"iterations": 3}, params)
    with pytest.raises(ValueError, match=r"Adam: state m of parameter 1 has shape \(2, 3\), the parameter \(3,\)"):
        anynet.Adam().load_state_dict({"iterations": 1, "state.1.m": np.zeros((2, 3))}, params)
    with pytest.raises(ValueError, match="state names parameter 5, but there are 2"):
        anynet.SGD().load_state_dict({"iterations": 1, "state.5.v": np.zeros(3)}, params)


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match=r"SGD: lr must be a number > 0.0, got 0.0"):
        anynet.SGD(lr=0.0)
    with pytest.raises(ValueError, match=r"Momentum: momentum must be a number in \[0.0, 1.0\), got 1.5"):
        anynet.Momentum(momentum=1.5)
    with pytest.raises(ValueError, match=r"Adam: beta2 must be a number in \[0.0, 1.0\), got 1.0"):
        anynet.Adam(beta2=1.0)
    with pytest.raises(ValueError, match=r"AdamW: weight_decay must be a number >= 0.0, got -1.0"):
        anynet.AdamW(weight_decay=-1.0)


def test_every_optimizer_is_exported_and_takes_lr_first():
    for name in [*SGD_RULES, *ADAM_RULES]:
        cls = getattr(anynet, name)
        assert cls is getattr(O, name)
        opt = cls(0.5)
        assert opt.lr == 0.5 and math.isclose(opt.current_lr, 0.5)
    # each name spelled one way: GD, a body-less alias of SGD, is gone
    assert not hasattr(anynet, "GD") and not hasattr(O, "GD")
    assert "GD" not in anynet.__all__ and "GD" not in O.__all__


def test_flat_buffer_views_gathers_and_rebinds(backend):
    """A FlatBuffer's parameters are views of one array; gradients and state lie end to end; a
    parameter assigned anew (load_state_dict) unbinds it and the optimizer builds a new one."""
    net = anynet.MLP(3, [4], 2, dtype="float64")
    if not backend.writable:
        assert not anynet.parameter.FlatBuffer.supports(net.params)
        with pytest.raises(ValueError, match="FlatBuffer"):
            net.flatten_params()
        return
    values = [host(p.data).copy() for p in net.params]
    buffer = net.flatten_params()
    assert buffer.size == sum(v.size for v in values) and buffer.bound()
    np.testing.assert_array_equal(host(buffer.data), np.concatenate([v.ravel() for v in values]))
    for p, v in zip(net.params, values):
        np.testing.assert_array_equal(host(p.data), v)
        p.grad = arr(backend, np.full(v.shape, float(v.size)))
    sizes = [v.size for v in values]
    np.testing.assert_array_equal(host(buffer.gather_grads()), np.repeat(sizes, sizes))
    opt = anynet.Adam(lr=0.1)
    opt.update(buffer)
    assert opt._buffer is buffer and buffer.bound()
    np.testing.assert_array_equal(host(buffer.data), np.concatenate([host(p.data).ravel() for p in net.params]))
    m_parts = [host(p.state["m"]).ravel() for p in net.params]
    np.testing.assert_array_equal(host(buffer.state("m")), np.concatenate(m_parts))
    saved = {k: host(v).copy() for k, v in net.state_dict().items()}
    net.load_state_dict({k: arr(backend, v) for k, v in saved.items()})
    assert not buffer.bound()
    for p in net.params:
        p.grad = p.data * 0.5
    opt.update(net.params)
    assert opt._buffer is not buffer and opt._buffer.bound()


@pytest.mark.parametrize("name", ["LAMB", "Adam", "SGD", "Nadam", "RAdam"])
@pytest.mark.parametrize("number", [np.float64, np.float32, np.int64], ids=["float64", "float32", "int64"])
def test_a_numpy_scalar_lr_keeps_the_parameters_dtype(name, number):
    """A schedule that returns a NumPy scalar (np.float64 under NumPy 2's promotion is not a weak
    Python float) leaves float32 parameters and state float32, on both paths."""
    rule = {**SGD_RULES, **ADAM_RULES}[name]
    for flat in (True, False):
        p = anynet.Parameter(np.asarray(W0, dtype=np.float32), "W")
        opt = rule.make(lr=lambda i: number(1), **rule.hyper)
        opt.elementwise = opt.elementwise and flat
        for _ in range(2):
            p.grad = np.ones((2, 3), dtype=np.float32)
            opt.update([p])
        assert p.data.dtype == np.float32, (name, flat)
        assert all(v.dtype == np.float32 for v in p.state.values()), (name, flat)
