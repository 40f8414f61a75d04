"""The layer protocol: ``forward``, ``backward``, parameters, buffers, train/eval, moving."""

from __future__ import annotations

from typing import Any, Iterator

from .. import backend
from ..parameter import FlatBuffer, Parameter
from ..snapshots import Snapshotting

__all__ = ["Composite", "Layer", "ParameterHolder", "check_keys", "new_constant", "new_parameter"]


def _dtype_name(dtype: Any) -> str:
    """A dtype's array-API name ("float32", "bfloat16") from a name or any library's dtype; None:
    the dtype the device context gives new parameters (``anynet.device(..., dtype=...)``,
    float32 by default)."""
    if dtype is None:
        return backend.current_dtype()
    if isinstance(dtype, str):
        return dtype
    try:
        return backend.numpy_dtype(dtype).name
    except TypeError:  # a dtype NumPy does not know: torch.bfloat16
        return str(dtype).rsplit(".", 1)[-1]


def new_parameter(name: str, shape: tuple[int, ...], scale: float | None, dtype: Any = None) -> Parameter:
    """A parameter born on the current device: Normal(0, scale^2) drawn on the host,
    or zeros when ``scale`` is None. float32 unless ``dtype`` (or the device context's ``dtype``)
    says otherwise; a dtype NumPy lacks (bfloat16) is drawn in float32 and cast on the device."""
    dev = backend.current_device()
    want = dev.float_dtype(_dtype_name(dtype))
    if scale is None:
        data = dev.zeros(shape, want)
    else:
        data = backend.normal(shape, scale, _host_dtype(_dtype_name(dtype)), dev)
        data = dev.xp.astype(data, want, copy=False)
    return Parameter(data, name)


def _host_dtype(name: str) -> str:
    return name if name in ("float16", "float32", "float64") else "float32"


def new_constant(value: float, shape: tuple[int, ...], dtype: Any = None) -> Any:
    """An array filled with ``value`` on the current device."""
    dev = backend.current_device()
    return dev.zeros(shape, dev.float_dtype(_dtype_name(dtype))) + value


