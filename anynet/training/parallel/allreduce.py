"""The gradient all-reduce of data parallelism."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ... import backend
from .group import Group, by_dtype, count, split

__all__ = ["GradientAllReduce"]


class GradientAllReduce:
    """The gradient transform ``(params, grads) -> grads`` of data parallelism: each rank's
    gradients, weighted by its share of the global batch, laid into one flat buffer (one per
    dtype) and summed over the ranks in one all-reduce, so that every rank holds the gradient of
    the mean loss over the global batch. ``weight``: this rank's share (its batch size over the
    global batch size), None for equal shares (1 / size), 1.0 for gradients that come weighted
    already (the trainer seeds backward with the share: no pass over the buffer for it).
    ``flat_buffer``: the optimizer's ``flat_buffer`` method, where its flat gradient buffer is the
    one to all-reduce (it then finds the summed gradients in place), or None.

    On libraries with writable arrays the buffer is kept from step to step and the returned
    gradients are views into it: they hold until the next call (as the optimizer needs them)."""

    def __init__(self, group: Group, weight: float | None = None,
                 flat_buffer: Callable[[Sequence[Any]], Any] | None = None):
        self.group = group
        self.weight = weight
        self.flat_buffer = flat_buffer
        self._buffers: dict[Any, Any] = {}

    def __call__(self, params: Sequence[Any], grads: list[Any]) -> list[Any]:
        if self.group.size == 1 or not grads:
            return grads
        weight = 1.0 / self.group.size if self.weight is None else float(self.weight)
        shared = self.flat_buffer(params) if self.flat_buffer is not None and len(params) == len(grads) else None
        if shared is not None:  # the optimizer's own flat gradient: gathered once, summed in place
            flat = shared.gather_grads(grads)
            if weight != 1.0:
                flat *= weight
            summed = self.group.allreduce_sum(flat)
            return shared.grad_views() if summed is flat else shared.views(summed)
        out: list[Any] = [None] * len(grads)
        for index in by_dtype(grads):
            parts = [grads[i] for i in index]
            xp, buf, views = self._layout(parts)
            if buf is None:  # immutable arrays (JAX): a new flat array each step
                flat = xp.concat([xp.reshape(g, (-1,)) for g in parts])
                flat = flat * weight if weight != 1.0 else flat
            else:
                for view, g in zip(views, parts):
                    view[...] = g  # into the kept buffer, through its views: one copy, no reshapes
                if weight != 1.0:
                    buf *= weight
                flat = buf
            flat = self.group.allreduce_sum(flat)
            pieces = views if flat is buf else split(xp, flat, parts)
            for i, piece in zip(index, pieces):
                out[i] = piece
        return out

    def _layout(self, parts: list[Any]) -> tuple[Any, Any, list[Any]]:
        """(namespace, kept flat buffer, its views shaped as ``parts``) for gradients of these
        shapes and dtype, made once; (namespace, None, []) for immutable arrays."""
        key = (type(parts[0]), parts[0].dtype, tuple(tuple(g.shape) for g in parts))
        found = self._buffers.get(key)
        if found is None:
            xp, dev = backend.namespace(*parts), backend.device_of(parts[0])
            if dev.writable:
                buf = dev.zeros((sum(count(g) for g in parts),), parts[0].dtype)
                found = (xp, buf, split(xp, buf, parts))
            else:
                found = (xp, None, [])
            self._buffers[key] = found
        return found


