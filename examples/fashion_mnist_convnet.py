"""The book's SimpleConvNet on Fashion-MNIST, on the GPU when there is one.

    python3 examples/fashion_mnist_convnet.py --epochs 5 --out runs/fashion-convnet

Falls back to the CPU with a message when no GPU (or no CuPy) is found (--device picks one).
Needs the Fashion-MNIST files (apt-get install dataset-fashion-mnist, or let anynet download
them). Writes checkpoint.npz and learning_curve.png into --out.
"""

from __future__ import annotations

import argparse
import os

import anynet
from anynet import SoftmaxWithLoss, Trainer
from anynet.models import SimpleConvNet
from anynet.optim import Adam
from anynet.training import Checkpoint, EarlyStopping, plot_history


def pick_device(spec: str | None) -> anynet.Device:
    """The device asked for, else the GPU when there is one, else the CPU (saying why)."""
    if spec:
        return anynet.as_device(spec)
    try:
        return anynet.as_device("cuda")
    except anynet.DeviceError as err:
        print(f"no GPU ({err}); training on the CPU, which is much slower")
        return anynet.as_device("cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--train-size", type=int, default=None, help="use the first N training images")
    parser.add_argument("--test-size", type=int, default=None, help="score the first N test images")
    parser.add_argument("--device", default=None, help="default: cuda when there is a GPU, else cpu")
    parser.add_argument("--data", default=None, help="folder of the IDX files (default: the search path)")
    parser.add_argument("--out", default=os.path.join("runs", "fashion-convnet"), help="folder for the outputs")
    args = parser.parse_args()

    anynet.configure(**anynet.RunConfig.from_environment().changed())  # ANYNET_DATA, as the anynet command
    anynet.seed(0)
    train, test = anynet.data.fashion_mnist(args.data, flatten=False)  # (N, 1, 28, 28) in [0, 1]
    if args.train_size:
        train = train.subset(slice(0, args.train_size))
    if args.test_size:
        test = test.subset(slice(0, args.test_size))
    train, val = anynet.data.train_val_split(train, 0.1)
    target = pick_device(args.device)
    os.makedirs(args.out, exist_ok=True)
    with anynet.device(target):
        net = SimpleConvNet(input_shape=(1, 28, 28), output_size=10)
        trainer = Trainer(net, SoftmaxWithLoss(), Adam(lr=args.lr),
                          callbacks=[EarlyStopping(patience=2), Checkpoint(os.path.join(args.out, "checkpoint.npz"))])
        trainer.fit(train, val, epochs=args.epochs, batch_size=args.batch_size)
        loss, acc = trainer.evaluate(test)
    print(f"{target.name}: test accuracy {acc:.2%} (loss {loss:.4f}) after {trainer.epoch} epochs")
    try:
        path = plot_history(trainer.history, os.path.join(args.out, "learning_curve.png"),
                            "SimpleConvNet on Fashion-MNIST")
        print(f"wrote {path}")
    except ImportError as err:
        print(f"note: {err}")


if __name__ == "__main__":
    main()
