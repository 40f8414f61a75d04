"""Precision: the dtypes a model computes in, keeps its master weights in, and accumulates in;
loss scaling for float16.

    trainer = anynet.Trainer(model, loss, opt, precision="bfloat16")   # or "float16", "float64"
    with anynet.device("torch:cpu", precision="float16"): ...          # the same, chosen once

``"float32"`` (the default) and ``"float64"`` compute, keep and accumulate in one dtype.
``"float16"`` and ``"bfloat16"`` are mixed precision: parameters and activations in the narrow
dtype, the optimizer's master weights and state in float32 (``p.state["master"]``, so
checkpoints and ``model.to`` carry them), losses, softmax, BatchNorm statistics and metric sums
in float32. float16 adds dynamic loss scaling (``LossScaler``); bfloat16 has float32's exponent
range and needs none. Micikevicius et al. 2018, https://arxiv.org/abs/1710.03740
"""

from __future__ import annotations

from typing import Any, Sequence

from .. import backend
from ..backend import namespace
from ..parameter import Parameter

__all__ = ["LossScaler", "Precision", "as_precision"]

_NARROW = ("float16", "bfloat16")


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
    row it is multiplied by ``growth_factor`` (2). ``dynamic=False``: a static scale, no checks.
    ``scale`` and ``good_steps`` are 0-d arrays on the model's device, updated there with
    ``where``: no step reads them on the host. The optimizer's update count still counts a
    skipped step (deciding otherwise would read the flag back every step).
    """

    def __init__(self, init_scale: float = 2.0**16, dynamic: bool = True, growth_interval: int = 2000,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5):
        self.init_scale = _number("LossScaler", "init_scale", init_scale, 1e-30)
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
        self._saved: dict[str, Any] = {"scale": self.init_scale, "good_steps": 0}

    def attach(self, dev: backend.Device) -> None:
        """Place the state on ``dev`` (the model's device), keeping its values."""
        if self.scale is not None:
            if backend.device_of(self.scale) != dev:
                self.scale = backend.to_device(self.scale, dev)
                self.good_steps = backend.to_device(self.good_steps, dev)
            return
        xp = dev.xp
        self.scale = xp.asarray(self._saved["scale"], dtype=xp.float32, device=dev.device)
        self.good_steps = xp.asarray(self._saved["good_steps"], dtype=xp.int32, device=dev.device)

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
        self.scale = xp.where(ok, xp.where(grow, self.scale * self.growth_factor, self.scale),
                              self.scale * self.backoff_factor)
        self.good_steps = xp.where(grow, xp.zeros_like(good), good)
        self.finite = None

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
            self.scale = self.good_steps = None
            self.attach(dev)

    def __repr__(self) -> str:
        kind = "dynamic" if self.dynamic else "static"
        return f"LossScaler({kind}, init_scale={self.init_scale})"


class Precision:
    """A dtype policy: ``compute`` (parameters and activations), ``master`` (the optimizer's copy
    of the weights and its state, data targets; default: float32 for a narrow compute dtype, else
    the compute dtype) and ``loss_scaler`` (a ``LossScaler`` or None). Dtypes are named as in the
    array API ("float16", "bfloat16", "float32", "float64"); accumulation (losses, softmax,
    BatchNorm statistics, metric sums) is float32 at least, whatever the compute dtype.
    ``Precision.named("float16")`` is float16 with dynamic loss scaling.
    """

    def __init__(self, compute: str = "float32", master: str | None = None, loss_scaler: LossScaler | None = None):
        names = backend.FLOAT_NAMES
        if compute not in names:
            raise ValueError(f"Precision: compute must be one of {', '.join(names)}, got {compute!r}")
        master = master if master is not None else ("float32" if compute in _NARROW else compute)
        if master not in ("float32", "float64"):
            raise ValueError(f"Precision: master must be float32 or float64, got {master!r}")
        if loss_scaler is not None and not isinstance(loss_scaler, LossScaler):
            raise ValueError(f"Precision: loss_scaler must be a LossScaler or None, got {loss_scaler!r}")
        self.compute, self.master, self.loss_scaler = compute, master, loss_scaler

    @classmethod
    def named(cls, name: str) -> Precision:
        """The policy ``anynet train --precision NAME`` uses."""
        if name not in backend.FLOAT_NAMES:
            raise ValueError(f"unknown precision {name!r}: use one of {', '.join(backend.FLOAT_NAMES)}")
        return cls(name, loss_scaler=LossScaler() if name == "float16" else None)

    @property
    def mixed(self) -> bool:
        """Whether the master weights are kept apart from the computing ones."""
        return self.compute != self.master

    @property
    def name(self) -> str:
        return self.compute if not self.mixed else f"{self.compute} (master {self.master})"

    # -- what the training step calls --------------------------------------------------------

    def prepare(self, model: Any, optimizer: Any = None) -> None:
        """Bring ``model`` to this policy, once (a second call changes nothing): parameters in the
        compute dtype, each with a master copy in ``p.state["master"]`` when mixed (taken from the
        weights before narrowing them), floating optimizer state and buffers in the master dtype;
        the loss scaler on the model's device."""
        dev = model.device
        compute, master = dev.float_dtype(self.compute), dev.float_dtype(self.master)
        xp = dev.xp
        for p in model.params:
            if self.mixed and "master" not in p.state:
                p.state["master"] = xp.astype(p.data, master)
            state = {k: _cast(xp, v, master) for k, v in p.state.items()}
            p.data, p.state = _cast(xp, p.data, compute), state
            p.grad = None
        # an optimizer that makes its zero state ahead (for a compiled step) makes it in the master dtype
        init = getattr(optimizer, "init_state", None)
        if init is not None:
            init([_view(p, True) for p in model.params] if self.mixed else model.params)
        for layer in _with_buffers(model):
            for name in layer.buffers:
                setattr(layer, name, _cast(xp, getattr(layer, name), master))
        if self.loss_scaler is not None:
            self.loss_scaler.attach(dev)

    @property
    def loss_scale(self) -> Any:
        """The seed gradient of the loss: the scaler's scale (a 0-d array), else 1.0."""
        return 1.0 if self.loss_scaler is None else self.loss_scaler.scale

    def unscale(self, params: Sequence[Parameter], grads: list[Any]) -> list[Any]:
        """A gradient transform: the gradients in the master dtype, divided by the loss scale
        (and checked for Inf/NaN under dynamic scaling, on the device)."""
        if self.loss_scaler is not None:
            dtype = backend.device_of(grads[0]).float_dtype(self.master) if grads else None
            return self.loss_scaler.unscale(grads, dtype)
        if not self.mixed:
            return grads
        xp = namespace(*grads)
        return [xp.astype(g, backend.device_of(g).float_dtype(self.master), copy=False) for g in grads]

    def update(self, optimizer: Any, params: Sequence[Parameter]) -> None:
        """``optimizer.update`` on the master weights (mixed) or the parameters; a non-finite step
        under dynamic loss scaling keeps every parameter and state array as it was (``where`` on
        the device); then the scaler's update."""
        scaler = self.loss_scaler
        finite = scaler.finite if scaler is not None else None
        if not self.mixed and finite is None:
            optimizer.update(params)
            return
        params = [p for p in params if p.grad is not None]
        old = [(p.data, dict(p.state)) for p in params] if finite is not None else None
        # fresh views each step: an optimizer that updates a flat buffer in place (NumPy, PyTorch,
        # CuPy) copies them into a new one, so the arrays kept in ``old`` stay as they were
        targets = [_view(p, self.mixed) for p in params]
        optimizer.update(targets)
        for i, (p, target) in enumerate(zip(params, targets)):
            new = target.data
            if finite is not None:  # a non-finite step keeps every array as it was
                xp = namespace(new)
                data0, state0 = old[i]
                p.state = {k: xp.where(finite, v, state0[k] if k in state0 else xp.zeros_like(v))
                           for k, v in p.state.items()}
                new = xp.where(finite, new, state0["master"] if self.mixed else data0)
            if self.mixed:
                p.state["master"] = new
                p.data = namespace(new).astype(new, p.data.dtype)
            else:
                p.data = new
        if scaler is not None:
            scaler.update()

    # -- checkpoints -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-able: the policy's dtypes and its scaler's state."""
        out: dict[str, Any] = {"compute": self.compute, "master": self.master}
        if self.loss_scaler is not None:
            out["loss_scaler"] = self.loss_scaler.state()
        return out

    def check(self, state: dict[str, Any]) -> None:
        """ValueError unless a saved ``state`` was written under this policy's dtypes."""
        saved = (state.get("compute"), state.get("master"))
        if saved != (self.compute, self.master):
            raise ValueError(f"saved with precision compute={saved[0]}, master={saved[1]}; "
                             f"this run uses compute={self.compute}, master={self.master}")

    def load(self, state: dict[str, Any]) -> None:
        """Restore the scaler from a saved ``state`` (checked first)."""
        self.check(state)
        if self.loss_scaler is not None and "loss_scaler" in state:
            self.loss_scaler.load(state["loss_scaler"])

    def __repr__(self) -> str:
        return f"Precision(compute={self.compute!r}, master={self.master!r}, loss_scaler={self.loss_scaler!r})"


def as_precision(precision: Any = None, model: Any = None) -> Precision:
    """A ``Precision`` from a name or a ``Precision``; None: the one ``anynet.device(...,
    precision=...)`` chose, else the dtype the model's parameters have (float32 or float64)."""
    if precision is None:
        precision = backend.current_precision()
    if precision is None and model is not None:
        for p in model.params:
            name = str(p.data.dtype).rsplit(".", 1)[-1]
            precision = name if name in ("float32", "float64") else "float32"
            break
    if precision is None:
        precision = "float32"
    if isinstance(precision, Precision):
        return precision
    if isinstance(precision, str):
        return Precision.named(precision)
    raise ValueError(f"precision must be one of {', '.join(backend.FLOAT_NAMES)} or a Precision, got {precision!r}")


def _cast(xp: Any, a: Any, dtype: Any) -> Any:
    """``a`` in ``dtype`` when it is floating and differs (integer state is left alone)."""
    if a.dtype == dtype or not xp.isdtype(a.dtype, "real floating"):
        return a
    return xp.astype(a, dtype)


def _with_buffers(model: Any) -> list[Any]:
    found, todo = [], [model]
    while todo:
        layer = todo.pop()
        if getattr(layer, "buffers", ()):
            found.append(layer)
        todo.extend(getattr(layer, "layers", ()))
    return found


def _view(p: Parameter, master: bool) -> Parameter:
    """A parameter the optimizer steps in place of ``p``: the master weights (or ``p.data``), the
    gradient, and ``p.state`` itself (so the state the optimizer keeps lands in ``p.state``)."""
    view = Parameter(p.state["master"] if master else p.data, p.name)
    view.grad, view.state = p.grad, p.state
    return view
