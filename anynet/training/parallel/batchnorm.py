"""Synchronised BatchNorm: batch statistics over every process's batch."""

from __future__ import annotations

from typing import Any

from ... import backend
from ...layers import BatchNorm
from .group import Group

__all__ = ["SyncBatchNorm", "synchronize_batchnorm"]


class SyncBatchNorm(BatchNorm):
    """A ``BatchNorm`` whose batch statistics, and their gradients, are those of the global batch:
    the per-feature sums are all-reduced over ``group`` with the element count in the same
    message (one message in forward, one in backward). Build it from a BatchNorm with
    ``SyncBatchNorm.of(bn, group)`` (the same parameters and running statistics)."""

    group: Group

    @classmethod
    def of(cls, bn: BatchNorm, group: Group) -> SyncBatchNorm:
        """``bn`` synchronised over ``group``: a new layer sharing its parameters and buffers."""
        sync = cls.__new__(cls)
        sync.__dict__.update(bn.__dict__)
        sync.group = group
        return sync

    def _mean(self, xp, a, axes, bshape):
        n = 1
        for axis in axes:
            n *= a.shape[axis]
        return xp.reshape(self._means_of_sums(xp, xp.sum(a, axis=axes), n), bshape)

    def _means_of_sums(self, xp, sums, n):
        count = xp.full((1,), float(n), dtype=sums.dtype, device=backend.device_of(sums).device)
        total = self.group.allreduce_sum(xp.concat([sums, count]))
        return total[:-1] / total[-1:]


def synchronize_batchnorm(model: Any, group: Group) -> int:
    """Make every BatchNorm inside ``model`` normalise with statistics over the global batch
    (``SyncBatchNorm``, in its place; the same parameters) instead of its own rank's batch, or
    back with a group of one; returns how many."""
    replaced = 0
    for holder in list(model.modules()):
        for name, part in holder.parts.items():
            if isinstance(part, BatchNorm):
                plain = BatchNorm.__new__(BatchNorm)
                plain.__dict__.update({k: v for k, v in part.__dict__.items() if k != "group"})
                holder.replace_part(name, plain if group.size == 1 else SyncBatchNorm.of(plain, group))
                replaced += 1
    return replaced
