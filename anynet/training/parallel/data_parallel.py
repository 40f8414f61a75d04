"""Data-parallel training as a plug-in of the training step (``DataParallel``)."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

from ... import backend
from ...parameter import Parameter
from ..plugin import StepPlugin
from .allreduce import GradientAllReduce
from .group import Group

__all__ = ["DataParallel"]


def _settings(obj: Any, depth: int = 0) -> Any:
    """The settings of ``obj`` as plain data: its class and the numbers, strings and flags it
    holds (a schedule's and the hooks' too), the running counts left out."""
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    if isinstance(obj, (list, tuple)) and depth < 3:
        return [_settings(item, depth + 1) for item in obj]
    fields = vars(obj) if hasattr(obj, "__dict__") and depth < 3 else {}
    kept = {k: _settings(v, depth + 1) for k, v in sorted(fields.items())
            if not k.startswith("_") and k != "iterations"
            and (isinstance(v, (bool, int, float, str, list, tuple)) or callable(v))}
    return {"class": type(obj).__name__, **kept}


class DataParallel(StepPlugin):
    """Data parallelism over ``group``'s processes: it owns the start-up (every rank checks that
    the others hold the same model, data and settings, takes rank 0's parameters, one shuffle
    seed and a random stream of its own), each rank's shard of the data (``shard``,
    ``shuffle_seed``), the gradient all-reduce (``transform``: every rank's gradients come
    weighted by its share of the global batch, which the batches carry), and the running
    statistics averaged at each epoch's end. With a group of one, every method does nothing.

    ``flat_buffer``: the optimizer's ``flat_buffer`` method where its flat gradient buffer is the
    one to all-reduce (then the optimizer finds the summed gradients in place), else None.
    """

    def __init__(self, group: Group, flat_buffer: Any = None):
        self.group = group
        self.allreduce = GradientAllReduce(group, weight=1.0, flat_buffer=flat_buffer)
        self.shuffle_seed: int | None = None  # the permutation seed every rank shares
        self.rank_rng: list[Any] | None = None  # every rank's random state at the last epoch's end

    @property
    def active(self) -> bool:
        """Whether there are several processes (else the plug-in stays out of the step)."""
        return self.group.size > 1

    @property
    def shard(self) -> tuple[int, int] | None:
        """(rank, size) of this process's shard of every batch, None for a group of one."""
        return (self.group.rank, self.group.size) if self.active else None

    def transform(self, params: Sequence[Parameter], grads: list[Any]) -> list[Any]:
        """The gradients summed over the ranks (each weighted by its share already)."""
        return self.allreduce(params, grads)

    def start(self, model: Any, resumed: bool, **facts: Any) -> None:
        """The start-up every rank runs alike before training: the same model and ``facts`` (data
        sizes, batch size, optimizer) everywhere, one GPU per process, rank 0's parameters, one
        shuffle seed, and (not when resuming) a random stream per rank."""
        if not self.active:
            return
        group = self.group
        group.check_same(model, **facts)
        group.check_devices(model.device)
        group.broadcast_model(model)
        if self.shuffle_seed is None:
            self.shuffle_seed = group.share(int(backend.host_rng().integers(2**62)))
        if not resumed:
            backend.seed_process(group.rank)

    def settings(self, optimizer: Any) -> dict[str, Any]:
        """What must agree across ranks of an optimizer: its class and settings (learning rate
        or schedule, betas, momentum, hooks), compared at start-up (not its running scalars)."""
        found = _settings(optimizer)
        for name in optimizer.scalars:
            found.pop(name, None)
        return found

    def epoch_end(self, model: Any) -> None:
        """Running statistics averaged over the ranks; every rank's random state gathered (for a
        checkpoint that continues each rank's streams)."""
        if self.active:
            self.group.average_buffers(model)
            self.rank_rng = self.group.gather(backend.rng_state())

    def sums(self, values: list[float]) -> list[float]:
        """Epoch sums (loss, hits) over every rank, in one message."""
        return self.group.sum_floats(values)

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of it (nothing for a group of one)."""
        return {"shuffle_seed": self.shuffle_seed, "rank_rng": self.rank_rng} if self.active else {}

    def load(self, state: dict[str, Any], path: Any) -> None:
        """Take the shuffle seed and this rank's random streams from a checkpoint's trainer state;
        a warning when the checkpoint was written by another number of processes."""
        self.shuffle_seed = state.get("shuffle_seed")
        ranks = state.get("rank_rng")
        written_by = len(ranks) if ranks else 1
        if self.active and written_by == self.group.size:
            backend.set_rng_state(ranks[self.group.rank])  # each rank continues its own streams
        elif written_by != self.group.size and self.group.is_root:  # said once, by the rank that prints
            warnings.warn(f"Trainer.load: {path} was written by {written_by} process(es), this run has "
                          f"{self.group.size}; the data order and random draws will not continue exactly",
                          stacklevel=3)
