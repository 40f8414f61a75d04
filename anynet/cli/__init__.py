"""The ``anynet`` command: ``anynet train``, ``anynet evaluate CHECKPOINT`` and
``anynet export CHECKPOINT OUT.onnx`` (or ``OUT.safetensors``).

Each command turns its parsed arguments once into a frozen description (``TrainRun``,
``EvaluateRun``, ``ExportRun``) with every default resolved, from the data-set registry
(``anynet.data.DATASETS``), and runs that. The command is the one reader of the environment:
``main`` applies ``RunConfig.from_environment()`` for the duration of the command.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from typing import Any, Iterator

from .. import backend
from ..config import RunConfig, configure
from ..data import DataNotFoundError, IDXError
from ..export import ExportError
from ..training import CheckpointError, TrainingDiverged, parallel
from . import evaluate, export, train
from .build import MODELS, OPTIMIZERS, SCHEDULES, ModelSpec, build_model, build_schedule, load_data, load_model
from .evaluate import EvaluateRun
from .export import ExportRun
from .options import UsageError
from .parser import build_parser
from .train import TrainRun

__all__ = ["MODELS", "OPTIMIZERS", "SCHEDULES", "EvaluateRun", "ExportRun", "ModelSpec", "TrainRun", "UsageError",
           "build_model", "build_parser", "build_schedule", "load_data", "load_model", "main", "warnings_as_lines"]


def main(argv: list[str] | None = None) -> int:
    """Run the command; a bad request or a failed run ends in one line on stderr and a
    non-zero status (2: refused, 1: the run diverged, 130: interrupted), never a traceback.
    Under ``mpiexec``, ``train`` runs on every process; a failure on some ranks only ends the
    whole run (MPI Abort, naming the rank), as the others may be waiting for them.

    **Arguments:**

    - ``argv``: the arguments (default: ``sys.argv[1:]``).

    **Returns:** the exit status.
    """
    group = parallel.Group()
    try:
        # the one read of the environment; a block, so a caller's own settings return afterwards
        with configure(**RunConfig.from_environment().changed()):
            args = build_parser().parse_args(argv)
            if args.command is None:  # a command is required: the usage, on stderr, status 2 as argparse's errors
                build_parser().print_help(sys.stderr)
                return 2
            if args.command == "train":
                group = parallel.init()
            return _run(args, group)
    except TrainingDiverged as err:  # every rank sees the same reduced loss: all stop alike
        print(f"anynet: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if group.size > 1:  # the others may wait in an all-reduce for this rank: stop them too
            group.abort("anynet: interrupted (Ctrl-C)", 130)
        print("anynet: interrupted", file=sys.stderr)
        return 130
    except (UsageError, backend.DeviceError, DataNotFoundError, IDXError, CheckpointError, ExportError,
            ValueError, TypeError, OSError, MemoryError, ImportError) as err:
        # the first five are ValueErrors or OSErrors too; ValueError and TypeError are every refused argument;
        # ImportError: an optional package a flag needs (tensorboardX, safetensors) is missing
        if group.size > 1 and not isinstance(err, parallel.DistributedError):
            group.abort(f"anynet: {err or type(err).__name__}", 2)
        print(f"anynet: {err or type(err).__name__}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, group: parallel.Group) -> int:
    """The command ``args`` names, from its frozen description, with warnings as one line each."""
    with warnings_as_lines():
        if args.command == "train":
            return train.execute(TrainRun.from_args(args), group)
        if args.command == "evaluate":
            return evaluate.execute(EvaluateRun.from_args(args))
        return export.execute(ExportRun.from_args(args))


@contextlib.contextmanager
def warnings_as_lines() -> Iterator[None]:
    """Within the block, each warning is one line on stderr (``anynet: warning: ...``), and the
    floating-point warnings of a diverging run (overflow, invalid value, divide by zero) are
    silent: the trainer's guard reports that once, as TrainingDiverged. Other RuntimeWarnings,
    such as torch.compile's graph breaks, are shown.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        warnings.filterwarnings("ignore", r"(overflow|invalid value|divide by zero) encountered", RuntimeWarning)
        yield


def _warning_line(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"anynet: warning: {message}", file=sys.stderr)
