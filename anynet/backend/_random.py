"""Random numbers, which the standard leaves out.

Weight initialisation draws on the host (once; the same numbers on every device for one seed);
per-step draws such as dropout masks use a generator that lives on the array's own device,
made and saved by that device's class.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import zlib
from typing import Any, Iterator

import numpy as np

from ._arrays import device_of
from ._context import as_device
from ._device import Device, trace_constant

__all__ = [
    "KeyHolder", "check_rng_state", "host_rng", "normal", "numpy_dtype", "rng_state", "seed", "seed_process",
    "set_rng_state", "set_step_key", "step_key", "threaded_key", "uniform_like",
]

_SEED: int | None = None
_HOST: np.random.Generator = np.random.default_rng()
_DEVICE_RNGS: dict[str, tuple[Device, Any]] = {}
# After set_rng_state: a seed read from the restored host state, for the device generators that
# could not save theirs (CuPy's); starting them from _SEED again would replay the first masks.
_RESUMED: int | None = None
_UNSAVED: set[str] = set()
_RANK = [0]  # the process whose streams the device generators draw (seed_process)


def seed(n: int) -> None:
    """Make every later random draw repeatable: weights, dropout masks, shuffling."""
    global _SEED, _HOST
    _SEED = int(n)
    _UNSAVED.clear()
    _HOST = np.random.default_rng(_SEED)
    _DEVICE_RNGS.clear()


def seed_process(rank: int) -> None:
    """Give process ``rank`` of a run its own streams (dropout masks differ between processes):
    after ``seed(n)``, every generator is reseeded from (n, rank); unseeded ones are left alone."""
    global _HOST
    if _SEED is not None:
        _HOST = np.random.default_rng([_SEED, rank])
        _DEVICE_RNGS.clear()
        _RANK[0] = rank


def host_rng() -> np.random.Generator:
    """The seeded host generator (initialisation, shuffling)."""
    return _HOST


def _device_seed(dev: Device) -> int | None:
    base = _RESUMED if dev.name in _UNSAVED else _SEED
    if base is None:
        return None
    return (base * 1_000_003 + zlib.crc32(dev.name.encode()) + _RANK[0] * 7_919) % (2**63)


def _device_rng(dev: Device) -> Any:
    found = _DEVICE_RNGS.get(dev.name)
    if found is None:
        found = _DEVICE_RNGS[dev.name] = (dev, dev.new_rng(_device_seed(dev)))
    return found[1]


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
    return dev.key_of(_device_rng(dev))


def set_step_key(dev: Device, key: Any) -> None:
    """Make ``dev``'s generator continue from ``key``, the key a compiled step handed back."""
    if key is not None:
        dev.set_key(_device_rng(dev), key)


def uniform_like(x: Any, shape: tuple[int, ...] | None = None) -> Any:
    """Uniform [0, 1) numbers of ``x``'s dtype, drawn on ``x``'s device (from the threaded key
    inside a compiled step)."""
    dev = device_of(x)
    shape = tuple(x.shape) if shape is None else shape
    holder = _threaded()
    if holder is not None:
        u, holder.key = dev.uniform_from_key(holder.key, shape, x.dtype)
        return u
    return dev.uniform(_device_rng(dev), shape, x.dtype)


def numpy_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of the same name as any library's dtype (float32 for None)."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


def normal(shape: tuple[int, ...], scale: float = 1.0, dtype: Any = None, device: Any = None) -> Any:
    """Normal(0, scale^2) numbers drawn on the host and placed on ``device``.

    Drawn on the host so that one seed gives the same weights on every device.
    """
    w = (_HOST.standard_normal(shape) * scale).astype(numpy_dtype(dtype))
    return as_device(device).from_numpy(w)


def rng_state() -> dict[str, Any]:
    """The state of the host generator and of every device generator drawn from so far (JSON-able),
    so that a resumed run draws the same numbers. Generators that cannot save their state (CuPy's)
    are left out: after a restore they start from a seed read from the restored host state (new
    numbers at every resume point; the first epoch's are not replayed)."""
    devices, unsaved = {}, []
    for name, (dev, rng) in _DEVICE_RNGS.items():
        saved = dev.rng_state(rng)
        if saved is None:
            unsaved.append(name)
        else:
            devices[name] = saved
    return {"seed": _SEED, "host": _HOST.bit_generator.state, "devices": devices, "unsaved": unsaved}


def _restored(state: Any) -> tuple[int | None, np.random.Generator, dict[str, tuple[Device, Any]]]:
    """The seed, host generator and device generators ``state`` (from ``rng_state``) describes,
    built anew without touching the live ones; ValueError naming what does not fit."""
    if not isinstance(state, dict) or not {"seed", "host", "devices"} <= set(state) <= {
            "seed", "host", "devices", "unsaved"}:
        raise ValueError(f"RNG state must hold seed, host, devices (and unsaved), got {state!r:.200}")
    unsaved = state.get("unsaved", [])
    if not isinstance(unsaved, list) or not all(isinstance(name, str) for name in unsaved):
        raise ValueError(f"RNG state: unsaved must list device names, got {unsaved!r:.100}")
    seed_ = state["seed"]
    if seed_ is not None and (not isinstance(seed_, int) or isinstance(seed_, bool) or seed_ < 0):
        raise ValueError(f"RNG state: seed must be null or a non-negative integer, got {seed_!r:.100}")
    if not isinstance(state["devices"], dict):
        raise ValueError(f"RNG state: devices must map device names to states, got {state['devices']!r:.100}")
    try:
        host = np.random.default_rng()
        host.bit_generator.state = state["host"]
        devices = {}
        for name, saved in state["devices"].items():
            if not isinstance(saved, dict) or len(saved) != 1:
                raise ValueError(f"device {name!r}: expected one generator state, got {saved!r:.100}")
            dev = as_device(name)
            rng = dev.restore_rng(saved)
            if rng is not None:
                devices[name] = (dev, rng)
    # each library refuses a damaged state in its own way
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RuntimeError, ImportError) as err:
        raise ValueError(f"RNG state does not fit: {err}") from None
    return seed_, host, devices


def check_rng_state(state: Any) -> None:
    """Raise ValueError unless ``set_rng_state(state)`` would succeed; changes nothing."""
    _restored(state)


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned: every generator, or (ValueError) none."""
    global _SEED, _HOST, _RESUMED
    _SEED, _HOST, devices = _restored(state)
    # read from the state, not drawn: the host generator goes on exactly as in a straight run
    digest = hashlib.sha256(json.dumps(state["host"], sort_keys=True, default=str).encode()).digest()
    _RESUMED = int.from_bytes(digest[:8], "little") % (2**63)
    _UNSAVED.clear()
    _UNSAVED.update(state.get("unsaved", ()))
    _DEVICE_RNGS.clear()
    _DEVICE_RNGS.update(devices)
