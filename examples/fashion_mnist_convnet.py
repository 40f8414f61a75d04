"""The book's SimpleConvNet on Fashion-MNIST, on the GPU when there is one.

Falls back to the CPU with a message when no GPU (or no CuPy) is found. Needs
the Fashion-MNIST files (apt-get install dataset-fashion-mnist, or let anynet
download them). Writes fashion_convnet.npz and fashion_convnet.png.

    python3 examples/fashion_mnist_convnet.py [EPOCHS]
"""

import sys

import anynet
from anynet import SoftmaxWithLoss, Trainer
from anynet.models import SimpleConvNet
from anynet.optim import Adam
from anynet.training import Checkpoint, EarlyStopping, plot_history

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
anynet.configure(**anynet.RunConfig.from_environment().changed())  # ANYNET_DATA, as the anynet command
anynet.seed(0)
train, test = anynet.data.fashion_mnist(flatten=False)  # (N, 1, 28, 28) in [0, 1]
train, val = anynet.data.train_val_split(train, 5000)

try:
    target = anynet.as_device("cuda")
except anynet.DeviceError as err:
    print(f"no GPU ({err}); training on the CPU, which is much slower")
    target = anynet.as_device("cpu")

with anynet.device(target):
    net = SimpleConvNet(input_shape=(1, 28, 28), output_size=10)
    trainer = Trainer(net, SoftmaxWithLoss(), Adam(lr=0.001),
                      callbacks=[EarlyStopping(patience=2), Checkpoint("fashion_convnet.npz")])
    trainer.fit(train, val, epochs=epochs, batch_size=100)
    loss, acc = trainer.evaluate(test)
print(f"{target.name}: test accuracy {acc:.2%} (loss {loss:.4f}) after {trainer.epoch} epochs")
try:
    plot_history(trainer.history, "fashion_convnet.png", "SimpleConvNet on Fashion-MNIST")
except ImportError as err:
    print(f"note: {err}")
