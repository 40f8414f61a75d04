"""The optimizer protocol: each optimizer's update written once as a rule over arrays, the one runner
that applies it (per parameter, or on a whole FlatBuffer in place), hooks, the learning rate, state saving."""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..backend import device_of, following, namespace, to_device
from ..kernels import fused_update
from ..parameter import FlatBuffer, Parameter
from ..snapshots import Snapshotting
from ..validation import check_float, check_int
from .schedules import LR

__all__ = [
    "FusedNumbers", "Hook", "InPlaceStep", "Optimizer", "fused", "fused_steps", "in_place", "in_place_steps",
    "one_minus_power", "run_rule_flat",
]

Hook = Callable[[Sequence[Parameter], list[Any]], list[Any]]
"""A gradient hook: ``hook(params, grads) -> grads``, run in order before the update (``anynet.optim.hooks``)."""
# step(opt, buffer, g, lr, t): a hand-written update of a whole FlatBuffer in place (see ``in_place``)
InPlaceStep = Callable[["Optimizer", FlatBuffer, Any, Any, Any], None]
"""An optimizer's in-place step on a FlatBuffer: ``step(opt, buffer, g, lr, t)`` (see ``in_place``)."""
_IN_PLACE: dict[type, InPlaceStep] = {}
FusedNumbers = Callable[["Optimizer", int], dict[str, float]]
"""An optimizer's hyper-parameters for its device's fused update: ``numbers(opt, t) -> {name: float}``."""
_FUSED: dict[type, tuple[str, FusedNumbers]] = {}


