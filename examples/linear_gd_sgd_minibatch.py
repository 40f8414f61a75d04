"""Gradient descent vs stochastic vs mini-batch on y = 2*x0 - 30*x1.

Fits one Affine layer with the mean squared error three ways and prints the
weights found; writes the loss curves to linear_modes.png when matplotlib is there.

    python3 examples/linear_gd_sgd_minibatch.py
"""

import anynet
from anynet import SGD, Affine, MeanSquaredError, Sequential, Trainer

x, t = anynet.data.linear_regression(n=200, weights=(2.0, -30.0), noise=0.1)
modes = {"gradient descent (batch = all 200)": (None, 0.3),
         "stochastic (batch = 1)": (1, 0.05),
         "mini-batch (batch = 20)": (20, 0.2)}
curves = {}
for name, (batch_size, lr) in modes.items():
    anynet.seed(0)
    net = Sequential(Affine(2, 1, weight_init=0.01))
    trainer = Trainer(net, MeanSquaredError(), SGD(lr=lr), verbose=0, accuracy=False)
    history = trainer.fit((x, t), epochs=30, batch_size=batch_size)
    W, b = (anynet.to_numpy(p.data) for p in net.params)
    print(f"{name:38s} w = ({W[0, 0]:+.3f}, {W[1, 0]:+.3f}), b = {b[0]:+.3f}, "
          f"loss {history['loss'][-1]:.4f}, {trainer.optimizer.iterations} updates")
    curves[name] = history["loss"]

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("note: install matplotlib (pip install 'anynet[plot]') for the loss curves")
else:
    for name, losses in curves.items():
        plt.semilogy(range(1, len(losses) + 1), losses, label=name)
    plt.xlabel("epoch")
    plt.ylabel("mean squared error")
    plt.legend()
    plt.savefig("linear_modes.png", dpi=100)
    print("wrote linear_modes.png")
