"""Fashion-MNIST read row by row: 28 time steps of 28 pixels, a recurrent net, a class at the end.

    python3 examples/rnn_rows_fashion_mnist.py --cell lstm --epochs 3 --train-size 10000
    python3 examples/rnn_rows_fashion_mnist.py --cell rnn --device torch:cpu

Many-to-one: SequenceClassifier = Time{RNN,LSTM,GRU} (return_sequences=False) - Affine.
Reads Fashion-MNIST with anynet.data.fashion_mnist (its search path, or --data).
On a busy shared CPU, OPENBLAS_NUM_THREADS=1 can make the small matrix products here
many times faster (threads fighting over cores).
"""

from __future__ import annotations

import argparse

import anynet
from anynet.optim.hooks import ClipByNorm

CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--train-size", type=int, default=60000)
    parser.add_argument("--test-size", type=int, default=10000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default=None, help="folder of the IDX files (default: the search path)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    anynet.configure(**anynet.RunConfig.from_environment().changed())  # ANYNET_DATA, as the anynet command
    anynet.seed(args.seed)
    train, test = anynet.data.fashion_mnist(args.data, flatten=False)
    rows = lambda x: x[:, 0]  # (N, 1, 28, 28) -> (N, 28, 28): 28 steps of 28 pixels
    x_train, t_train = rows(train.x[:args.train_size]), train.t[:args.train_size]
    x_test, t_test = rows(test.x[:args.test_size]), test.t[:args.test_size]
    with anynet.device(args.device) as dev:
        model = anynet.models.SequenceClassifier(28, args.hidden, 10, cell=args.cell,
                                                 layers=args.layers, dropout=args.dropout)
        opt = anynet.Adam(lr=args.lr, hooks=[ClipByNorm(5.0)])
        trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), opt, verbose=0)
        print(f"{args.cell.upper()} {args.layers}x{args.hidden} on rows of Fashion-MNIST, "
              f"{len(x_train)} train / {len(x_test)} test images, Adam, on {dev.name}")
        h = trainer.fit((x_train, t_train), (x_test, t_test), epochs=args.epochs, batch_size=args.batch_size)
        for epoch in range(args.epochs):
            print(f"epoch {epoch + 1}: train loss {h['loss'][epoch]:.4f}  test loss {h['val_loss'][epoch]:.4f}  "
                  f"test accuracy {h['val_accuracy'][epoch]:.2%}  ({h['time'][epoch]:.1f} s/epoch)")
        y = anynet.to_numpy(model.predict(anynet.to_device(x_test[:8], dev)))
    print("first test images:", ", ".join(f"{CLASSES[p]} ({CLASSES[t]})" for p, t in zip(y.argmax(1), t_test[:8])))


if __name__ == "__main__":
    main()
