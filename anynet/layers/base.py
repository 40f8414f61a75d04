"""The layer protocol: ``forward``, ``backward``, parameters, buffers, train/eval, moving."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..parameter import FlatBuffer, Parameter

__all__ = ["Composite", "Layer", "ParameterHolder", "check_keys", "new_constant", "new_parameter"]


def _dtype_name(dtype: Any) -> str:
    """A dtype's array-API name ("float32", "bfloat16") from a name or any library's dtype; None:
    the master dtype of the precision in effect (float32 unless ``anynet.device(...,
    precision="float64")`` chose float64)."""
    if dtype is None:
        from ..training.precision import as_precision

        return as_precision().master
    if isinstance(dtype, str):
        return dtype
    try:
        return backend.numpy_dtype(dtype).name
    except TypeError:  # a dtype NumPy does not know: torch.bfloat16
        return str(dtype).rsplit(".", 1)[-1]


def new_parameter(name: str, shape: tuple[int, ...], scale: float | None, dtype: Any = None) -> Parameter:
    """A parameter born on the current device: Normal(0, scale^2) drawn on the host,
    or zeros when ``scale`` is None. float32 unless ``dtype`` (or the precision in effect)
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


class ParameterHolder:
    """Base class of everything that owns parameters: layers, containers and recurrent cells.

    ``params`` lists parameters in a fixed, documented order; ``buffers`` names
    non-trained arrays (running statistics) saved and moved with them; ``carried``
    names state a layer carries from one call into the next without saving it (a
    stateful recurrent layer's hidden state), which a compiled step passes in and out.
    """

    buffers: tuple[str, ...] = ()
    carried: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def params(self) -> list[Parameter]:
        return []

    def to(self, device: Any) -> "ParameterHolder":
        """Move parameters, their gradients and optimizer state, and buffers to ``device``."""
        dev = backend.as_device(device)
        for p in self.params:
            p.data = backend.to_device(p.data, dev)
            if p.grad is not None:
                p.grad = backend.to_device(p.grad, dev)
            p.state = {k: backend.to_device(v, dev) for k, v in p.state.items()}
        for b in self.buffers:
            setattr(self, b, backend.to_device(getattr(self, b), dev))
        return self

    def flatten_params(self) -> FlatBuffer:
        """This layer's parameters as views into one contiguous array (``anynet.parameter.FlatBuffer``):
        ``opt.update(buffer)`` then steps that one array, and its ``gather_grads()`` is the flat
        gradient a data-parallel run all-reduces. Only where arrays are writable (not JAX)."""
        return FlatBuffer(self.params)

    def state_dict(self) -> dict[str, Any]:
        """Parameters and buffers by name (arrays, not copies)."""
        state = {p.name: p.data for p in self.params}
        state.update({b: getattr(self, b) for b in self.buffers})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take arrays by name (shapes must match), placed on this layer's device."""
        own = self.state_dict()
        check_keys(self.name, own, state)
        for key, value in state.items():
            if tuple(value.shape) != tuple(own[key].shape):
                raise ValueError(
                    f"{self.name}: {key} has shape {tuple(own[key].shape)}, the state gives {tuple(value.shape)}"
                )
        dev = self.device
        for p in self.params:
            p.data = backend.to_device(state[p.name], dev)
            p.grad = None
        for b in self.buffers:
            setattr(self, b, backend.to_device(state[b], dev))

    @property
    def device(self) -> backend.Device:
        """Where this layer's arrays live (the current device if it has none)."""
        for p in self.params:
            return backend.device_of(p.data)
        for b in self.buffers:
            return backend.device_of(getattr(self, b))
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
        shapes = ", ".join(f"{p.name}={p.shape}" for p in self.params)
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
        raise NotImplementedError

    def backward(self, dout: Any) -> Any:
        raise NotImplementedError

    def __call__(self, x: Any, train: bool | None = None) -> Any:
        return self.forward(x, train)

    def is_training(self, train: bool | None) -> bool:
        return self.training if train is None else bool(train)

    def train(self, mode: bool = True) -> "Layer":
        """Switch to training mode (dropout on, batch statistics); returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> "Layer":
        """Switch to inference mode; returns self."""
        return self.train(False)


class Composite(Layer):
    """A layer built from named sub-layers (a Sequential, a Transformer block, an encoder-decoder).

    Subclasses register each part with ``self.add(name, layer)``; ``params`` joins
    the parts' parameters in registration order, ``train``/``eval``/``to`` reach every
    part, and ``state_dict`` keys read "name.key". ``forward``/``backward`` are the subclass's.
    """

    def __init__(self) -> None:
        super().__init__()
        self._parts: dict[str, Layer] = {}

    @property
    def parts(self) -> dict[str, Layer]:
        """The sub-layers by name, in order."""
        return self._parts

    def add(self, name: str, layer: Layer) -> Layer:
        """Register ``layer`` as the part ``name`` (also the attribute ``self.<name>``)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"{self.name}: part {name!r} is a {type(layer).__name__}, not a Layer")
        self._parts[name] = layer
        setattr(self, name, layer)
        return layer

    @property
    def params(self):
        return [p for layer in self.parts.values() for p in layer.params]

    def train(self, mode: bool = True) -> "Composite":
        super().train(mode)
        for layer in self.parts.values():
            layer.train(mode)
        return self

    def to(self, device: Any) -> "Composite":
        for layer in self.parts.values():
            layer.to(device)
        return self

    @property
    def device(self) -> backend.Device:
        for layer in self.parts.values():
            if layer.params or layer.buffers:
                return layer.device
        return super().device

    def state_dict(self) -> dict[str, Any]:
        return {f"{n}.{k}": v for n, layer in self.parts.items() for k, v in layer.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_keys(self.name, self.state_dict(), state)
        for n, layer in self.parts.items():
            prefix = f"{n}."
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if sub:
                layer.load_state_dict(sub)
