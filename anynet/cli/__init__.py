"""The ``anynet`` command: ``anynet train``, ``anynet evaluate CHECKPOINT`` and
``anynet export CHECKPOINT OUT.onnx``."""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import os
import sys
import warnings
from typing import Any, NamedTuple

from .. import backend, optim
from ..config import RunConfig, configure
from ..data import DataNotFoundError, IDXError, as_dataset, fashion_mnist, mnist, spiral, train_val_split
from ..data.augment import named as named_augment
from ..export import ExportError, to_onnx
from ..losses import SoftmaxWithLoss
from ..models import MLP, VGG, AlexNet, DeepConvNet, LeNet5, SimpleConvNet
from ..optim.schedules import CosineDecay, OneCycle
from ..training import (
    Checkpoint,
    CheckpointError,
    ReduceLROnPlateau,
    Trainer,
    TrainingDiverged,
    checkpoint,
    parallel,
    plot_history,
)
from ..training.precision import Precision
from ..validation import check_float, check_int

MODELS = {"mlp": MLP, "simple-convnet": SimpleConvNet, "lenet5": LeNet5, "deep-convnet": DeepConvNet,
          "alexnet": AlexNet, "vgg": VGG}
OPTIMIZERS = {name.lower(): getattr(optim, name) for name in (
    "GD", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam", "Nadam", "AdamW", "RAdam", "Lion",
    "LAMB")}
SCHEDULES = ("constant", "cosine", "onecycle", "plateau")
DATA = ("spiral", "fashion-mnist", "mnist")


class Defaults(NamedTuple):
    """What ``anynet train`` uses for a data set when a flag is not given."""

    epochs: int
    batch_size: int
    lr: float
    val_fraction: float


DEFAULTS = {"spiral": Defaults(epochs=300, batch_size=30, lr=1.0, val_fraction=0.0),
            "fashion-mnist": Defaults(epochs=5, batch_size=100, lr=0.1, val_fraction=0.1),
            "mnist": Defaults(epochs=5, batch_size=100, lr=0.1, val_fraction=0.1)}


