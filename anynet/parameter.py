"""Trainable parameters: an array, its gradient, and its optimizer state."""

from __future__ import annotations

from typing import Any

__all__ = ["Parameter"]


class Parameter:
    """A trainable array with its gradient.

    Layers read ``p.data`` at every call and never cache it; backward assigns
    ``p.grad`` (it does not accumulate); optimizers assign ``p.data = ...``
    (never write into it), which also works on immutable arrays (JAX).
    ``p.state`` holds the optimizer's per-parameter arrays (velocity, moments)
    so that moving a model moves them too.
    """

    __slots__ = ("data", "grad", "name", "state")

    def __init__(self, data: Any, name: str = ""):
        self.data = data
        self.grad: Any = None
        self.name = name
        self.state: dict[str, Any] = {}

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape}, dtype={self.dtype})"