class Optimizer(Snapshotting):
    """Base: gathers parameters with gradients, runs the hooks on the gradients, applies the rule.

    A subclass writes its update once, as ``rule(w, g, state, lr, t) -> (new w, new state)``: plain
    array-API code over the parameter ``w``, its gradient ``g`` (both of one shape), the arrays of
    its ``slots`` (``state[slot]``, zeros at first), this update's ``lr`` and count ``t`` (1 for the
    first update; a 0-d array inside a compiled step), returning new arrays and writing into none.
    The runner applies it to each parameter (assigning ``p.data`` and ``p.state``), or, for an
    ``elementwise`` rule on writable arrays, once to all parameters laid end to end in a FlatBuffer,
    writing the results back into the buffer in place (see ``run_rule_flat``).

    ``hooks`` are callables ``hook(params, grads) -> grads`` applied in order before the update
    (weight decay, gradient clipping). ``scalars`` names any Python numbers besides ``iterations``
    that ``state_dict`` must carry (Nadam's ``mu_product``, kept by ``advance``).
    """

    scalars: tuple[str, ...] = ()
    slots: tuple[str, ...] = ()  # the per-parameter state arrays ``rule`` keeps in ``p.state``
    # True where ``rule`` is elementwise: then, on writable arrays, it runs once on all parameters
    # laid end to end in a FlatBuffer (and writes the result back in place) instead of once each.
    elementwise = False

    def __init__(self, lr: LR = 0.01, hooks: Iterable[Hook] = ()):
        if not callable(lr):
            lr = check_float(self.name, "lr", lr, 0.0, low_open=True)
        self.lr = lr
        self.hooks = list(hooks)
        for i, hook in enumerate(self.hooks):
            if not callable(hook):
                raise TypeError(f"{self.name}: hooks[{i}] must be a callable hook(params, grads), "
                                f"got {hook!r} ({type(hook).__name__})")
        self.iterations = 0
        self._buffer: FlatBuffer | None = None

    @property
    def name(self) -> str:
        """The name in messages: the class name."""
        return type(self).__name__

    @property
    def current_lr(self) -> float:
        """The learning rate the next update will use."""
        return float(self.lr(self.iterations)) if callable(self.lr) else float(self.lr)

    def rule(self, w: Any, g: Any, state: Mapping[str, Any], lr: Any, t: Any) -> tuple[Any, dict[str, Any]]:
        """This optimizer's update: ``w`` and ``g`` (any shape, the same), ``state`` one array of that
        shape per slot -> (new ``w``, {slot: new array}), all new arrays.

        **Arguments:** ``w`` the parameter; ``g`` its gradient (after the hooks); ``state`` the
        current value of each slot; ``lr`` the learning rate (a Python float, or a 0-d array in the
        parameter's dtype); ``t`` the update count, 1 for the first (a Python int, or a 0-d array).

        **Returns:** the new parameter and the new value of each slot.
        """
        raise NotImplementedError(f"{self.name}: an optimizer defines rule(w, g, state, lr, t)")

    def update(self, params: Iterable[Parameter]) -> None:
        """One step for every parameter with a gradient.

        **Arguments:** ``params`` a list of Parameters, or a FlatBuffer (then stepped as one array).
        """
        if isinstance(params, FlatBuffer):
            self._buffer = params
        params = [p for p in params if p.grad is not None]
        with following(params[0].data if params else None):  # on the parameters' device (CuPy: its GPU)
            self._update(params)

    def _update(self, params: list[Parameter]) -> None:
        grads = [p.grad for p in params]
        for p, g in zip(params, grads):
            namespace(p.data, g, where=self.name)
            if tuple(g.shape) != tuple(p.data.shape):
                raise ValueError(
                    f"{self.name}: gradient of {p.name or 'a parameter'} has shape "
                    f"{tuple(g.shape)}, the parameter {tuple(p.data.shape)}"
                )
        for hook in self.hooks:
            grads = hook(params, grads)
        # no float(): inside a compiled step the schedule is evaluated on the traced update count
        lr = self.lr(self.iterations) if callable(self.lr) else self.lr
        self.count()
        t = self.iterations
        buffer = self._flat(params)
        if buffer is not None:
            g, lr = buffer.gather_grads(grads), _scalar(lr, buffer.data.dtype)
            if not _run_fused(self, buffer, g, lr, t):
                _IN_PLACE.get(type(self), run_rule_flat)(self, buffer, g, lr, t)
            return
        for p, g in zip(params, grads):
            state = {key: self._state(p, key) for key in self.slots}
            p.data, new = self.rule(p.data, g, state, _scalar(lr, p.dtype), t)
            p.state.update(new)

    def count(self) -> None:
        """Count one update: ``iterations`` and the scalar state that follows it (``advance``)."""
        self.iterations += 1
        self.advance()

    def init_state(self, params: Iterable[Parameter]) -> None:
        """Create the zero state of every slot a parameter lacks (what the first update would),
        so that a compiled step sees the same state structure at every call."""
        for p in params:
            for key in self.slots:
                p.state[key] = self._state(p, key)

    def flat_buffer(self, params: Iterable[Parameter]) -> FlatBuffer | None:
        """The FlatBuffer ``update`` steps for ``params`` (its ``grad`` is the flat gradient a
        data-parallel run all-reduces), or None where this optimizer steps each parameter."""
        return self._flat(list(params))

    def _flat(self, params: list[Parameter]) -> FlatBuffer | None:
        """The FlatBuffer of ``params`` (kept, rebuilt when they change), or None where it cannot serve."""
        if not self.elementwise:
            return None
        buffer = self._buffer
        same = buffer is not None and len(buffer.params) == len(params) and all(
            a is b for a, b in zip(buffer.params, params))
        if not (same and buffer.bound()):
            buffer = self._buffer = FlatBuffer(params) if FlatBuffer.supports(params) else None
        return buffer

    def advance(self) -> None:
        """Once per update, after ``iterations`` is counted: update scalar state (Nadam)."""

    def _state(self, p: Parameter, key: str) -> Any:
        """``p.state[key]``, zeros of p's shape and dtype on p's device the first time."""
        value = p.state.get(key)
        if value is None:
            value = device_of(p.data).zeros(p.shape, p.dtype)
        return value

    def state_dict(self, params: Sequence[Parameter]) -> dict[str, Any]:
        """Everything needed to resume: ``"iterations"``, ``"lr"`` (when a number; a schedule
        is a function of ``iterations``), the ``scalars`` (Python numbers), and each
        parameter's state arrays under ``"state.{index}.{key}"``, in ``params`` order."""
        state: dict[str, Any] = {"iterations": self.iterations}
        if not callable(self.lr):
            state["lr"] = self.lr
        state.update({name: getattr(self, name) for name in self.scalars})
        for i, p in enumerate(params):
            for key, value in p.state.items():
                state[f"state.{i}.{key}"] = value
        return state

    def check_state(self, state: dict[str, Any], params: Sequence[Parameter]) -> list[dict[str, Any]]:
        """Check a ``state_dict`` against ``params`` without changing anything (ValueError or
        TypeError if it does not fit); returns each parameter's state arrays."""
        missing = [k for k in ("iterations", *self.scalars) if k not in state]
        if missing:
            raise ValueError(f"{self.name}: the state lacks {missing}; was it saved by another optimizer?")
        check_int(self.name, "the state's iterations", state["iterations"], 0)
        if "lr" in state:
            check_float(self.name, "the state's lr", state["lr"], 0.0, low_open=True)
        for name in self.scalars:
            check_float(self.name, f"the state's {name}", state[name])
        per_param: list[dict[str, Any]] = [{} for _ in params]
        for name, value in state.items():
            if name in ("iterations", "lr", *self.scalars):
                continue
            index, _, key = name[len("state."):].partition(".")
            if not name.startswith("state.") or not index.isdigit() or not key:
                raise ValueError(f"{self.name}: the state holds {name!r}, which names no parameter state")
            if int(index) >= len(params):
                raise ValueError(f"{self.name}: state names parameter {index}, but there are {len(params)}")
            if tuple(getattr(value, "shape", ())) != params[int(index)].shape:
                raise ValueError(
                    f"{self.name}: state {key} of parameter {index} has shape {tuple(getattr(value, 'shape', ()))}, "
                    f"the parameter {params[int(index)].shape}"
                )
            per_param[int(index)][key] = value
        return per_param

    def load_state_dict(self, state: dict[str, Any], params: Sequence[Parameter]) -> None:
        """Restore what ``state_dict`` returned (all checked first); arrays go to each parameter's device."""
        per_param = self.check_state(state, params)
        self.iterations = int(state["iterations"])
        if "lr" in state and not callable(self.lr):
            self.lr = float(state["lr"])
        for name in self.scalars:
            setattr(self, name, float(state[name]))
        for p, values in zip(params, per_param):
            dev = device_of(p.data)
            p.state = {k: to_device(v, dev) for k, v in values.items()}


    def __repr__(self) -> str:
        return f"{self.name}(lr={self.lr!r})"


