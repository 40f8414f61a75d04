"""Trainable parameters: an array, its gradient, and its optimizer state; a flat buffer of many."""

from __future__ import annotations

import math
from typing import Any

from .backend import device_of, namespace

__all__ = ["FlatBuffer", "Parameter"]


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
        """The shape of ``data``, as a tuple."""
        return tuple(self.data.shape)

    @property
    def dtype(self) -> Any:
        """The dtype of ``data``."""
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape}, dtype={self.dtype})"


class FlatBuffer:
    """Parameters as views into one contiguous 1-D array, for one-array updates and all-reduces.

    ``FlatBuffer(params)`` copies the parameters' values into ``data`` (P,) and rebinds each
    ``p.data`` to a view of it, so an operation on ``data`` (an optimizer step, a broadcast
    from rank 0) changes every parameter at once. ``gather_grads()`` lays the gradients end to
    end in ``grad`` (P,), the array a data-parallel run all-reduces once per step; ``state(key)``
    keeps optimizer state the same way, each ``p.state[key]`` a view of it. Only for arrays that
    can be written in place (``Device.writable``; not JAX): see ``FlatBuffer.supports``.

    Whoever assigns ``p.data`` anew (``load_state_dict``, ``to``) unbinds it: ``bound()`` says
    whether every parameter still views this buffer. Like PyTorch's ``state_dict()``, a bound
    model's ``state_dict()`` arrays change with each update; copy them to keep a snapshot.
    """

    def __init__(self, params: Any):
        self.params = list(params)
        if not self.supports(self.params):
            raise ValueError("FlatBuffer: needs at least one parameter, all of one dtype on one device "
                             "whose arrays can be written in place (not JAX)")
        self.xp = xp = namespace(*(p.data for p in self.params), where="FlatBuffer")
        self.shapes = [p.shape for p in self.params]
        self.offsets = [0]
        for shape in self.shapes:
            self.offsets.append(self.offsets[-1] + math.prod(shape))
        self.data = xp.concat([xp.reshape(p.data, (-1,)) for p in self.params])
        self._views = self.views(self.data)
        for p, view in zip(self.params, self._views):
            p.data = view
        self.grad: Any = None
        self._grad_views: list[Any] | None = None
        self._state: dict[str, tuple[Any, list[Any]]] = {}
        self._scratch: list[Any] = []

    @staticmethod
    def supports(params: list[Parameter]) -> bool:
        """Whether ``params`` can share one buffer: some, all of one dtype on one writable device."""
        if not params:
            return False
        dev, dtype = device_of(params[0].data), params[0].dtype
        return dev.writable and all(p.dtype == dtype and device_of(p.data) == dev for p in params)

    @property
    def size(self) -> int:
        """Number of elements, P."""
        return self.offsets[-1]

    def views(self, flat: Any) -> list[Any]:
        """Each parameter's part of a flat (P,) array, in its shape (views, not copies)."""
        xp, o = self.xp, self.offsets
        return [xp.reshape(flat[o[i]:o[i + 1]], shape) for i, shape in enumerate(self.shapes)]

    def bound(self) -> bool:
        """Whether every parameter's data is still its view of ``data``."""
        return all(p.data is view for p, view in zip(self.params, self._views))

    def gather_grads(self, grads: list[Any] | None = None) -> Any:
        """The gradients (default: each ``p.grad``) written end to end into ``grad`` (P,), the
        same array every step (no allocation), and returned."""
        grads = [p.grad for p in self.params] if grads is None else grads
        xp, o = self.xp, self.offsets
        if self.grad is None:
            self.grad = xp.zeros_like(self.data)
        own = self._grad_views or ()
        for i, g in enumerate(grads):
            if i < len(own) and g is own[i]:
                continue  # already there (a data-parallel all-reduce left it in place)
            self.grad[o[i]:o[i + 1]] = xp.reshape(g, (-1,))
        return self.grad

    def grad_views(self) -> list[Any]:
        """Each parameter's part of ``grad`` in its shape, made once (views, not copies)."""
        if self.grad is None:
            self.grad = self.xp.zeros_like(self.data)
        if self._grad_views is None:
            self._grad_views = self.views(self.grad)
        return self._grad_views

    def scratch(self, i: int) -> Any:
        """Work array number ``i`` (P,), kept between steps so that in-place updates allocate nothing."""
        while len(self._scratch) <= i:
            self._scratch.append(self.xp.zeros_like(self.data))
        return self._scratch[i]

    def state(self, key: str) -> Any:
        """The flat (P,) optimizer state ``key``, each ``p.state[key]`` a view of it; gathered from
        the parameters' own arrays (zeros where they have none) when they are not its views."""
        flat, views = self._state.get(key, (None, None))
        if flat is None or any(p.state.get(key) is not v for p, v in zip(self.params, views)):
            xp = self.xp
            parts = [p.state[key] if key in p.state else xp.zeros_like(p.data) for p in self.params]
            flat = xp.concat([xp.reshape(a, (-1,)) for a in parts])
            views = self.views(flat)
            for p, view in zip(self.params, views):
                p.state[key] = view
            self._state[key] = (flat, views)
        return flat

    def __iter__(self):
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"FlatBuffer({len(self.params)} parameters, {self.size} elements)"
