"""The processes of one run and the collective operations training needs (``Group``)."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import traceback
from array import array
from typing import Any, Callable, Iterator, Sequence

from ... import backend

__all__ = ["DistributedError", "Group", "by_dtype", "count", "split"]


class DistributedError(ValueError):
    """The processes of a run disagree (models, data) or MPI is missing; raised on every rank alike."""


class Group:
    """The processes of one run: ``rank``, ``size``, ``local_rank`` (its number on its machine)
    and the collective operations the trainer needs. ``Group()`` is a run of one process."""

    def __init__(self, comm: Any = None):
        self.comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        self.local_rank = 0
        if comm is not None and self.size > 1:
            from mpi4py import MPI

            # the processes sharing this machine's memory; number them to pick a GPU each
            local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
            self.local_rank = local.Get_rank()
            local.Free()
        self._collectives: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"Group(rank={self.rank}, size={self.size}, local_rank={self.local_rank})"

    @property
    def is_root(self) -> bool:
        """Rank 0: the process that prints and writes files."""
        return self.rank == 0

    def device(self, spec: Any = "cpu") -> backend.Device:
        """This process's device: a GPU named without a number is GPU ``local_rank``."""
        return backend.local_device(spec, self.local_rank)

    # -- Python objects (small: start-up checks, RNG states, ids) -----------------------

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        return obj if self.size == 1 else self.comm.bcast(obj, root=0)

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        return [obj] if self.size == 1 else self.comm.allgather(obj)

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums of ``values`` over the ranks, in one message (epoch metrics)."""
        buf = array("d", values)
        if self.size > 1:
            from mpi4py import MPI

            self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        return list(buf)

    # -- arrays ------------------------------------------------------------------------------

    def _collective(self, dev: backend.Device) -> Any:
        if dev not in self._collectives:
            self._collectives[dev] = dev.comm.collective(self.size, self.rank, self.share)
        return self._collectives[dev]

    def allreduce_sum(self, x: Any) -> Any:
        """The sum over the ranks of ``x`` (a contiguous 1-D array), on ``x``'s device: in place
        where the library allows (NCCL on GPUs, NumPy and PyTorch CPU memory), else a new array."""
        from mpi4py import MPI

        return self._exchange(x, "allreduce_sum", lambda buf: self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM))

    def broadcast(self, x: Any) -> Any:
        """Rank 0's ``x`` (a contiguous 1-D array) on every rank, on ``x``'s device."""
        return self._exchange(x, "broadcast", lambda buf: self.comm.Bcast(buf, root=0))

    def _exchange(self, x: Any, nccl_op: str, mpi_op: Any) -> Any:
        """One collective on ``x``: through NCCL where the device has it, else MPI on a host buffer."""
        if self.size == 1:
            return x
        dev = backend.device_of(x)
        nccl = self._collective(dev)
        if nccl is not None:
            return getattr(nccl, nccl_op)(x)
        buf, own = dev.comm.host_buffer(x)
        mpi_op(buf)
        return x if own or (nccl_op == "broadcast" and self.is_root) else dev.comm.from_host(buf)

    # -- models --------------------------------------------------------------------------------

    def check_same(self, model: Any, **facts: Any) -> None:
        """Refuse to start unless every rank's model has the same parameter and buffer names,
        shapes and dtypes, and the same ``facts`` (data sizes, batch size); on every rank alike."""
        mine = {"model": [(k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items()], **facts}
        everyone = self.gather(mine)
        for rank, theirs in enumerate(everyone):
            if theirs == everyone[0]:
                continue
            for key in everyone[0]:
                if theirs.get(key) != everyone[0][key]:
                    raise DistributedError(f"rank {rank} of {self.size} differs from rank 0 in {key}: "
                                           f"{_first_difference(theirs.get(key), everyone[0][key])}; "
                                           "every process must build the same model from the same data")
        return None

    def check_devices(self, dev: backend.Device) -> None:
        """Refuse two processes of one machine on one GPU (NCCL needs a GPU per process); on every
        rank alike."""
        where = (socket.gethostname(), dev.memory) if dev.memory is not None and dev.memory[0] == "cuda" else None
        everyone = self.gather(where)
        for rank, place in enumerate(everyone):
            other = everyone.index(place)
            if place is not None and other != rank:
                raise DistributedError(f"ranks {other} and {rank} both use {dev.memory[0]} device {place[1][1]} on "
                                       f"{place[0]}; name the GPU without a number ('cuda', 'torch:cuda') so that "
                                       "each process takes the GPU of its local rank (Group.device)")

    def broadcast_model(self, model: Any) -> None:
        """Copy rank 0's parameters and buffers to every rank, one message per dtype."""
        if self.size == 1:
            return
        state = model.state_dict()
        values = self._flat_call(list(state.values()), self.broadcast)
        if not self.is_root:
            model.load_state_dict(dict(zip(state, values)))

    def average_buffers(self, model: Any) -> None:
        """Replace each floating buffer (BatchNorm's running statistics) by its mean over the ranks,
        so that evaluation and checkpoints see the same model on every rank."""
        if self.size == 1:
            return
        slots = [(layer, name) for layer in model.modules() for name in layer.buffers]
        slots = [(layer, name) for layer, name in slots
                 if backend.namespace(getattr(layer, name)).isdtype(getattr(layer, name).dtype, "real floating")]
        summed = self._flat_call([getattr(layer, name) for layer, name in slots], self.allreduce_sum)
        for (layer, name), value in zip(slots, summed):
            setattr(layer, name, value / self.size)

    def _flat_call(self, arrays: list[Any], op: Callable[[Any], Any]) -> list[Any]:
        """``op`` applied to the arrays laid end to end in one flat buffer per dtype; the pieces back."""
        out: list[Any] = [None] * len(arrays)
        for index in by_dtype(arrays):
            parts = [arrays[i] for i in index]
            xp = backend.namespace(*parts)
            flat = op(xp.concat([xp.reshape(a, (-1,)) for a in parts]))
            for i, piece in zip(index, split(xp, flat, parts)):
                out[i] = piece
        return out

    # -- faults ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def guard(self, collective: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
        """Within the block, an exception on one rank stops every rank: it is reported with the
        rank's number and MPI aborts the run (the others may be waiting in an all-reduce).
        ``collective`` exceptions happen on every rank alike and pass through."""
        try:
            yield
        except (DistributedError, *collective):
            raise
        except BaseException:
            if self.size == 1:
                raise
            self.abort(traceback.format_exc())
            raise  # not reached: abort ends this process

    def abort(self, why: str, status: int = 1) -> None:
        """Report ``why`` naming this rank on stderr, then end every process of the run."""
        sys.stderr.write(f"anynet: rank {self.rank} of {self.size} failed; stopping every rank\n{why}\n")
        sys.stderr.flush()
        try:
            self.comm.Abort(status)
        finally:  # an MPI whose Abort returns (the launcher ends the others): this rank ends here
            os._exit(status)


def by_dtype(arrays: Sequence[Any]) -> list[list[int]]:
    """The positions of the arrays of each dtype (one flat buffer each; usually one)."""
    groups: dict[Any, list[int]] = {}
    for i, a in enumerate(arrays):
        groups.setdefault(a.dtype, []).append(i)  # the dtype object: its str() costs more than the copy
    return list(groups.values())


def split(xp: Any, flat: Any, like: Sequence[Any]) -> list[Any]:
    """``flat`` cut back into arrays of the shapes of ``like`` (views where the library allows)."""
    pieces, start = [], 0
    for a in like:
        n = count(a)
        pieces.append(xp.reshape(flat[start:start + n], tuple(a.shape)))
        start += n
    return pieces


def _first_difference(theirs: Any, ours: Any) -> str:
    if isinstance(theirs, list) and isinstance(ours, list):
        for a, b in zip(theirs, ours):
            if a != b:
                return f"{a} where rank 0 has {b}"
        return f"{len(theirs)} entries where rank 0 has {len(ours)}"
    return f"{theirs!r} where rank 0 has {ours!r}"


def count(a: Any) -> int:
    """The number of elements of the array ``a`` (the product of its shape)."""
    n = 1
    for d in a.shape:
        n *= d
    return n