class UsageError(ValueError):
    """A request the command cannot carry out; printed without a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as a UsageError: one line, no usage block."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog.split()[-1]}: {message}")


def build_model(name: str, data: str, hidden: int = 100, layers: int = 2, batchnorm: bool = False,
                dropout: float | None = None) -> Any:
    """The network ``name`` for data set ``data`` (2-D points or 1x28x28 images); ``batchnorm``
    asks for BatchNorm and ``dropout`` sets the dropout rate where the model has the option
    (BatchNorm: MLP, DeepConvNet, VGG; dropout: DeepConvNet, AlexNet, VGG)."""
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    options: dict[str, Any] = {}
    if batchnorm:
        _check_option(name, "batchnorm")
        options["batchnorm"] = True
    if dropout is not None:
        _check_option(name, "dropout")
        options["dropout"] = dropout
    if name == "mlp":
        inputs, classes = (2, 3) if data == "spiral" else (784, 10)
        return MLP(inputs, [hidden] * check_int("build_model", "layers", layers), classes, **options)
    if data == "spiral":
        raise UsageError(f"model {name!r} needs image data: use --data fashion-mnist or --data mnist")
    return MODELS[name](input_shape=(1, 28, 28), output_size=10, **options)


def _check_option(name: str, option: str) -> None:
    """UsageError unless model ``name`` takes the keyword ``option`` (batchnorm, dropout)."""
    if option not in inspect.signature(MODELS[name]).parameters:
        have = ", ".join(n for n, cls in MODELS.items() if option in inspect.signature(cls).parameters)
        what = "BatchNorm" if option == "batchnorm" else option
        raise UsageError(f"--{option}: model {name!r} has no {what} option ({have} have)")


def build_schedule(name: str, lr: float, total: int) -> Any:
    """The learning rate for ``anynet train --schedule``: ``lr`` held, cosine-decayed, or as the peak
    of a one-cycle policy, over ``total`` updates ("plateau": held, for ReduceLROnPlateau to lower)."""
    if name in ("constant", "plateau"):
        return lr
    if name == "cosine":
        return CosineDecay(lr, total=max(total, 1))
    return OneCycle(lr, total=max(total, 2))


def load_data(name: str, flatten: bool, data_dir: str | None = None, download: bool = True):
    """(train, test) host data sets of ``name``."""
    if name == "spiral":
        return spiral(), spiral(seed=2024)  # a test set drawn with other noise
    loader = fashion_mnist if name == "fashion-mnist" else mnist
    return loader(data_dir, flatten=flatten, download=download)


def _write_history(history: dict[str, list[float]], out: str) -> None:
    with open(os.path.join(out, "history.json"), "w") as f:
        json.dump(history, f, indent=1)
    keys = list(history)
    with open(os.path.join(out, "history.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *keys])
        for i in range(len(history[keys[0]]) if keys else 0):
            w.writerow([i + 1, *(history[k][i] for k in keys)])


def _available(spec: str) -> None:
    """Refuse a device that is unknown or absent here before any work, in one line."""
    try:
        backend.as_device(spec).zeros((1,))
    except backend.DeviceError:
        raise
    except Exception as err:  # noqa: BLE001 - array libraries fail on absent hardware in their own ways
        raise UsageError(f"device {spec!r} is not available here ({type(err).__name__}: {err})") from None


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse flag values out of range before anything runs (ValueError naming the flag)."""
    for flag, minimum in (("epochs", 1), ("batch_size", 0), ("hidden", 1), ("layers", 1), ("limit", 1),
                          ("seed", 0), ("checkpoint_every", 1), ("verbose", 0)):
        if getattr(args, flag) is not None:
            check_int("train", "--" + flag.replace("_", "-"), getattr(args, flag), minimum)
    if args.lr is not None:
        check_float("train", "--lr", args.lr, 0.0, low_open=True)
    if args.val_fraction is not None:
        check_float("train", "--val-fraction", args.val_fraction, 0.0, 1.0, high_open=True)
    check_float("train", "--label-smoothing", args.label_smoothing, 0.0, 1.0, high_open=True)
    if args.batchnorm:
        _check_option(args.model, "batchnorm")
    if args.dropout is not None:
        check_float("train", "--dropout", args.dropout, 0.0, 1.0, high_open=True)
        _check_option(args.model, "dropout")
    if args.augment and (args.data == "spiral" or args.model == "mlp"):
        raise UsageError("--augment transforms image batches: use a convolutional --model on fashion-mnist or mnist")
    if args.augment:
        try:
            named_augment(args.augment, args.data)
        except ValueError as err:
            raise UsageError(str(err).replace("augment:", "--augment:", 1)) from None


def _quiet(*args: Any, **kwargs: Any) -> None:
    """``print`` on ranks other than 0: one process of a run speaks."""


