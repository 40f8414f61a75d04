"""The ``anynet`` command."""

from __future__ import annotations

import argparse
import sys

from . import backend
from .data import spiral
from .losses import SoftmaxWithLoss
from .models import MLP
from .optimizers import SGD
from .training import Trainer


def _train(args: argparse.Namespace) -> int:
    backend.seed(args.seed)
    x, t = spiral()
    with backend.device(args.device) as dev:
        model = MLP(2, [args.hidden] * args.layers, 3)
        trainer = Trainer(model, SoftmaxWithLoss(), SGD(lr=args.lr), verbose=args.verbose,
                          report=lambda line: print(line, flush=True))
        print(f"training an MLP 2-{'-'.join([str(args.hidden)] * args.layers)}-3 on the spiral set on {dev.name}")
        trainer.fit(x, t, epochs=args.epochs, batch_size=args.batch_size, report_every=max(1, args.epochs // 10))
        loss, acc = trainer.evaluate(x, t)
    print(f"final training loss {loss:.4f}, accuracy {acc:.2%}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="anynet", description="Deep learning from scratch, on any array library.")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="train a network (default: an MLP on the spiral set, on the CPU)")
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, torch:cpu, jax:cpu, ...")
    train.add_argument("--epochs", type=int, default=300)
    train.add_argument("--batch-size", type=int, default=30)
    train.add_argument("--lr", type=float, default=1.0)
    train.add_argument("--hidden", type=int, default=30)
    train.add_argument("--layers", type=int, default=1)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "train":
        try:
            return _train(args)
        except backend.DeviceError as err:
            print(f"anynet: {err}", file=sys.stderr)
            return 2
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
