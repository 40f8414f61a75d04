"""The book's date-format conversion with an attention encoder-decoder (volume 2, chapter 8).

    PYTHONPATH=. python3 examples/seq2seq_dates.py                      # attention, to 99% exact match
    PYTHONPATH=. python3 examples/seq2seq_dates.py --decoder peeky
    PYTHONPATH=. python3 examples/seq2seq_dates.py --task addition --decoder peeky --epochs 25

Generated questions ("Tuesday, September 27, 1994", "9/27/94", "27.09.1994", ...) are read,
reversed as in the book, by an LSTM encoder; the decoder writes "1994-09-27" one character
at a time. Training feeds the right answer (teacher forcing); the score is greedy generation's
exact match on held-out questions (never seen in training). Stops once ``--target`` is reached.
Set OMP_NUM_THREADS=1 on a machine whose cores are busy: threaded BLAS on small matrices
then runs many times slower than one thread.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import anynet
from anynet.data import addition, dates
from anynet.optim.hooks import ClipByNorm


def exact_match(model, x, t, dev, batch_size: int = 500) -> float:
    """The fraction of questions whose whole greedy answer (after the start character) is right."""
    right = 0
    for i in range(0, len(x), batch_size):
        xs = anynet.to_device(x[i:i + batch_size], dev)
        out = anynet.to_numpy(model.generate(xs, int(t[0, 0]), t.shape[1] - 1))
        right += int(np.all(out == t[i:i + batch_size, 1:], axis=1).sum())
    return right / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("dates", "addition"), default="dates")
    parser.add_argument("--decoder", choices=("plain", "peeky", "attention"), default="attention")
    parser.add_argument("--train", type=int, default=20000, help="training questions")
    parser.add_argument("--test", type=int, default=2000, help="held-out questions")
    parser.add_argument("--wordvec", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--target", type=float, default=0.99, help="stop at this held-out exact match")
    parser.add_argument("--no-reverse", action="store_true", help="read the question forwards")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    anynet.seed(args.seed)
    make = dates if args.task == "dates" else addition
    x, t, vocab = make(args.train + args.test, seed=1984 + args.seed)
    if not args.no_reverse:
        x = np.ascontiguousarray(x[:, ::-1])  # the book's trick: the first words end up near the decoder
    x_train, t_train, x_test, t_test = x[:args.train], t[:args.train], x[args.train:], t[args.train:]
    with anynet.device(args.device) as dev:
        model = anynet.Seq2seq(len(vocab), args.wordvec, args.hidden, decoder=args.decoder)
        loss = anynet.TimeSoftmaxWithLoss()
        opt = anynet.Adam(lr=args.lr, hooks=[ClipByNorm(5.0)])
        print(f"{args.task}: {args.train} questions to train on, {args.test} held out; Seq2seq "
              f"decoder={args.decoder!r}, hidden {args.hidden}, {sum(math.prod(p.shape) for p in model.params):,} "
              f"parameters, on {dev.name}")
        rng, seconds, score = anynet.backend.host_rng(), 0.0, 0.0
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            model.train()
            order, total, steps = rng.permutation(args.train), 0.0, 0
            for i in range(0, args.train, args.batch_size):
                rows = order[i:i + args.batch_size]
                xs, ts = anynet.to_device(x_train[rows], dev), anynet.to_device(t_train[rows], dev)
                total = total + loss.forward(model.forward(xs, ts[:, :-1]), ts[:, 1:])
                model.backward(loss.backward())
                opt.update(model.params)
                steps += 1
            seconds += time.perf_counter() - start
            model.eval()
            score = exact_match(model, x_test, t_test, dev)
            print(f"epoch {epoch}: loss {float(total) / steps:.4f}, held-out exact match {score:.2%}, "
                  f"{seconds:.0f} s of training so far", flush=True)
            if score >= args.target:
                break
        out = anynet.to_numpy(model.generate(anynet.to_device(x_test[:5], dev), int(t_test[0, 0]),
                                             t_test.shape[1] - 1))
    shown = x_test[:5] if args.no_reverse else x_test[:5, ::-1]
    for q, a, want in zip(vocab.decode(shown), vocab.decode(out), vocab.decode(t_test[:5, 1:])):
        print(f"  {q.strip():>29} -> {a.strip():<10} {'ok' if a == want else 'expected ' + want.strip()}")
    print(f"held-out exact match {score:.2%} after {epoch} epochs, {seconds:.0f} s of training")


if __name__ == "__main__":
    main()