def _train(args: argparse.Namespace, group: parallel.Group) -> int:
    say = print if group.is_root else _quiet
    _check_flags(args)
    _available(args.device)
    default = DEFAULTS[args.data]
    epochs = args.epochs if args.epochs is not None else default.epochs
    batch = args.batch_size if args.batch_size is not None else default.batch_size
    batch = None if batch == 0 else batch
    lr = args.lr if args.lr is not None else default.lr
    val_fraction = args.val_fraction if args.val_fraction is not None else default.val_fraction
    if args.model != "mlp" and args.data == "spiral":
        raise UsageError(f"model {args.model!r} needs image data: use --data fashion-mnist or --data mnist")
    spiral_net = args.data == "spiral"
    args.hidden = args.hidden or (30 if spiral_net else 100)
    args.layers = args.layers or (1 if spiral_net else 2)
    args.out = args.out or os.path.join("runs", f"{args.data}-{args.model}")
    backend.seed(args.seed)
    flatten = args.model == "mlp"
    if not group.is_root:
        group.share(None)  # wait until rank 0 has the files (it may download them)
    train, test = (as_dataset(d) for d in load_data(args.data, flatten, args.data_dir, not args.no_download))
    if group.is_root and group.size > 1:
        group.share(None)
    if args.limit:
        train = train.subset(slice(0, args.limit))
    val = None
    if val_fraction:
        train, val = train_val_split(train, val_fraction)
    config = {"model": args.model, "data": args.data, "hidden": args.hidden, "layers": args.layers,
              "batchnorm": args.batchnorm, "dropout": args.dropout, "optimizer": args.optimizer, "lr": lr,
              "schedule": args.schedule,
              "label_smoothing": args.label_smoothing, "augment": args.augment, "batch_size": batch,
              "seed": args.seed, "precision": args.precision}
    if args.schedule == "plateau" and val is None:
        raise UsageError("--schedule plateau follows the validation loss: give --val-fraction above 0")
    augment = named_augment(args.augment, args.data) if args.augment else None
    updates = epochs * -(-len(train) // (batch or len(train)))
    if group.is_root:
        os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "checkpoint.npz")
    with backend.device(group.device(args.device), precision=args.precision) as dev:
        model = build_model(args.model, args.data, args.hidden, args.layers, args.batchnorm, args.dropout)
        every = args.checkpoint_every or max(1, epochs // 10)
        optimizer = OPTIMIZERS[args.optimizer](lr=build_schedule(args.schedule, lr, updates))
        callbacks = [Checkpoint(ckpt, every=every, metadata=config)]
        if args.schedule == "plateau":  # before the checkpoint, which then keeps the lowered rate
            callbacks.insert(0, ReduceLROnPlateau(factor=0.5, patience=1))
        trainer = Trainer(model, SoftmaxWithLoss(label_smoothing=args.label_smoothing), optimizer,
                          verbose=args.verbose, callbacks=callbacks, compile=args.compile, group=group)
        how = ", compiled" if args.compile else ""
        where = dev.name if group.size == 1 else f"{group.size} processes ({dev.name} on rank 0)"
        per = "" if group.size == 1 else " per process"
        say(f"training {args.model} on {args.data} ({len(train)} samples) on {where}{how}: "
            f"{epochs} epochs, batch {batch or 'full'}{per}, {args.optimizer} lr {lr}, "
            f"{trainer.precision.name}", flush=True)
        try:
            trainer.fit(train, val, epochs=epochs, batch_size=batch, augment=augment, resume=args.resume)
        except TrainingDiverged:
            if group.is_root:
                _write_history(trainer.history, args.out)
            raise
        test_loss, test_acc = trainer.evaluate(test)
    if not group.is_root:
        return 0
    _write_history(trainer.history, args.out)
    written = [ckpt, os.path.join(args.out, "history.csv"), os.path.join(args.out, "history.json")]
    try:
        written.append(plot_history(trainer.history, os.path.join(args.out, "learning_curve.png"),
                                    f"{args.model} on {args.data}"))
    except ImportError as err:
        print(f"note: no learning-curve plot ({err})")
    print(f"wrote {', '.join(written)}")
    if trainer.stop_reason:
        print(f"stopped early: {trainer.stop_reason}")
    print(f"test loss {test_loss:.4f}, test accuracy {test_acc:.2%}")
    return 0


def _load_model(path: str, data: str | None = None) -> tuple[Any, dict[str, Any], str]:
    """The model a checkpoint written by ``anynet train`` names, with its weights, on the current
    device; its configuration; the data set (``data``, else the one it was trained on)."""
    meta, _ = checkpoint.read(path)
    config = meta["metadata"]
    if config.get("model") not in MODELS or config.get("data") not in DATA:
        raise UsageError(f"{path}: no model description; it was not written by 'anynet train'")
    data = data or config["data"]
    try:
        model = build_model(config["model"], data, config.get("hidden", 100), config.get("layers", 2),
                            config.get("batchnorm", False), config.get("dropout"))
    except (TypeError, ValueError) as err:
        raise UsageError(f"{path}: its model description does not build: {err}") from None
    _saved_precision(config).prepare(model)  # the saved weights are in its compute dtype
    checkpoint.load(path, model, restore_rng=False)
    return model, config, data


def _saved_precision(config: dict[str, Any]) -> Precision:
    try:
        return Precision.named(config.get("precision", "float32"))
    except ValueError as err:
        raise UsageError(f"the checkpoint's metadata: {err}") from None


def example_shape(model: str, data: str) -> tuple[int, ...]:
    """The shape of one example of ``data`` as ``model`` reads it (MLPs take flat images)."""
    if data == "spiral":
        return (2,)
    return (784,) if model == "mlp" else (1, 28, 28)


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise UsageError(f"--input-shape must be positive sizes separated by commas, such as 1,28,28; got {text!r}")
    return shape


def _export(args: argparse.Namespace) -> int:
    model, config, data = _load_model(args.checkpoint)
    shape = _parse_shape(args.input_shape) if args.input_shape else example_shape(config["model"], data)
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch must be a positive batch size, got {args.batch}")
    proto = to_onnx(model, (args.batch, *shape), args.out, dynamic_batch=args.batch is None,
                    operators=not args.traced)
    dims = ", ".join(str(s) for s in ("N" if args.batch is None else args.batch, *shape))
    print(f"wrote {args.out}: {config['model']} from {args.checkpoint}, input x ({dims}), output y, "
          f"{len(proto.graph.node)} ONNX nodes")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    _available(args.device)
    with backend.device(args.device):
        model, config, data = _load_model(args.checkpoint, args.data)
        trainer = Trainer(model, SoftmaxWithLoss(), None, verbose=0, precision=_saved_precision(config))
        _, test = load_data(data, config["model"] == "mlp", args.data_dir, not args.no_download)
        loss, acc = trainer.evaluate(test)
    print(f"{config['model']} from {args.checkpoint} on the {data} test set: loss {loss:.4f}, accuracy {acc:.2%}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command; a bad request or a failed run ends in one line on stderr and a
    non-zero status (2: refused, 1: the run diverged, 130: interrupted), never a traceback.
    Under ``mpiexec``, ``train`` runs on every process; a failure on some ranks only ends the
    whole run (MPI Abort, naming the rank), as the others may be waiting for them."""
    group = parallel.Group()
    try:
        config = configure(**RunConfig.from_environment().changed())  # the one read of the environment
    except ValueError as err:
        print(f"anynet: {err}", file=sys.stderr)
        return 2
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            _parser().print_help()
            return 0
        if args.command == "train":
            group = parallel.init()
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            # overflow in a diverging run: the trainer's guard reports it once, as TrainingDiverged
            warnings.simplefilter("ignore", RuntimeWarning)
            commands = {"train": lambda a: _train(a, group), "evaluate": _evaluate, "export": _export}
            return commands[args.command](args)
    except TrainingDiverged as err:  # every rank sees the same reduced loss: all stop alike
        print(f"anynet: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("anynet: interrupted", file=sys.stderr)
        return 130
    except (UsageError, backend.DeviceError, DataNotFoundError, IDXError, CheckpointError, ExportError,
            ValueError, TypeError, OSError, MemoryError) as err:
        # the first five are ValueErrors or OSErrors too; ValueError and TypeError are every refused argument
        if group.size > 1 and not isinstance(err, parallel.DistributedError):
            group.abort(f"anynet: {err or type(err).__name__}", 2)
        print(f"anynet: {err or type(err).__name__}", file=sys.stderr)
        return 2
    finally:
        config.__exit__()


def _warning_line(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"anynet: warning: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="anynet", description="Deep learning from scratch, on any array library.")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser(
        "train", help="train a network (default: an MLP on the spiral set, on the CPU)",
        epilog="Several processes: 'mpiexec -n 4 anynet train ...' (pip install 'anynet[mpi]') trains on 4 "
               "processes with no other flag: each takes a disjoint shard of every epoch, --batch-size is per "
               "process (global batch = batch size x processes; raise --lr with it), gradients are averaged "
               "every step, rank 0 prints and writes the files. With --device cuda each process takes the GPU "
               "of its rank on its machine (gradients through NCCL). Across machines: "
               "'mpiexec -hosts a,b -n 8 anynet train ...'.")
    train.add_argument("--model", default="mlp", choices=list(MODELS))
    train.add_argument("--data", default="spiral", choices=DATA)
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, torch:cpu, jax:cpu, ...")
    train.add_argument("--epochs", type=int, help="default: 300 on spiral, 5 on (fashion-)mnist")
    train.add_argument("--batch-size", type=int, help="0 for full-batch; default: 30 on spiral, else 100")
    train.add_argument("--optimizer", default="sgd", type=_optimizer_name, help=", ".join(OPTIMIZERS))
    train.add_argument("--lr", type=float, help="default: 1.0 on spiral, else 0.1 (the peak with onecycle)")
    train.add_argument("--schedule", default="constant", choices=SCHEDULES,
                       help="the learning rate over the run: held, cosine decay, one cycle, or halved "
                       "after two epochs without a better validation loss")
    train.add_argument("--augment", nargs="?", const="auto", metavar="LIST",
                       help="augment the training batches: alone, as suits the data (shifts; flips for "
                       "fashion-mnist), or a comma-separated list of shift, flip, erase")
    train.add_argument("--batchnorm", action="store_true", help="BatchNorm in the model (mlp, deep-convnet, vgg)")
    train.add_argument("--dropout", type=float, help="dropout rate of the model's head, in [0, 1) "
                       "(deep-convnet, alexnet, vgg; default: the model's)")
    train.add_argument("--label-smoothing", type=float, default=0.0, help="of the softmax cross-entropy, in [0, 1)")
    train.add_argument("--hidden", type=int, default=None, help="MLP hidden width (30 on spiral, else 100)")
    train.add_argument("--layers", type=int, default=None, help="MLP hidden layers (1 on spiral, else 2)")
    train.add_argument("--val-fraction", type=float, help="held out for validation (default 0.1; 0 on spiral)")
    train.add_argument("--limit", type=int, help="train on the first N samples only")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--precision", default="float32", choices=["float32", "float64", "float16", "bfloat16"],
                       help="float32 (default), float64, or mixed precision: float16 (with dynamic loss "
                            "scaling) or bfloat16, with float32 master weights")
    train.add_argument("--out", default=None, help="output folder (default: runs/DATA-MODEL)")
    train.add_argument("--checkpoint-every", type=int, help="epochs between checkpoints (default: a tenth of them)")
    train.add_argument("--resume", help="continue from this checkpoint")
    train.add_argument("--data-dir", help="folder holding the IDX files")
    train.add_argument("--no-download", action="store_true", help="never download missing data")
    train.add_argument("--verbose", type=int, default=1)
    train.add_argument("--compile", action="store_true",
                       help="compile the training step (jax.jit on jax:..., torch.compile on torch:...)")
    ev = sub.add_parser("evaluate", help="test accuracy of a checkpoint written by 'anynet train'")
    ev.add_argument("checkpoint")
    ev.add_argument("--data", choices=DATA, help="default: the data set it was trained on")
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--data-dir")
    ev.add_argument("--no-download", action="store_true")
    ex = sub.add_parser("export", help="write a checkpoint of 'anynet train' as an ONNX file (needs anynet[onnx])")
    ex.add_argument("checkpoint")
    ex.add_argument("out", help="the .onnx file to write")
    ex.add_argument("--input-shape", help="one example's shape, e.g. 1,28,28 (default: the training data's)")
    ex.add_argument("--batch", type=int, help="a fixed batch size (default: any, a symbolic batch axis)")
    ex.add_argument("--traced", action="store_true",
                    help="trace every layer's primitives instead of emitting whole ONNX operators (the reference)")
    return parser


def _optimizer_name(text: str) -> str:
    name = text.lower()
    if name not in OPTIMIZERS:
        raise argparse.ArgumentTypeError(f"unknown optimizer {text!r}: choose one of {', '.join(OPTIMIZERS)}")
    return name


if __name__ == "__main__":
    sys.exit(main())
