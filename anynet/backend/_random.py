"""Random numbers, which the standard leaves out.

Weight initialisation draws on the host (once; the same numbers on every device for one seed);
per-step draws such as dropout masks use a generator that lives on the array's own device,
made and saved by that device's class.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

import numpy as np

from ._arrays import device_of
from ._context import as_device
from ._device import Device

__all__ = ["host_rng", "normal", "numpy_dtype", "rng_state", "seed", "set_rng_state", "uniform_like"]

_SEED: int | None = None
_HOST: np.random.Generator = np.random.default_rng()
_DEVICE_RNGS: dict[str, tuple[Device, Any]] = {}
# After set_rng_state: a seed read from the restored host state, for the device generators that
# could not save theirs (CuPy's); starting them from _SEED again would replay the first masks.
_RESUMED: int | None = None
_UNSAVED: set[str] = set()


def seed(n: int) -> None:
    """Make every later random draw repeatable: weights, dropout masks, shuffling."""
    global _SEED, _HOST
    _SEED = int(n)
    _UNSAVED.clear()
    _HOST = np.random.default_rng(_SEED)
    _DEVICE_RNGS.clear()


def host_rng() -> np.random.Generator:
    """The seeded host generator (initialisation, shuffling)."""
    return _HOST


def _device_seed(dev: Device) -> int | None:
    base = _RESUMED if dev.name in _UNSAVED else _SEED
    if base is None:
        return None
    return (base * 1_000_003 + zlib.crc32(dev.name.encode())) % (2**63)


def _device_rng(dev: Device) -> Any:
    found = _DEVICE_RNGS.get(dev.name)
    if found is None:
        found = _DEVICE_RNGS[dev.name] = (dev, dev.new_rng(_device_seed(dev)))
    return found[1]


def uniform_like(x: Any, shape: tuple[int, ...] | None = None) -> Any:
    """Uniform [0, 1) numbers of ``x``'s dtype, drawn on ``x``'s device."""
    dev = device_of(x)
    return dev.uniform(_device_rng(dev), tuple(x.shape) if shape is None else shape, x.dtype)


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


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    global _SEED, _HOST, _RESUMED
    _SEED = state["seed"]
    _HOST = np.random.default_rng()
    _HOST.bit_generator.state = state["host"]
    # read from the state, not drawn: the host generator goes on exactly as in a straight run
    digest = hashlib.sha256(json.dumps(state["host"], sort_keys=True, default=str).encode()).digest()
    _RESUMED = int.from_bytes(digest[:8], "little") % (2**63)
    _UNSAVED.clear()
    _UNSAVED.update(state.get("unsaved", ()))
    _DEVICE_RNGS.clear()
    for name, saved in state["devices"].items():
        dev = as_device(name)
        rng = dev.restore_rng(saved)
        if rng is not None:
            _DEVICE_RNGS[name] = (dev, rng)
