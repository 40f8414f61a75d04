"""Fashion-MNIST read row by row: 28 time steps of 28 pixels, a recurrent net, a class at the end.

    python3 examples/rnn_rows_fashion_mnist.py --cell lstm --epochs 3 --train-size 10000
    python3 examples/rnn_rows_fashion_mnist.py --cell rnn --device torch:cpu

Many-to-one: SequenceClassifier = Time{RNN,LSTM,GRU} (return_sequences=False) - Affine.
Reads the IDX files from /usr/share/datasets/fashion-mnist (or --data) with
anynet.data.fashion_mnist when that loader exists, else with the small reader below.
On a busy shared CPU, OPENBLAS_NUM_THREADS=1 can make the small matrix products here
many times faster (threads fighting over cores).
"""

from __future__ import annotations

import argparse
import gzip
import os
import time

import numpy as np

import anynet
from anynet.hooks import ClipByNorm

DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")


def read_idx(path: str) -> np.ndarray:
    """An IDX file (gzipped) as a NumPy array: magic 0x0000 type ndim, big-endian sizes, data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(folder: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(x_train, t_train), (x_test, t_test): x (N, 28, 28) float32 in [0, 1], t (N,) int64."""
    loader = getattr(anynet.data, "fashion_mnist", None)
    if loader is not None:
        try:
            train, test = loader(folder, flatten=True)
            return tuple((np.asarray(x, np.float32).reshape(-1, 28, 28), np.asarray(t, np.int64))
                         for x, t in (train, test))
        except Exception as err:  # noqa: BLE001 - an older or different loader: use ours
            print(f"anynet.data.fashion_mnist failed ({err}); reading the IDX files directly")
    out = []
    for split in ("train", "t10k"):
        x = read_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"))
        t = read_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"))
        out.append(((x / 255.0).astype(np.float32), t.astype(np.int64)))
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=None, help="default: 0.001 with Adam; with SGD 0.1 for rnn, 0.5 for lstm and gru")
    parser.add_argument("--train-size", type=int, default=60000)
    parser.add_argument("--test-size", type=int, default=10000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    anynet.seed(args.seed)
    (x_train, t_train), (x_test, t_test) = load(args.data)
    x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
    x_test, t_test = x_test[:args.test_size], t_test[:args.test_size]
    adam = getattr(anynet.optimizers, "Adam", None)
    with anynet.device(args.device) as dev:
        model = anynet.models.SequenceClassifier(28, args.hidden, 10, cell=args.cell,
                                                 layers=args.layers, dropout=args.dropout)
        clip = [ClipByNorm(5.0)]
        opt = adam(lr=args.lr or 1e-3, hooks=clip) if adam else anynet.SGD(lr=args.lr or (0.1 if args.cell == "rnn" else 0.5), hooks=clip)
        trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), opt, verbose=0)
        print(f"{args.cell.upper()} {args.layers}x{args.hidden} on rows of Fashion-MNIST, "
              f"{len(x_train)} train / {len(x_test)} test images, {type(opt).__name__}, on {dev.name}")
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            trainer.fit(x_train, t_train, epochs=1, batch_size=args.batch_size)
            seconds = time.perf_counter() - start
            loss, acc = trainer.evaluate(x_test, t_test)
            print(f"epoch {epoch}: train loss {trainer.history['loss'][-1]:.4f}  "
                  f"test loss {loss:.4f}  test accuracy {acc:.2%}  ({seconds:.1f} s/epoch)", flush=True)
        y = anynet.to_numpy(model.predict(anynet.to_device(x_test[:8], dev)))
    print("first test images:", ", ".join(f"{CLASSES[p]} ({CLASSES[t]})" for p, t in zip(y.argmax(1), t_test[:8])))


if __name__ == "__main__":
    main()
