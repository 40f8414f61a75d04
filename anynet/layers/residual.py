"""Residual connections: y = act(f(x) + shortcut(x)), the building block of ResNets."""

from __future__ import annotations

from typing import Any, Callable

from ..backend import namespace
from .base import Composite, Layer

__all__ = ["Residual"]


class Residual(Composite):
    """A residual connection around ``body``: y = act(body(x) + shortcut(x)); shapes as the body's.

    ``shortcut`` None is the identity (the body must keep x's shape); otherwise a layer that maps
    x to the body's output shape (in a ResNet, a 1x1 Conv with stride and a BatchNorm where the
    channels or the map size change). ``activation`` (a layer, e.g. ``ReLU()``) is applied to the
    sum; None: none. Backward splits the gradient of the sum between the two branches and adds
    their input gradients. Parameters in order: the body's, the shortcut's, the activation's;
    ``state_dict`` keys read "body.*", "shortcut.*".
    He et al., https://arxiv.org/abs/1512.03385

    **Arguments:**

    - ``body``: the residual branch f (a Layer, usually a Sequential).
    - ``shortcut``: the other branch (a Layer), or None for the identity.
    - ``activation``: a Layer applied to the sum, or None.

    **Returns:** (forward) an array of the body's output shape.
    """

    def __init__(self, body: Layer, shortcut: Layer | None = None, activation: Layer | None = None):
        super().__init__()
        for what, layer in (("body", body), ("shortcut", shortcut), ("activation", activation)):
            if not (isinstance(layer, Layer) or (layer is None and what != "body")):
                raise TypeError(f"Residual: {what} must be a Layer{'' if what == 'body' else ' or None'}, "
                                f"got {type(layer).__name__}")
        self.add("body", body)
        self.shortcut = self.activation = None
        if shortcut is not None:
            self.add("shortcut", shortcut)
        if activation is not None:
            self.add("activation", activation)
        self.x_shape = self.out_shape = None

    @property
    def input_ids(self):
        return self.body.input_ids

    def forward(self, x, train=None):
        return self.forward_with(x, lambda part, v: part.forward(v, train))

    def forward_with(self, x: Any, run: Callable[[Layer, Any], Any]) -> Any:
        """``forward`` with each part computed by ``run(part, input)``: the exporter emits the parts'
        ONNX operators this way; ``forward`` runs ``part.forward(input, train)``.

        **Arguments:** ``x``, the input; ``run``, what computes a part on its input.

        **Returns:** act(run(body, x) + run(shortcut, x)), as ``forward``.
        """
        namespace(x, where=self.name)
        # references only (no copies): put back if the branches disagree, so a refused call changes
        # nothing (BatchNorm's running statistics, the caches of backward)
        saved = [(m, m.snapshot()) for m in self.modules()]
        fx = run(self.body, x)
        sx = x if self.shortcut is None else run(self.shortcut, x)
        if tuple(fx.shape) != tuple(sx.shape):
            for m, state in saved:
                m.restore(state)
            side = "the identity" if self.shortcut is None else "the shortcut"
            raise ValueError(f"{self.name}: the body maps x of shape {tuple(x.shape)} to {tuple(fx.shape)} and "
                             f"{side} to {tuple(sx.shape)}; give a shortcut that maps x to the body's shape")
        self.x_shape, self.out_shape = tuple(x.shape), tuple(fx.shape)
        y = fx + sx
        return y if self.activation is None else run(self.activation, y)

    def backward(self, dout):
        self._check_dout(dout, self._need("out_shape"))
        dy = dout if self.activation is None else self.activation.backward(dout)
        dx = self.body.backward(dy)
        ds = dy if self.shortcut is None else self.shortcut.backward(dy)
        if dx is None or ds is None:  # a branch skips its input gradient (a first Conv): no whole one exists
            return None
        return dx + ds

    def __repr__(self) -> str:
        shortcut = "identity" if self.shortcut is None else repr(self.shortcut)
        inner = "\n".join("  " + line for line in repr(self.body).splitlines())
        act = "" if self.activation is None else f", then {self.activation!r}"
        return f"{self.name}(\n{inner}\n  + {shortcut}{act}\n)"
