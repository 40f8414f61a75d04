"""Sequential: layers applied in order, backward in reverse."""

from __future__ import annotations

from typing import Any, Iterator

from ..backend import following, namespace
from ..validation import check_finite, inside_network, values_checked
from .base import Composite, Layer
from .recurrent import Cell

__all__ = ["Sequential"]


class Sequential(Composite):
    """Layers applied in order; ``params`` concatenates theirs in layer order, ``state_dict``
    keys read "index.key".

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
    def input_ids(self):
        return self.layers[0].input_ids if self.layers else None

    @property
    def parts(self) -> dict[str, Layer]:
        """The layers by position ("0", "1", ...): the names their state_dict keys start with."""
        return {str(i): layer for i, layer in enumerate(self.layers)}

    def _part_list(self) -> list[Layer]:
        return self.layers

    def replace_part(self, name: str, new: Layer) -> None:
        if name not in self.parts:
            raise KeyError(f"{self.name}: no part {name!r}; the parts are {list(self.parts)}")
        self.layers[int(name)] = new

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
