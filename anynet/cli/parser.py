"""The ``anynet`` command's argument parser: its sub-commands, flags and help texts. The defaults
the help states come from the data-set registry, so they cannot drift from the ones a run uses."""

from __future__ import annotations

import argparse
import os
import textwrap
from typing import Any

from ..data import DATASETS
from .build import MODELS, OPTIMIZERS, SCHEDULES
from .options import UsageError

__all__ = ["ENVIRONMENT", "build_parser"]

ENVIRONMENT = "\n".join((
    "Environment (read once, when the command starts; a malformed value is refused, with status 2):",
    "  ANYNET_DATA: a folder searched first for the data sets' files (ANYNET_DATA/NAME, then ANYNET_DATA)",
    "  XDG_CACHE_HOME: downloaded data sets go to XDG_CACHE_HOME/anynet (default: ~/.cache/anynet)",
    "  ANYNET_CPU_WORKERS=N: the threads that a convolution's batch chunks run on, on the CPU (default: "
    "every core where BLAS runs one thread, else 1)",
    "  ANYNET_KEEP_FREED_MEMORY=0: leave glibc's allocator settings alone (default 1: freed step-sized arrays "
    "are reused, not faulted in again)",
    "  ANYNET_MPIEXEC: the MPI launcher to use (default: the one the mpich wheel installed)",
))
"""The environment variables the command reads, as ``anynet --help`` lists them."""

_MPI = (
    "Several processes: 'mpiexec -n 4 anynet train ...' (pip install 'anynet[mpi]') trains on 4 processes "
    "with no other flag: each takes a disjoint shard of every epoch, --batch-size is per process (global "
    "batch = batch size x processes; raise --lr with it), gradients are averaged every step, rank 0 prints "
    "and writes the files. With --device cuda each process takes the GPU of its rank on its machine "
    "(gradients through NCCL). Across machines: 'mpiexec -hosts a,b -n 8 anynet train ...'."
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as a UsageError: one line, no usage block."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog.split()[-1]}: {message}")


class _Paragraphs(argparse.HelpFormatter):
    """Wraps each line of a description or epilog on its own (argparse joins them); a line that
    starts with two spaces is a list item, wrapped with a hanging indent."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.split("\n"):
            item = line.startswith("  ")
            lines.append(textwrap.fill(line.strip(), width, initial_indent=indent + "  " * item,
                                       subsequent_indent=indent + "    " * item) if line else "")
        return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``anynet train``, ``anynet evaluate`` and ``anynet export``.

    **Returns:** an ArgumentParser whose ``error`` raises ``UsageError``.
    """
    parser = _Parser(prog="anynet", description="Deep learning from scratch, on any array library.",
                     epilog=ENVIRONMENT, formatter_class=_Paragraphs)
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="train a network (default: an MLP on the spiral set, on the CPU)",
                           epilog=f"{_MPI}\n\n{ENVIRONMENT}", formatter_class=_Paragraphs)
    _model_flags(train)
    _run_flags(train)
    ev = sub.add_parser("evaluate", help="test accuracy of a checkpoint written by 'anynet train'",
                        epilog=ENVIRONMENT, formatter_class=_Paragraphs)
    ev.add_argument("checkpoint")
    ev.add_argument("--data", type=_data_name, help="default: the data set it was trained on")
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--data-dir")
    ev.add_argument("--no-download", action="store_true")
    ev.add_argument("--tta", metavar="LIST", help=_TTA)
    ex = sub.add_parser("export", help="write a checkpoint of 'anynet train' as an ONNX file (needs anynet[onnx]) "
                        "or, to OUT.safetensors, its weights (needs anynet[safetensors])",
                        epilog=ENVIRONMENT, formatter_class=_Paragraphs)
    ex.add_argument("checkpoint")
    ex.add_argument("out", help="the .onnx file to write, or a .safetensors file of the weights")
    ex.add_argument("--input-shape", help="one example's shape, e.g. 1,28,28 (default: the training data's)")
    ex.add_argument("--batch", type=int, help="a fixed batch size (default: any, a symbolic batch axis)")
    ex.add_argument("--traced", action="store_true",
                    help="trace every layer's primitives instead of emitting whole ONNX operators (the reference)")
    return parser