def _scalar(value: Any, dtype: Any) -> Any:
    """A real number (Python's or a library's scalar type, such as np.float64) as a Python float,
    which every library treats as weak, so it never widens the update (NumPy 2 and CuPy 14 promote
    float32 * np.float64 to float64); a 0-d array (a traced count, lr or schedule value) cast to
    the parameter's dtype, for the same reason (float64 under JAX's x64 mode)."""
    if isinstance(value, numbers.Real):
        return float(value)
    return namespace(value).astype(value, dtype)


def one_minus_power(beta: float, t: Any, dtype: Any) -> Any:
    """1 - beta**t, Adam's bias correction, its one owner (every Adam-family rule and in-place step).

    **Arguments:** ``beta`` a moment's decay; ``t`` the update count (a Python int, or a 0-d
    integer array inside a compiled step); ``dtype`` the parameters' dtype.

    **Returns:** a Python float for a Python count (no device work); for a traced count a 0-d
    array, -expm1(t log beta) in ``dtype``, which keeps its relative precision where
    1 - beta**t would cancel (beta2 = 0.999 at t = 1).
    """
    if isinstance(t, int):
        return 1.0 - beta**t
    xp = namespace(t)
    return -xp.expm1(xp.astype(t, dtype) * math.log(beta))


def run_rule_flat(opt: Optimizer, buffer: FlatBuffer, g: Any, lr: Any, t: Any) -> None:
    """The generic flat step: ``opt.rule`` once on the whole buffer seen as one parameter, its
    results written back in place into ``buffer.data`` and the buffer's flat state, so every
    parameter (a view of the buffer) and its ``p.state`` change at once.

    **Arguments:** ``opt`` an elementwise optimizer; ``buffer`` its FlatBuffer; ``g`` the flat
    gradient (P,); ``lr`` and ``t`` as ``Optimizer.rule`` takes them.
    """
    state = {key: buffer.state(key) for key in opt.slots}
    new, new_state = opt.rule(buffer.data, g, state, lr, t)
    for key, value in new_state.items():
        if value is not state[key]:
            state[key][...] = value
    buffer.data[...] = new


