"""Random numbers, which the standard leaves out: the run's streams, in one object.

Weight initialisation draws on the host (once; the same numbers on every device for one seed);
per-step draws such as dropout masks use a generator that lives on the array's own device,
made and saved by that device's ``random`` facet. ``RandomStreams`` holds them all (the host
generator, one generator per device, the seed, the process's rank, and which devices could not
save their state); the current one sits in a context variable with a process default, and the
module functions (``seed``, ``uniform_like``, ``rng_state``, ...) act on it. A trainer that owns
its streams enters them with ``use_streams`` and checkpoints ``state()``.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import zlib
from typing import Any, Iterator

import numpy as np

from ._compiler import trace_constant
from ._device import Device, numpy_dtype
from ._registry import as_device, device_of

__all__ = [
    "KeyHolder", "RandomStreams", "check_rng_state", "current_streams", "host_rng", "normal", "rng_state", "seed",
    "seed_process", "set_rng_state", "set_step_key", "step_key", "threaded_key", "uniform_like", "use_streams",
]

_STATE_KEYS = {"seed", "host", "devices", "unsaved"}


class RandomStreams:
    """Every random stream of one run (of one process, in a multi-process run).

    **Arguments:**

    - ``seed``: the run's seed (None: generators seeded from the OS).
    - ``rank``: the process whose streams these are (``seed_process``).
    """

    def __init__(self, seed: int | None = None, rank: int = 0):
        self.rank = rank
        self.seed(seed)
        self.seed_process(rank)

    def seed(self, n: int | None) -> None:
        """Start every stream anew from ``n``: weights, dropout masks, shuffling repeat."""
        self.seed_value = None if n is None else int(n)
        self.host = np.random.default_rng(self.seed_value)
        self.devices: dict[str, tuple[Device, Any]] = {}
        self.unsaved: set[str] = set()  # devices reseeded from ``resumed`` after a load
        # after load(): a seed read from the restored host state, for the device generators that
        # could not save theirs (a library anynet does not know); starting them from the seed again would
        # replay the first masks
        self.resumed: int | None = None

    def seed_process(self, rank: int) -> None:
        """Give process ``rank`` its own streams (dropout masks differ between processes): after
        a seed, every generator is reseeded from (seed, rank); unseeded ones are left alone."""
        if self.seed_value is not None:
            self.host = np.random.default_rng([self.seed_value, rank])
            self.devices.clear()
            self.rank = rank

    def _device_seed(self, dev: Device) -> int | None:
        base = self.resumed if dev.name in self.unsaved else self.seed_value
        if base is None:
            return None
        return (base * 1_000_003 + zlib.crc32(dev.name.encode()) + self.rank * 7_919) % (2**63)

    def device_rng(self, dev: Device) -> Any:
        """The generator that draws on ``dev`` (made on first use, seeded from the run's seed)."""
        found = self.devices.get(dev.name)
        if found is None:
            found = self.devices[dev.name] = (dev, dev.random.new_rng(self._device_seed(dev)))
        return found[1]

    def state(self) -> dict[str, Any]:
        """The state of the host generator and of every device generator drawn from so far
        (JSON-able), so that a resumed run draws the same numbers. Generators that cannot save
        their state are listed under "unsaved": after ``load`` they start from a seed read
        from the restored host state (new numbers at every resume point; the first epoch's are
        not replayed)."""
        devices, unsaved = {}, []
        for name, (dev, rng) in self.devices.items():
            saved = dev.random.rng_state(rng)
            if saved is None:
                unsaved.append(name)
            else:
                devices[name] = saved
        return {"seed": self.seed_value, "host": self.host.bit_generator.state, "devices": devices,
                "unsaved": unsaved}

    @staticmethod
    def check(state: Any) -> None:
        """Raise ValueError (naming what does not fit) unless ``load(state)`` would succeed."""
        _restored(state)

    def load(self, state: dict[str, Any]) -> None:
        """Restore what ``state()`` returned: every generator, or (ValueError) none."""
        seed_, host, devices = _restored(state)
        self.seed_value, self.host = seed_, host
        # read from the state, not drawn: the host generator goes on exactly as in a straight run
        digest = hashlib.sha256(json.dumps(state["host"], sort_keys=True, default=str).encode()).digest()
        self.resumed = int.from_bytes(digest[:8], "little") % (2**63)
        self.unsaved = set(state.get("unsaved", ()))
        self.devices = devices


def _check_shape(state: Any) -> None:
    if not isinstance(state, dict) or not {"seed", "host", "devices"} <= set(state) <= _STATE_KEYS:
        raise ValueError(f"RNG state must hold seed, host, devices (and unsaved), got {state!r:.200}")
    unsaved = state.get("unsaved", [])
    if not isinstance(unsaved, list) or not all(isinstance(name, str) for name in unsaved):
        raise ValueError(f"RNG state: unsaved must list device names, got {unsaved!r:.100}")
    seed_ = state["seed"]
    if seed_ is not None and (not isinstance(seed_, int) or isinstance(seed_, bool) or seed_ < 0):
        raise ValueError(f"RNG state: seed must be null or a non-negative integer, got {seed_!r:.100}")
    if not isinstance(state["devices"], dict):
        raise ValueError(f"RNG state: devices must map device names to states, got {state['devices']!r:.100}")


def _restored(state: Any) -> tuple[int | None, np.random.Generator, dict[str, tuple[Device, Any]]]:
    """The seed, host generator and device generators ``state`` (from ``state()``) describes,
    built anew without touching the live ones; ValueError naming what does not fit."""
    _check_shape(state)
    try:
        host = np.random.default_rng()
        host.bit_generator.state = state["host"]
        devices = {}
        for name, saved in state["devices"].items():
            if not isinstance(saved, dict) or len(saved) != 1:
                raise ValueError(f"device {name!r}: expected one generator state, got {saved!r:.100}")
            dev = as_device(name)
            rng = dev.random.restore_rng(saved)
            if rng is not None:
                devices[name] = (dev, rng)
    # each library refuses a damaged state in its own way
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RuntimeError, ImportError) as err:
        raise ValueError(f"RNG state does not fit: {err}") from None
    return state["seed"], host, devices