def check_keys(where: str, own: dict[str, Any], state: dict[str, Any]) -> None:
    """Refuse a state whose names differ from ``own``'s, listing what is missing and extra."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{where}: state does not fit: missing {missing}, unexpected {unexpected}")


class ParameterHolder(Snapshotting):
    """Base class of everything that owns parameters: layers, containers and recurrent cells.

    Parameters and parts register themselves when assigned to an attribute (``self.W =
    new_parameter(...)``, ``self.ln1 = LayerNorm(...)``), in the order of their first assignment,
    as in DeZero's ``Layer.__setattr__``: ``params`` lists this holder's own parameters, then
    each part's, and ``modules()`` is the one walk of the tree every feature uses (buffers,
    tracing, export, statistics). ``buffers`` names non-trained arrays (running statistics)
    saved and moved with the parameters; ``carried`` names state a layer carries from one call
    into the next without saving it (a stateful recurrent layer's hidden state), which a
    compiled step passes in and out.
    """

    buffers: tuple[str, ...] = ()
    carried: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, (Parameter, ParameterHolder)) or name in self.__dict__.get("_own_params", ()) \
                or name in self.__dict__.get("_parts", ()):
            self._register(name, value)
        object.__setattr__(self, name, value)

    def _register(self, name: str, value: Any) -> None:
        """Record ``name`` as an own parameter or a part (first assignment fixes the order), or
        forget it when something else is assigned over it."""
        own = self.__dict__.setdefault("_own_params", [])
        parts = self.__dict__.setdefault("_parts", {})
        if isinstance(value, Parameter):
            if name not in own:
                own.append(name)
        elif name in own:
            own.remove(name)
        if isinstance(value, ParameterHolder):
            parts[name] = value
        else:
            parts.pop(name, None)

    @property
    def name(self) -> str:
        """The name in messages: the class name."""
        return type(self).__name__

    @property
    def parts(self) -> dict[str, ParameterHolder]:
        """The sub-layers by name, in the order they were assigned."""
        return dict(self.__dict__.get("_parts", {}))

    def _part_list(self) -> list[ParameterHolder] | Any:
        """The parts in order, without building a dict (walked at every step)."""
        return self.__dict__.get("_parts", {}).values()

    def replace_part(self, name: str, new: ParameterHolder) -> None:
        """Put ``new`` in the place of the part ``name`` (keeping its position)."""
        if name not in self.parts:
            raise KeyError(f"{self.name}: no part {name!r}; the parts are {list(self.parts)}")
        setattr(self, name, new)

    def modules(self) -> Iterator[ParameterHolder]:
        """This holder, then every part's ``modules()`` in order: the one walk of the tree."""
        yield self
        for part in self._part_list():
            yield from part.modules()

    @property
    def own_params(self) -> list[Parameter]:
        """The parameters assigned to this holder itself (not its parts'), in assignment order."""
        return [getattr(self, name) for name in self.__dict__.get("_own_params", ())]

    @property
    def params(self) -> list[Parameter]:
        """Every parameter in a fixed, documented order: this holder's own, then each part's."""
        found = [getattr(self, name) for name in self.__dict__.get("_own_params", ())]
        for part in self._part_list():
            found += part.params
        return found

    @property
    def carries_state(self) -> bool:
        """Whether this holder carries state from one call into the next (a stateful recurrent
        layer; ``set_state`` then sets it); False by default."""
        return False

    def reset_state(self) -> None:
        """Forget state carried between calls (a stateful recurrent layer's hidden state), here and
        in every part; nothing by default."""
        for part in self.parts.values():
            part.reset_state()

    # -- the state protocol a compiled step uses (see anynet.training.step) ---------------------

    def state_leaves(self) -> dict[str, Any]:
        """This holder's own non-parameter arrays a step reads and writes: ``buffers`` and
        ``carried`` by name (not its parts': walk ``modules()``)."""
        return {name: getattr(self, name) for name in (*self.buffers, *self.carried)}

    def load_state_leaves(self, leaves: dict[str, Any]) -> None:
        """Take back what ``state_leaves`` gave (new arrays of the same names)."""
        for name, value in leaves.items():
            setattr(self, name, value)


    # -- moving, saving ---------------------------------------------------------------------------

    def to(self, device: Any) -> "ParameterHolder":
        """Move parameters, their gradients and optimizer state, and buffers to ``device``."""
        dev = backend.as_device(device)
        for p in self.own_params:
            p.data = backend.to_device(p.data, dev)
            if p.grad is not None:
                p.grad = backend.to_device(p.grad, dev)
            p.state = {k: backend.to_device(v, dev) for k, v in p.state.items()}
        for b in self.buffers:
            setattr(self, b, backend.to_device(getattr(self, b), dev))
        for part in self.parts.values():
            part.to(dev)
        return self

    def flatten_params(self) -> FlatBuffer:
        """This layer's parameters as views into one contiguous array (``anynet.parameter.FlatBuffer``):
        ``opt.update(buffer)`` then steps that one array, and its ``gather_grads()`` is the flat
        gradient a data-parallel run all-reduces. Only where arrays are writable (not JAX)."""
        return FlatBuffer(self.params)

    def _slots(self) -> Iterator[tuple[str, ParameterHolder, str, bool]]:
        """(state_dict key, holder, attribute, is a parameter) for every saved array, in order:
        own parameters by their names, own buffers, then each part's under "part.key"."""
        for p_name in self.__dict__.get("_own_params", ()):
            yield getattr(self, p_name).name, self, p_name, True
        for b in self.buffers:
            yield b, self, b, False
        for n, part in self.parts.items():
            for key, holder, attr, is_param in part._slots():
                yield f"{n}.{key}", holder, attr, is_param

    def state_dict(self) -> dict[str, Any]:
        """Parameters and buffers by name (arrays, not copies): a part's keys read "part.key"."""
        return {key: (getattr(holder, attr).data if is_param else getattr(holder, attr))
                for key, holder, attr, is_param in self._slots()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take arrays by name (shapes must match), placed on this layer's device; every key and
        shape is checked before anything is assigned."""
        own = self.state_dict()
        check_keys(self.name, own, state)
        for key, value in state.items():
            if tuple(value.shape) != tuple(own[key].shape):
                raise ValueError(
                    f"{self.name}: {key} has shape {tuple(own[key].shape)}, the state gives {tuple(value.shape)}"
                )
        dev = self.device
        for key, holder, attr, is_param in self._slots():
            value = backend.to_device(state[key], dev)
            if is_param:
                p = getattr(holder, attr)
                p.data, p.grad = value, None
            else:
                setattr(holder, attr, value)

    @property
    def device(self) -> backend.Device:
        """Where this layer's arrays live (the current device if it has none)."""
        for m in self.modules():
            for p in m.own_params:
                return backend.device_of(p.data)
            for b in m.buffers:
                return backend.device_of(getattr(m, b))
        return backend.current_device()

    def _need(self, attr: str) -> Any:
        value = getattr(self, attr, None)
        if value is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return value

    def _check_dout(self, dout: Any, shape: tuple[int, ...]) -> None:
        if tuple(dout.shape) != tuple(shape):
            raise ValueError(f"{self.name}: expected dout of shape {tuple(shape)}, got {tuple(dout.shape)}")

    def __repr__(self) -> str:
        shapes = ", ".join(f"{p.name}={p.shape}" for p in self.own_params)
        return f"{self.name}({shapes})"


class Layer(ParameterHolder):
    """Base class of every layer and container.

    ``forward(x, train=None)`` computes and keeps what ``backward(dout)`` needs;
    ``train=None`` uses the layer's mode (``train()`` / ``eval()``).
    """

    def __init__(self) -> None:
        self.training = True

    @property
    def input_ids(self) -> int | None:
        """V for a layer whose input is integer ids in [0, V) (embeddings), else None."""
        return None

    def forward(self, x: Any, train: bool | None = None) -> Any:
        """Compute the output and keep what ``backward`` needs.

        **Arguments:**

        - ``x``: the input batch, shaped as the layer's class docstring says.
        - ``train``: True or False for this call; None uses the layer's mode (``train()`` / ``eval()``).

        **Returns:** the output batch, in the namespace and on the device of ``x``.
        """
        raise NotImplementedError

    def backward(self, dout: Any) -> Any:
        """Backpropagate: the gradients of the parameters go to each ``p.grad``.

        **Arguments:**

        - ``dout``: the gradient of the loss with respect to the last ``forward``'s output (its shape).

        **Returns:** the gradient with respect to the last ``forward``'s input (None for integer ids).
        """
        raise NotImplementedError

    def __call__(self, x: Any, train: bool | None = None) -> Any:
        return self.forward(x, train)

    def is_training(self, train: bool | None) -> bool:
        """Whether a call with ``train`` runs in training mode: ``train`` itself, or the layer's mode for None."""
        return self.training if train is None else bool(train)

    def train(self, mode: bool = True) -> "Layer":
        """Switch to training mode (dropout on, batch statistics), in every part too; returns self."""
        for m in self.modules():
            if isinstance(m, Layer):
                m.training = bool(mode)
        return self

    def eval(self) -> "Layer":
        """Switch to inference mode; returns self."""
        return self.train(False)


class Composite(Layer):
    """A layer built from named sub-layers (a Transformer block, an encoder-decoder).

    Subclasses register each part with ``self.add(name, layer)`` (or by assigning it to
    ``self.<name>``); ``params`` joins the parts' parameters in registration order,
    ``train``/``eval``/``to`` reach every part, and ``state_dict`` keys read "name.key".
    ``forward``/``backward`` are the subclass's.
    """

    def add(self, name: str, layer: Layer) -> Layer:
        """Register ``layer`` as the part ``name`` (also the attribute ``self.<name>``)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"{self.name}: part {name!r} is a {type(layer).__name__}, not a Layer")
        setattr(self, name, layer)
        return layer
