"""Gradient descent vs stochastic vs mini-batch on y = 2*x0 - 30*x1.

    python3 examples/linear_gd_sgd_minibatch.py --epochs 30 --out runs/linear

Fits one Affine layer with the mean squared error three ways and prints the weights found;
writes the loss curves to linear_modes.png in --out when matplotlib is there.
"""

from __future__ import annotations

import argparse
import os

import anynet
from anynet import SGD, Affine, MeanSquaredError, Sequential, Trainer
from anynet.files import atomic_write

# name -> (batch size, learning rate)
MODES = {"gradient descent (batch = all 200)": (None, 0.3),
         "stochastic (batch = 1)": (1, 0.05),
         "mini-batch (batch = 20)": (20, 0.2)}


def fit_modes(epochs: int) -> dict[str, list[float]]:
    """Fit the line each way; print the weights found. Returns each mode's loss per epoch."""
    x, t = anynet.data.linear_regression(n=200, weights=(2.0, -30.0), noise=0.1)
    curves = {}
    for name, (batch_size, lr) in MODES.items():
        anynet.seed(0)
        net = Sequential(Affine(2, 1, weight_init=0.01))
        trainer = Trainer(net, MeanSquaredError(), SGD(lr=lr), verbose=0, accuracy=False)
        history = trainer.fit((x, t), epochs=epochs, batch_size=batch_size)
        W, b = (anynet.to_numpy(p.data) for p in net.params)
        print(f"{name:38s} w = ({W[0, 0]:+.3f}, {W[1, 0]:+.3f}), b = {b[0]:+.3f}, "
              f"loss {history['loss'][-1]:.4f}, {trainer.optimizer.iterations} updates")
        curves[name] = history["loss"]
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=os.path.join("runs", "linear"), help="folder for the plot")
    args = parser.parse_args()
    curves = fit_modes(args.epochs)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: install matplotlib (pip install 'anynet[plot]') for the loss curves")
        return
    fig, ax = plt.subplots()
    for name, losses in curves.items():
        ax.semilogy(range(1, len(losses) + 1), losses, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error")
    ax.legend()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "linear_modes.png")
    with atomic_write(path) as f:
        fig.savefig(f, dpi=100, format="png")
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