def _model_flags(train: argparse.ArgumentParser) -> None:
    """What ``anynet train`` builds: the data, the model and the optimizer."""
    train.add_argument("--model", default="mlp", choices=list(MODELS))
    train.add_argument("--data", default="spiral", type=_data_name,
                       help=f"{', '.join(DATASETS)}, or a folder: shards of anynet.data.write_shards or images in "
                       "one folder per class (whole, or in train/ and test/ sub-folders)")
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, torch:cpu, jax:cpu, ...")
    train.add_argument("--epochs", type=int, help=f"default: {_per_data('epochs')}")
    train.add_argument("--batch-size", type=int, help=f"0 for full-batch; default: {_per_data('batch_size')}")
    train.add_argument("--optimizer", default="sgd", type=_optimizer_name, help=", ".join(OPTIMIZERS))
    train.add_argument("--lr", type=float, help=f"default: {_per_data('lr')} (the peak with onecycle)")
    train.add_argument("--schedule", default="constant", choices=SCHEDULES,
                       help="the learning rate over the run: held, cosine decay, one cycle, or halved "
                       "after two epochs without a better validation loss")
    train.add_argument("--augment", nargs="?", const="auto", metavar="LIST",
                       help="augment the training batches: alone, as suits the data (shifts; flips for "
                       "fashion-mnist), or a comma-separated list of shift, flip, erase")
    train.add_argument("--batchnorm", action="store_true", help="BatchNorm in the model (mlp, deep-convnet, vgg)")
    train.add_argument("--dropout", type=float, help="dropout rate of the model's head, in [0, 1) "
                       "(deep-convnet, alexnet, vgg; default: the model's)")
    train.add_argument("--width", type=int, help="channels of the first stage (resnet8, resnet10, resnet14, resnet20, "
                       "resnet18; default: the model's)")
    train.add_argument("--weight-decay", type=float, help="the optimizer's weight decay (adamw's decoupled one, "
                       "and the others that take one; default: the optimizer's)")
    train.add_argument("--label-smoothing", type=float, default=0.0, help="of the softmax cross-entropy, in [0, 1)")
    train.add_argument("--hidden", type=int, default=None, help=f"MLP hidden width (default: {_per_data('hidden')})")
    train.add_argument("--layers", type=int, default=None,
                       help=f"MLP hidden layers (default: {_per_data('layers')})")
    train.add_argument("--precision", default="float32", choices=["float32", "float64", "float16", "bfloat16"],
                       help="float32 (default), float64, or mixed precision: float16 (with dynamic loss "
                            "scaling) or bfloat16, with float32 master weights")


def _run_flags(train: argparse.ArgumentParser) -> None:
    """How ``anynet train`` runs: the data it takes, its seed, its files, its output."""
    train.add_argument("--val-fraction", type=float,
                       help=f"held out for validation (default: {_per_data('val_fraction')})")
    train.add_argument("--limit", type=int, help="train on the first N samples only")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default=None, help="output folder (default: runs/DATA-MODEL)")
    train.add_argument("--checkpoint-every", type=int, help="epochs between checkpoints (default: a tenth of them)")
    train.add_argument("--resume", help="continue from this checkpoint")
    train.add_argument("--data-dir", help="folder holding the IDX files")
    train.add_argument("--no-download", action="store_true", help="never download missing data")
    train.add_argument("--verbose", type=int, default=1)
    train.add_argument("--prefetch", type=int, default=0, help="batches prepared ahead in a background thread")
    train.add_argument("--compile", action="store_true",
                       help="compile the training step (jax.jit on jax:..., torch.compile on torch:...)")
    train.add_argument("--tta", metavar="LIST", help=_TTA)
    train.add_argument("--tensorboard", metavar="DIR",
                       help="write TensorBoard event files of each epoch's figures to DIR (needs anynet[tensorboard])")


_TTA = ("test-time augmentation: also report the test figures with each image's scores averaged with those "
        "of its views, a comma-separated list of flip (its left-right mirror image)")


def _per_data(field: str) -> str:
    """A default of the registry's ``Defaults`` by data set, e.g. "300 on spiral, 5 on fashion-mnist
    and mnist" (data sets sharing a value named together)."""
    by_value: dict[Any, list[str]] = {}
    for name, spec in DATASETS.items():
        by_value.setdefault(getattr(spec.defaults, field), []).append(name)
    return ", ".join(f"{value} on {' and '.join(names)}" for value, names in by_value.items())


def _data_name(text: str) -> str:
    if text not in DATASETS and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(DATASETS)}, "
                                         "or name a folder of shards or images)")
    return text


def _optimizer_name(text: str) -> str:
    name = text.lower()
    if name not in OPTIMIZERS:
        raise argparse.ArgumentTypeError(f"unknown optimizer {text!r}: choose one of {', '.join(OPTIMIZERS)}")
    return name
