"""Precision: the dtypes a model computes in, keeps its master weights in, and accumulates in.

    trainer = anynet.Trainer(model, loss, opt, precision="bfloat16")   # or "float16", "float64"

``"float32"`` (the default) and ``"float64"`` compute, keep and accumulate in one dtype.
``"float16"`` and ``"bfloat16"`` are mixed precision: parameters and activations in the narrow
dtype, the optimizer's master weights and state in float32 (``p.state["master"]``, so
checkpoints and ``model.to`` carry them), losses, softmax, BatchNorm statistics and metric sums
in float32. float16 adds dynamic loss scaling (``LossScaler``); bfloat16 has float32's exponent
range and needs none. ``Precision`` is a plug-in of the training step (``StepPlugin``): it seeds
backward with the loss scale, unscales the gradients, and runs the optimizer on the master
weights. Micikevicius et al. 2018, https://arxiv.org/abs/1710.03740
"""

from __future__ import annotations

from typing import Any, Sequence

from .. import backend
from ..backend import namespace
from ..functional import NARROW_FLOATS
from ..parameter import Parameter
from .loss_scale import LossScaler
from .plugin import StepPlugin, Update

__all__ = ["LossScaler", "Precision", "as_precision"]


class Precision(StepPlugin):
    """A dtype policy: ``compute`` (parameters and activations), ``master`` (the optimizer's copy
    of the weights and its state, data targets; default: float32 for a narrow compute dtype, else
    the compute dtype) and ``loss_scaler`` (a ``LossScaler`` or None). Dtypes are named as in the
    array API ("float16", "bfloat16", "float32", "float64"); accumulation (losses, softmax,
    BatchNorm statistics, metric sums) is float32 at least, whatever the compute dtype.
    ``Precision.named("float16")`` is float16 with dynamic loss scaling.

    The master weights are one persistent ``Parameter`` per model parameter, stepped by the
    optimizer in place of it every update: the same objects each step, so an optimizer that lays
    its parameters in one flat buffer builds it once.
    """

    def __init__(self, compute: str = "float32", master: str | None = None, loss_scaler: LossScaler | None = None):
        names = backend.FLOAT_NAMES
        if compute not in names:
            raise ValueError(f"Precision: compute must be one of {', '.join(names)}, got {compute!r}")
        master = master if master is not None else ("float32" if compute in NARROW_FLOATS else compute)
        if master not in ("float32", "float64"):
            raise ValueError(f"Precision: master must be float32 or float64, got {master!r}")
        if loss_scaler is not None and not isinstance(loss_scaler, LossScaler):
            raise ValueError(f"Precision: loss_scaler must be a LossScaler or None, got {loss_scaler!r}")
        self.compute, self.master, self.loss_scaler = compute, master, loss_scaler
        self._masters: dict[int, Parameter] = {}  # id(model parameter) -> its master weights

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
        """The policy's name in messages: the compute dtype, and the master dtype when mixed."""
        return self.compute if not self.mixed else f"{self.compute} (master {self.master})"

    # -- the step plug-in ----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether the step needs it: master weights kept apart, or loss scaling."""
        return self.mixed or self.loss_scaler is not None

    @property
    def untraceable(self) -> str | None:
        """Why this policy's step cannot be compiled yet (float16 loss scaling), or None."""
        if self.loss_scaler is None:
            return None
        return ("loss scaling (float16) keeps its scale outside the traced state and runs eager for now; "
                "compile float32, float64 or bfloat16, or train float16 eager")

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
        if optimizer is not None:  # the zero state made ahead (for a compiled step) in the master dtype
            optimizer.init_state(self._targets(model.params))
        for layer in model.modules():
            for name in layer.buffers:
                setattr(layer, name, _cast(xp, getattr(layer, name), master))
        if self.loss_scaler is not None:
            self.loss_scaler.attach(dev)

    @property
    def loss_scale(self) -> Any:
        """The scaler's scale (a 0-d array on the device), else 1.0."""
        return 1.0 if self.loss_scaler is None else self.loss_scaler.scale

    def seed(self, seed: Any) -> Any:
        """The seed gradient times the loss scale (float16), so small gradients do not flush to zero."""
        return seed if self.loss_scaler is None else seed * self.loss_scaler.scale

    def transform(self, params: Sequence[Parameter], grads: list[Any]) -> list[Any]:
        """The gradients in the master dtype, divided by the loss scale (and checked for Inf/NaN
        under dynamic scaling, on the device)."""
        if self.loss_scaler is not None:
            dtype = backend.device_of(grads[0]).float_dtype(self.master) if grads else None
            return self.loss_scaler.unscale(grads, dtype)
        if not self.mixed:
            return grads
        xp = namespace(*grads)
        return [xp.astype(g, backend.device_of(g).float_dtype(self.master), copy=False) for g in grads]

    def update(self, apply: Update, params: Sequence[Parameter]) -> None:
        """``apply`` (the optimizer's update) on the master weights (mixed) or the parameters; a
        non-finite step under dynamic loss scaling keeps every parameter and state array as it
        was (``where`` on the device, written back in place where arrays are writable); then the
        scaler's update."""
        scaler = self.loss_scaler
        finite = scaler.finite if scaler is not None else None
        if not self.mixed and finite is None:
            apply(params)
            return
        params = [p for p in params if p.grad is not None]
        targets = self._targets(params)
        kept = None if finite is None else [
            (_copy(t.data), {k: _copy(v) for k, v in t.state.items() if k != "master"}) for t in targets]
        apply(targets)
        if kept is not None:
            for target, (data, state) in zip(targets, kept):
                _keep_unless(finite, target, data, state)
        if self.mixed:
            for p, target in zip(params, targets):
                p.state["master"] = target.data
                p.data = namespace(target.data).astype(target.data, p.data.dtype)
        if scaler is not None:
            scaler.update()

    def _targets(self, params: Sequence[Parameter]) -> list[Parameter]:
        """What the optimizer steps for ``params``: themselves, or (mixed) their master weights,
        each a persistent ``Parameter`` whose data is ``p.state["master"]``, gradient ``p.grad``
        and state ``p.state`` itself (so the optimizer's state lands where checkpoints read it)."""
        if not self.mixed:
            return list(params)
        targets = []
        for p in params:
            master = self._masters.get(id(p))
            if master is None or master.name != p.name:
                master = self._masters[id(p)] = Parameter(p.state["master"], p.name)
            master.data, master.grad, master.state = p.state["master"], p.grad, p.state
            targets.append(master)
        return targets

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
    """A ``Precision`` from a name or a ``Precision``; None: the dtype the model's parameters have
    (float32 or float64), float32 without a model."""
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


def _copy(a: Any) -> Any:
    """A copy of ``a`` where the optimizer may write ``a`` in place (a flat buffer's view), else ``a``."""
    return namespace(a).asarray(a, copy=True) if backend.device_of(a).writable else a


def _keep_unless(finite: Any, target: Parameter, data: Any, state: dict[str, Any]) -> None:
    """Where ``finite`` is False, put back the values before the step: into the arrays themselves
    where they are writable (a flat buffer's views stay bound), else as new arrays."""
    xp = namespace(target.data)
    writable = backend.device_of(target.data).writable

    def keep(new: Any, old: Any) -> Any:
        chosen = xp.where(finite, new, old)
        if not writable:
            return chosen
        new[...] = chosen
        return new

    for key, value in list(target.state.items()):
        if key == "master":  # the data itself, kept below
            continue
        target.state[key] = keep(value, state[key] if key in state else xp.zeros_like(value))
    target.data = keep(target.data, data)
