"""Sequential: layers applied in order, backward in reverse."""

from __future__ import annotations

from typing import Any, Iterator

from .backend import following, namespace
from .layers.base import Layer, check_keys
from .layers.recurrent import Cell
from .validation import check_finite, inside_network, values_checked

__all__ = ["Sequential"]


class Sequential(Layer):
    """Layers applied in order; ``params`` concatenates theirs in layer order.

    ``forward(x, train=None)`` passes ``train`` to every layer (None: each
    layer's own mode, set for all by ``train()`` / ``eval()``).
    """

    def __init__(self, *layers: Layer):
        super().__init__()
        for i, layer in enumerate(layers):
            if isinstance(layer, Cell):
                raise TypeError(f"{layer.name}: a cell takes its state, forward(x, h_prev[, c_prev]); "
                                f"in a Sequential over (N, T, D) use Time{layer.name}")
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a Layer")
        self.layers = list(layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    @property
    def params(self):
        return [p for layer in self.layers for p in layer.params]

    @property
    def input_ids(self):
        return self.layers[0].input_ids if self.layers else None

    def train(self, mode: bool = True) -> "Sequential":
        super().train(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def to(self, device: Any) -> "Sequential":
        for layer in self.layers:
            layer.to(device)
        return self

    @property
    def device(self):
        for layer in self.layers:
            if layer.params or layer.buffers:
                return layer.device
        return super().device

    def state_dict(self) -> dict[str, Any]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_keys(self.name, self.state_dict(), state)
        for i, layer in enumerate(self.layers):
            prefix = f"{i}."
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if sub:
                layer.load_state_dict(sub)

    def forward(self, x, train=None):
        xp = namespace(x, where=self.name)
        if values_checked(xp):
            check_finite(self.name, x, xp)  # once here, where the data enters
        with following(x), inside_network():  # on the inputs' device (CuPy: its GPU)
            for layer in self.layers:
                x = layer.forward(x, train)
        return x

    def backward(self, dout):
        with following(dout):
            for layer in reversed(self.layers):
                dout = layer.backward(dout)
        return dout

    def predict(self, x: Any) -> Any:
        """Forward in inference mode (no dropout, running statistics)."""
        return self.forward(x, train=False)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"{self.name}(\n{inner}\n)"