def in_place(cls: type[Optimizer]) -> Callable[[InPlaceStep], InPlaceStep]:
    """Register ``step(opt, buffer, g, lr, t)``, a hand-written in-place form of ``cls.rule`` on a
    FlatBuffer, as the flat update of exactly ``cls`` (a subclass, which may change the rule,
    gets ``run_rule_flat`` unless it registers its own). Kept only where a benchmark shows that it
    pays (``benchmarks/results-optim-flat.md``); the tests hold each one equal to its rule.

    **Arguments:** ``cls`` the optimizer class.

    **Returns:** a decorator that registers the step and returns it unchanged.
    """
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise TypeError(f"in_place: expected an Optimizer subclass, got {cls!r}")

    def register(step: InPlaceStep) -> InPlaceStep:
        if cls in _IN_PLACE:
            raise ValueError(f"in_place: {cls.__name__} already has an in-place step, "
                             f"{_IN_PLACE[cls].__name__}; got a second, {step.__name__}")
        _IN_PLACE[cls] = step
        return step

    return register


def in_place_steps() -> dict[type[Optimizer], InPlaceStep]:
    """The registered in-place steps.

    **Returns:** {optimizer class: its in-place step}, a copy (registering goes through ``in_place``).
    """
    return dict(_IN_PLACE)


def fused(cls: type[Optimizer], operation: str) -> Callable[[FusedNumbers], FusedNumbers]:
    """Register the device's fused update ``operation`` (one of ``anynet.kernels.UPDATES``) as the
    flat step of exactly ``cls``, wherever the buffer's device supplies it (``anynet.kernels.fused_update``)
    and the step is eager (a Python count and learning rate; a compiled step runs the in-place step).
    The decorated ``numbers(opt, t)`` gives the update its hyper-parameters.

    **Arguments:** ``cls`` the optimizer class; ``operation`` the update's name.

    **Returns:** a decorator that registers ``numbers`` and returns it unchanged.
    """
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise TypeError(f"fused: expected an Optimizer subclass, got {cls!r}")

    def register(numbers: FusedNumbers) -> FusedNumbers:
        if cls in _FUSED:
            raise ValueError(f"fused: {cls.__name__} already has a fused update, {_FUSED[cls][0]}; got a second, "
                             f"{operation}")
        _FUSED[cls] = (operation, numbers)
        return numbers

    return register


def fused_steps() -> dict[type[Optimizer], str]:
    """The optimizers with a fused update where their device supplies one.

    **Returns:** {optimizer class: the update's name}, a copy (registering goes through ``fused``).
    """
    return {cls: operation for cls, (operation, _) in _FUSED.items()}


def _run_fused(opt: Optimizer, buffer: FlatBuffer, g: Any, lr: Any, t: Any) -> bool:
    """Step ``buffer`` with its device's fused update of ``opt``, if there is one; False where not."""
    found = _FUSED.get(type(opt))
    if found is None or not isinstance(t, int) or not isinstance(lr, float):
        return False
    operation, numbers = found
    update = fused_update(operation, buffer.data)
    if update is None:
        return False
    update(buffer.data, g, {key: buffer.state(key) for key in opt.slots}, lr, t, **numbers(opt, t))
    return True
