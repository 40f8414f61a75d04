"""Dynamic loss scaling for float16 training (``LossScaler``), the state ``anynet.Precision``
keeps on the model's device. Micikevicius et al. 2018, https://arxiv.org/abs/1710.03740
"""

from __future__ import annotations

from typing import Any, Sequence

from .. import backend
from ..backend import namespace

__all__ = ["LossScaler"]


def _number(where: str, name: str, value: Any, low: float, integer: bool = False) -> Any:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value >= low or value != value:
        want = "an integer" if integer else "a number"
        raise ValueError(f"{where}: {name} must be {want} >= {low}, got {value!r}")
    return value if integer else float(value)


class LossScaler:
    """Loss scaling for float16: the loss's gradient is multiplied by ``scale`` before backward
    (so small gradients do not flush to zero) and the parameter gradients divided by it after.

    ``dynamic=True`` (default): start at ``init_scale`` (2^16); a step whose gradients hold an
    Inf or NaN is skipped (parameters and optimizer state keep their values) and the scale is
    multiplied by ``backoff_factor`` (1/2); after ``growth_interval`` (2000) good steps in a
    row it is multiplied by ``growth_factor`` (2); it never falls below ``min_scale`` (1), so a
    run whose gradients are Inf or NaN at every scale keeps a state that can be saved and
    resumed, and ``skipped_in_a_row()`` tells the trainer to stop it (an error, not a silently
    frozen run). ``dynamic=False``: a static scale, no checks.
    ``scale`` and ``good_steps`` are 0-d arrays on the model's device, updated there with
    ``where``: no step reads them on the host. The optimizer's update count still counts a
    skipped step (deciding otherwise would read the flag back every step).
    """

    def __init__(self, init_scale: float = 2.0**16, dynamic: bool = True, growth_interval: int = 2000,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5, min_scale: float = 1.0):
        self.init_scale = _number("LossScaler", "init_scale", init_scale, 1e-30)
        self.min_scale = _number("LossScaler", "min_scale", min_scale, 1e-30)
        if self.min_scale > self.init_scale:
            raise ValueError(f"LossScaler: min_scale ({min_scale!r}) must not exceed init_scale ({init_scale!r})")
        if not isinstance(dynamic, bool):
            raise ValueError(f"LossScaler: dynamic must be True or False, got {dynamic!r}")
        self.dynamic = dynamic
        self.growth_interval = _number("LossScaler", "growth_interval", growth_interval, 1, integer=True)
        self.growth_factor = _number("LossScaler", "growth_factor", growth_factor, 1.0)
        self.backoff_factor = _number("LossScaler", "backoff_factor", backoff_factor, 1e-30)
        if self.backoff_factor >= 1.0:
            raise ValueError(f"LossScaler: backoff_factor must lie in (0, 1), got {backoff_factor!r}")
        self.scale: Any = None  # 0-d float32 on the device, made by attach
        self.good_steps: Any = None  # 0-d int32: good steps since the last change of scale
        self.finite: Any = None  # 0-d bool of the last unscaled gradients (dynamic only)
        self.skipped: Any = None  # 0-d int32: steps skipped in a row (non-finite gradients)
        self._saved: dict[str, Any] = {"scale": self.init_scale, "good_steps": 0}

    def attach(self, dev: backend.Device) -> None:
        """Place the state on ``dev`` (the model's device), keeping its values."""
        if self.scale is not None:
            if backend.device_of(self.scale) != dev:
                self.scale = backend.to_device(self.scale, dev)
                self.good_steps = backend.to_device(self.good_steps, dev)
                self.skipped = backend.to_device(self.skipped, dev)
            return
        xp = dev.xp
        self.scale = xp.asarray(self._saved["scale"], dtype=xp.float32, device=dev.device)
        self.good_steps = xp.asarray(self._saved["good_steps"], dtype=xp.int32, device=dev.device)
        self.skipped = xp.zeros((), dtype=xp.int32, device=dev.device)

    def unscale(self, grads: Sequence[Any], dtype: Any) -> list[Any]:
        """``grads`` / scale in ``dtype`` (the master dtype); records whether all are finite."""
        xp = namespace(self.scale)
        inv = 1.0 / self.scale
        out = [xp.astype(g, dtype, copy=False) * xp.astype(inv, dtype, copy=False) for g in grads]
        if self.dynamic:
            flags = [xp.all(xp.isfinite(g)) for g in out]
            self.finite = xp.all(xp.stack(flags)) if flags else xp.asarray(True, device=self.scale.device)
        return out

    def update(self) -> None:
        """After a step: back off on a non-finite step, grow after ``growth_interval`` good ones."""
        if not self.dynamic or self.finite is None:
            return
        xp = namespace(self.scale)
        ok = self.finite
        good = xp.where(ok, self.good_steps + 1, xp.zeros_like(self.good_steps))
        grow = good >= self.growth_interval
        lower = xp.maximum(self.scale * self.backoff_factor, xp.full_like(self.scale, self.min_scale))
        self.scale = xp.where(ok, xp.where(grow, self.scale * self.growth_factor, self.scale), lower)
        self.good_steps = xp.where(grow, xp.zeros_like(good), good)
        self.skipped = xp.where(ok, xp.zeros_like(self.skipped), self.skipped + 1)
        self.finite = None

    def skipped_in_a_row(self) -> int:
        """How many of the last steps were skipped in a row (a host read: the trainer asks once
        per epoch)."""
        return 0 if self.skipped is None else int(self.skipped)

    def state(self) -> dict[str, Any]:
        """JSON-able state for a checkpoint (reads the two numbers back: once per checkpoint)."""
        if self.scale is None:
            return dict(self._saved)
        return {"scale": float(self.scale), "good_steps": int(self.good_steps)}

    def load(self, state: dict[str, Any]) -> None:
        """Restore what ``state`` returned."""
        scale = _number("LossScaler", "saved scale", state.get("scale"), 1e-38)
        good = _number("LossScaler", "saved good_steps", state.get("good_steps"), 0, integer=True)
        self._saved = {"scale": scale, "good_steps": good}
        if self.scale is not None:
            dev = backend.device_of(self.scale)
            self.scale = self.good_steps = self.skipped = None
            self.attach(dev)

    def __repr__(self) -> str:
        kind = "dynamic" if self.dynamic else "static"
        return f"LossScaler({kind}, init_scale={self.init_scale})"
