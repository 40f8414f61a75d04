"""An MLP on the book's spiral set, with its decision regions drawn to spiral.png.

    python3 examples/spiral_decision_boundary.py
"""

import numpy as np

import anynet
from anynet import MLP, SGD, SoftmaxWithLoss, Trainer

anynet.seed(0)
x, t = anynet.data.spiral()
net = MLP(2, [30], 3)
trainer = Trainer(net, SoftmaxWithLoss(), SGD(lr=1.0))
trainer.fit((x, t), epochs=300, batch_size=30)
print(f"training accuracy {trainer.evaluate((x, t))[1]:.1%}, "
      f"test accuracy {trainer.evaluate(anynet.data.spiral(seed=2024))[1]:.1%}")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("note: install matplotlib (pip install 'anynet[plot]') for the decision-boundary plot")
else:
    xx, yy = np.meshgrid(np.linspace(-1.1, 1.1, 300), np.linspace(-1.1, 1.1, 300))
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
    regions = np.argmax(anynet.to_numpy(net.predict(anynet.to_device(grid, net.device))), axis=1)
    plt.contourf(xx, yy, regions.reshape(xx.shape), alpha=0.3, levels=[-0.5, 0.5, 1.5, 2.5], cmap="brg")
    plt.scatter(x[:, 0], x[:, 1], c=t, s=12, cmap="brg")
    plt.gca().set_aspect("equal")
    plt.savefig("spiral.png", dpi=100)
    print("wrote spiral.png")