_PROCESS = RandomStreams()  # the streams outside any use_streams block
_STREAMS: contextvars.ContextVar[RandomStreams | None] = contextvars.ContextVar("anynet_streams", default=None)


@trace_constant
def current_streams() -> RandomStreams:
    """The random streams in use: the innermost ``use_streams``'s, else the process's."""
    found = _STREAMS.get()
    return _PROCESS if found is None else found


@contextlib.contextmanager
def use_streams(streams: RandomStreams) -> Iterator[RandomStreams]:
    """Within the block (and the tasks it starts), every draw and ``seed`` acts on ``streams``.

    **Arguments:**

    - ``streams``: a ``RandomStreams`` (e.g. the one a trainer owns and checkpoints).

    **Returns:** (as the context's value) ``streams``.
    """
    if not isinstance(streams, RandomStreams):
        raise TypeError(f"use_streams: expected a RandomStreams, got {type(streams).__name__}")
    token = _STREAMS.set(streams)
    try:
        yield streams
    finally:
        _STREAMS.reset(token)


def seed(n: int) -> None:
    """Make every later random draw repeatable: weights, dropout masks, shuffling."""
    current_streams().seed(n)


def seed_process(rank: int) -> None:
    """Give process ``rank`` of a run its own streams (see ``RandomStreams.seed_process``)."""
    current_streams().seed_process(rank)


def host_rng() -> np.random.Generator:
    """The seeded host generator (initialisation, shuffling)."""
    return current_streams().host


def rng_state() -> dict[str, Any]:
    """``current_streams().state()``: the JSON-able state of every stream."""
    return current_streams().state()


def check_rng_state(state: Any) -> None:
    """Raise ValueError unless ``set_rng_state(state)`` would succeed; changes nothing."""
    RandomStreams.check(state)


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned: every generator, or (ValueError) none."""
    current_streams().load(state)


class KeyHolder:
    """The pure key threaded through one training step; ``key`` is the next one after each draw."""

    __slots__ = ("key",)

    def __init__(self, key: Any):
        self.key = key


_THREADED: contextvars.ContextVar[KeyHolder | None] = contextvars.ContextVar("anynet_key", default=None)


@trace_constant
def _threaded() -> KeyHolder | None:
    return _THREADED.get()


@contextlib.contextmanager
def threaded_key(key: Any) -> Iterator[KeyHolder]:
    """Inside, ``uniform_like`` draws from the pure ``key`` (a compiled step's random input) and
    never touches the stateful generators; the holder gives the key to hand back. ``key=None``:
    draws use the stateful generators, as outside."""
    holder = KeyHolder(key)
    token = _THREADED.set(holder if key is not None else None)
    try:
        yield holder
    finally:
        _THREADED.reset(token)


def step_key(dev: Device) -> Any | None:
    """The pure key continuing ``dev``'s generator (None where the library has none)."""
    return dev.random.key_of(current_streams().device_rng(dev))


def set_step_key(dev: Device, key: Any) -> None:
    """Make ``dev``'s generator continue from ``key``, the key a compiled step handed back."""
    if key is not None:
        dev.random.set_key(current_streams().device_rng(dev), key)


def uniform_like(x: Any, shape: tuple[int, ...] | None = None) -> Any:
    """Uniform [0, 1) numbers of ``x``'s dtype, drawn on ``x``'s device (from the threaded key
    inside a compiled step)."""
    dev = device_of(x)
    shape = tuple(x.shape) if shape is None else shape
    holder = _threaded()
    if holder is not None:
        u, holder.key = dev.random.uniform_from_key(holder.key, shape, x.dtype)
        return u
    return dev.random.uniform(current_streams().device_rng(dev), shape, x.dtype)


def normal(shape: tuple[int, ...], scale: float = 1.0, dtype: Any = None, device: Any = None) -> Any:
    """Normal(0, scale^2) numbers drawn on the host and placed on ``device``.

    Drawn on the host so that one seed gives the same weights on every device.
    """
    w = (current_streams().host.standard_normal(shape) * scale).astype(numpy_dtype(dtype))
    return as_device(device).from_numpy(w)
