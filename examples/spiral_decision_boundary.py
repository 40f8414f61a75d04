"""An MLP on the book's spiral set, with its decision regions drawn to spiral.png in --out.

    python3 examples/spiral_decision_boundary.py --epochs 300 --out runs/spiral
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import anynet
from anynet import MLP, SGD, SoftmaxWithLoss, Trainer
from anynet.files import atomic_write


def draw(net, x, t, path: str) -> None:
    """The decision regions of ``net`` over the plane, with the points (x, t), to the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xx, yy = np.meshgrid(np.linspace(-1.1, 1.1, 300), np.linspace(-1.1, 1.1, 300))
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
    regions = np.argmax(anynet.to_numpy(net.predict(anynet.to_device(grid, net.device))), axis=1)
    fig, ax = plt.subplots()
    ax.contourf(xx, yy, regions.reshape(xx.shape), alpha=0.3, levels=[-0.5, 0.5, 1.5, 2.5], cmap="brg")
    ax.scatter(x[:, 0], x[:, 1], c=t, s=12, cmap="brg")
    ax.set_aspect("equal")
    with atomic_write(path) as f:
        fig.savefig(f, dpi=100, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=30)
    parser.add_argument("--out", default=os.path.join("runs", "spiral"), help="folder for the plot")
    args = parser.parse_args()
    anynet.seed(0)
    x, t = anynet.data.spiral()
    net = MLP(2, [args.hidden], 3)
    trainer = Trainer(net, SoftmaxWithLoss(), SGD(lr=1.0), verbose=0)
    trainer.fit((x, t), epochs=args.epochs, batch_size=30)
    print(f"training accuracy {trainer.evaluate((x, t))[1]:.1%}, "
          f"test accuracy {trainer.evaluate(anynet.data.spiral(seed=2024))[1]:.1%}")
    try:
        os.makedirs(args.out, exist_ok=True)
        draw(net, x, t, os.path.join(args.out, "spiral.png"))
        print(f"wrote {os.path.join(args.out, 'spiral.png')}")
    except ImportError:
        print("note: install matplotlib (pip install 'anynet[plot]') for the decision-boundary plot")


if __name__ == "__main__":
    main()
