"""Data parallelism over processes: MPI (mpi4py) between processes on one or many machines,
NCCL (through CuPy) between GPUs, one process per GPU, as ChainerMN.

    mpiexec -n 4 python train.py                 # every process runs the same script
    group = anynet.parallel.init()               # rank, size, local_rank; size 1 without mpiexec
    trainer = anynet.Trainer(model, loss, opt, group=group)

The trainer then runs the step with a ``DataParallel`` plug-in: it broadcasts parameters and
buffers from rank 0, gives each rank a disjoint shard of the same seeded permutation, averages
gradients in one all-reduce per step (before the optimizer's hooks), reduces epoch metrics once
per epoch, and only rank 0 prints and writes files. Arrays travel as host buffers (no copy for
NumPy and PyTorch CPU; the ``Device`` says how) or, for CuPy, through NCCL on the GPU. A rank
that raises stops every rank (MPI Abort) after naming itself, so nothing waits forever.
"""

from .allreduce import GradientAllReduce
from .batchnorm import SyncBatchNorm, synchronize_batchnorm
from .data_parallel import DataParallel
from .group import DistributedError, Group
from .launch import find_mpiexec, init, launched

__all__ = ["DataParallel", "DistributedError", "GradientAllReduce", "Group", "SyncBatchNorm", "find_mpiexec", "init",
           "launched", "synchronize_batchnorm"]
