"""The run's random streams (``RandomStreams``) and the module functions that act on the current ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

import anynet
from anynet import backend
from anynet.testing import host


def test_same_seed_same_initial_weights_everywhere(backend):
    anynet.seed(42)
    here = [host(p.data) for p in anynet.MLP(5, [7, 6], 3).params]
    anynet.seed(42)
    with anynet.device("cpu"):
        reference = [p.data for p in anynet.MLP(5, [7, 6], 3).params]
    for a, b in zip(here, reference):
        np.testing.assert_array_equal(a, b)


def test_device_generators_save_and_restore(backend):
    x = backend.zeros((5,))
    anynet.backend.uniform_like(x)  # create the device's generator
    state = anynet.backend.rng_state()
    first = host(anynet.backend.uniform_like(x))
    anynet.backend.set_rng_state(state)
    resumed = host(anynet.backend.uniform_like(x))
    if backend.name not in state["unsaved"]:
        np.testing.assert_array_equal(resumed, first)
        return
    # a generator that cannot save its state is reseeded from the restored host state:
    # new numbers, not the seed's first ones, and the same ones at every restore of this state
    assert not np.array_equal(resumed, first)
    anynet.backend.set_rng_state(state)
    np.testing.assert_array_equal(host(anynet.backend.uniform_like(x)), resumed)


class _NoStateRandom(backend.DeviceRandom):
    def rng_state(self, rng):
        return None

    def restore_rng(self, saved):
        return None


class _NoStateDevice(backend.GenericDevice):
    """A device whose generators cannot save their state (NumPy arrays underneath)."""

    library = "nostate"
    prefixes = ("nostate",)
    random_class = _NoStateRandom

    @classmethod
    def parse(cls, rest, spec):
        return cls(anynet.as_device("cpu").xp, "cpu", "nostate:0")

    def from_numpy(self, a):
        return a


@pytest.fixture
def no_state_device():
    backend.register(_NoStateDevice)
    try:
        yield anynet.as_device("nostate")
    finally:
        backend.unregister(_NoStateDevice)


def test_resume_reseeds_generators_that_cannot_save_their_state(no_state_device):
    """After a restore, such a generator starts from the restored host state, not from the seed:
    it must not replay the first epoch's dropout masks; the host generator goes on as if never saved."""
    dev = no_state_device

    def masks():
        return dev.random.uniform(backend.current_streams().device_rng(dev), (6,), np.float32)

    anynet.seed(0)
    epoch1 = masks()
    state = anynet.backend.rng_state()
    host_next = anynet.backend.host_rng().random(3)
    anynet.seed(99)  # a new process
    anynet.backend.set_rng_state(state)
    resumed = masks()
    assert not np.array_equal(resumed, epoch1)  # not the first epoch's masks again
    np.testing.assert_array_equal(anynet.backend.host_rng().random(3), host_next)
    anynet.backend.set_rng_state(state)
    np.testing.assert_array_equal(masks(), resumed)  # and repeatable
    assert state["unsaved"] == ["nostate:0"]


def test_streams_are_one_object_whose_state_is_json():
    streams = backend.RandomStreams(seed=3)
    x = np.zeros(4, np.float32)
    with backend.use_streams(streams) as entered:
        assert entered is streams and backend.current_streams() is streams
        backend.uniform_like(x)
        state = json.loads(json.dumps(streams.state()))
        after = host(backend.uniform_like(x)), backend.host_rng().random(2)
    assert state["seed"] == 3 and set(state["devices"]) == {"cpu"}
    other = backend.RandomStreams()
    other.load(state)
    with backend.use_streams(other):
        np.testing.assert_array_equal(host(backend.uniform_like(x)), after[0])
        np.testing.assert_array_equal(backend.host_rng().random(2), after[1])


def test_streams_in_a_block_leave_the_process_streams_alone():
    anynet.seed(5)
    expected = np.random.default_rng(5).random(2)
    with backend.use_streams(backend.RandomStreams(seed=6)):
        anynet.seed(7)  # acts on the block's streams
        backend.host_rng().random(10)
    np.testing.assert_array_equal(backend.host_rng().random(2), expected)
    with pytest.raises(TypeError, match="use_streams: expected a RandomStreams, got int"):
        with backend.use_streams(3):
            pass


def test_process_streams_differ_by_rank_and_repeat():
    a, b, a2 = backend.RandomStreams(1, rank=0), backend.RandomStreams(1, rank=1), backend.RandomStreams(1)
    dev = backend.as_device("cpu")

    def draw(streams):
        return dev.random.uniform(streams.device_rng(dev), (4,), np.float32)

    assert not np.array_equal(draw(a), draw(b))
    np.testing.assert_array_equal(draw(backend.RandomStreams(1)), draw(a2))


def test_a_damaged_state_is_refused_and_changes_nothing():
    anynet.seed(0)
    state = backend.rng_state()
    draws = backend.RandomStreams()
    draws.load(state)
    expected = draws.host.random(2)
    for bad, message in [({"seed": 1}, "must hold seed, host, devices"), ({**state, "seed": -1}, "non-negative"),
                         ({**state, "devices": {"cpu": {"numpy": {"state": 1}}}}, "does not fit"),
                         ({**state, "unsaved": "cpu"}, "unsaved must list device names")]:
        with pytest.raises(ValueError, match=message):
            backend.check_rng_state(bad)
        with pytest.raises(ValueError, match=message):
            backend.set_rng_state(bad)
    np.testing.assert_array_equal(backend.host_rng().random(2), expected)
