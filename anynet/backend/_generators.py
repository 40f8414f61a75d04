"""A device's random generators: how one draws on the device, saves and restores its state.

The base ``DeviceRandom`` draws with NumPy on the host and moves the numbers to the device (for
libraries anynet does not know); the library modules subclass it to draw on the device itself.
Which generator a run uses, and its seed, is ``_random.RandomStreams``'s business.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DeviceRandom"]


class DeviceRandom:
    """Generators that draw for one device (here: NumPy's, on the host, moved to the device).

    **Arguments:**

    - ``dev``: the ``Device`` the numbers are for.
    """

    def __init__(self, dev: Any):
        self.dev = dev

    def new_rng(self, seed: int | None) -> Any:
        """A generator that draws for the device, seeded (None: from the OS)."""
        return np.random.default_rng(seed)

    def uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        """Uniform [0, 1) numbers of ``shape`` and ``dtype`` drawn with ``rng`` (from ``new_rng``),
        on the device."""
        u = rng.random(shape, dtype=np.float64 if "64" in str(dtype) else np.float32)
        return self.dev.from_numpy(u)

    def rng_state(self, rng: Any) -> dict[str, Any] | None:
        """The JSON-able state of ``rng``; None where the library cannot save it."""
        return {"numpy": rng.bit_generator.state}

    def restore_rng(self, saved: dict[str, Any]) -> Any | None:
        """A generator in the state ``rng_state`` returned (None if ``saved`` is not this kind's)."""
        if "numpy" not in saved:
            return None
        rng = np.random.default_rng()
        rng.bit_generator.state = saved["numpy"]
        return rng

    def key_of(self, rng: Any) -> Any | None:
        """The pure random key that continues ``rng``'s stream inside a compiled step (see
        ``uniform_from_key``); None where the library draws only through its stateful generator."""
        return None

    def set_key(self, rng: Any, key: Any) -> None:
        """Make ``rng`` continue from ``key`` (the key a compiled step handed back)."""

    def uniform_from_key(self, key: Any, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
        """Uniform [0, 1) numbers of ``dtype`` drawn from the pure ``key``, and the next key."""
        raise NotImplementedError(f"{self.dev.name}: this library has no pure random keys")
