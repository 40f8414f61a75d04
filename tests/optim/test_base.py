"""The optimizer protocol (``anynet.optim.base``): state checks, hyper-parameter checks, the
exported names, and the flat buffer an elementwise optimizer steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet import optim as O
from anynet.optim import base
from anynet.optim.base import in_place, in_place_steps, run_rule_flat
from anynet.parameter import FlatBuffer, Parameter
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


# -- the runner: the rule on a flat buffer, the registered in-place steps ----------------------

SHAPES = [(3, 4), (4,), (4, 2)]


def _twin_buffers(backend, rng):
    """Two FlatBuffers of the same float32 parameters, and a flat gradient for each of 3 steps."""
    values = [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
    buffers = [FlatBuffer([Parameter(arr(backend, v)) for v in values]) for _ in range(2)]
    size = buffers[0].size
    return buffers, [arr(backend, rng.standard_normal(size).astype(np.float32)) for _ in range(3)]


def test_the_in_place_steps_are_registered_for_exactly_these_optimizers():
    assert set(in_place_steps()) == {O.SGD, O.Momentum, O.Nesterov, O.Adam, O.AdamW}


@pytest.mark.parametrize("traced", [False, True], ids=["numbers", "0-d arrays"])
def test_each_in_place_step_equals_its_rule(backend, traced):
    """Each registered in-place step leaves the buffer and its state bit for bit where the generic
    runner of the rule does, with lr and t as Python numbers and as the 0-d arrays a compiled step lends."""
    if not backend.writable:
        pytest.skip(f"{backend.name}: arrays cannot be written in place, so no FlatBuffer and no in-place step")
    rng = np.random.default_rng(0)
    for cls, step in in_place_steps().items():
        (generic, own), grads = _twin_buffers(backend, rng)
        opt = cls(lr=0.01)
        for t, g in enumerate(grads, start=1):
            lr = arr(backend, 0.01, "float32") if traced else 0.01
            count = arr(backend, t, "int32") if traced else t
            run_rule_flat(opt, generic, g, lr, count)
            step(opt, own, g, lr, count)
        np.testing.assert_array_equal(host(own.data), host(generic.data), err_msg=cls.__name__)
        for key in cls.slots:
            np.testing.assert_array_equal(host(own.state(key)), host(generic.state(key)), err_msg=cls.__name__)


class _HalfAdam(O.Adam):
    """Adam at half the learning rate: a subclass that changes the rule."""

    def rule(self, w, g, state, lr, t):
        return super().rule(w, g, state, lr * 0.5, t)


def test_a_subclass_that_changes_the_rule_gets_the_generic_runner(backend):
    """Adam's registered in-place step is Adam's only: a subclass's flat update follows its own rule."""
    runs = []
    for opt, flat in ((_HalfAdam(lr=0.1), True), (_HalfAdam(lr=0.1), False), (O.Adam(lr=0.05), False)):
        opt.elementwise = opt.elementwise and flat
        params = [Parameter(arr(backend, np.ones(shape))) for shape in SHAPES]
        rng = np.random.default_rng(1)
        for _ in range(3):
            for p in params:
                p.grad = arr(backend, rng.standard_normal(p.shape))
            opt.update(params)
        runs.append([host(p.data) for p in params])
    for a, b, c in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_allclose(a, c, rtol=1e-12)


def test_in_place_registers_one_step_per_optimizer_class():
    steps = in_place_steps()

    def other(opt, buffer, g, lr, t):
        raise AssertionError("never registered, never run")

    message = "in_place: Adam already has an in-place step, _adam_in_place; got a second, other"
    with pytest.raises(ValueError, match=message):
        in_place(O.Adam)(other)
    with pytest.raises(TypeError, match="in_place: expected an Optimizer subclass, got <class 'int'>"):
        in_place(int)
    assert in_place_steps() == steps  # a refused registration changes nothing


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSProp"])
def test_ten_updates_of_the_same_parameters_build_one_flat_buffer(backend, name, monkeypatch):
    """A persistent list of parameters (the master weights of mixed precision), passed as itself or
    as a new list of the same members, is laid out in a FlatBuffer once, not once per update."""
    built = []

    class Counted(FlatBuffer):
        def __init__(self, params):
            built.append(len(params))
            super().__init__(params)

    monkeypatch.setattr(base, "FlatBuffer", Counted)
    masters = [Parameter(arr(backend, np.full(shape, 0.5), "float32")) for shape in SHAPES]
    opt = getattr(O, name)(lr=0.01)
    for step in range(10):
        for p in masters:
            p.grad = arr(backend, np.full(p.shape, 0.1 * step), "float32")
        opt.update(masters if step % 2 else list(masters))
    assert built == ([len(masters)] if backend.writable else [])
    assert all(p.data.dtype == backend.xp.float32 for p in masters)
