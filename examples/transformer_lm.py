"""A small Transformer language model against the LSTM one, on the text of examples/char_lm.py.

    PYTHONPATH=. python3 examples/transformer_lm.py
    PYTHONPATH=. python3 examples/transformer_lm.py --epochs 60 --time-size 64 --positional learned

Both read the same (batch, time) chunks and train with Adam and TimeSoftmaxWithLoss; their sizes
are chosen to hold about the same number of parameters. The LSTM carries its state from chunk to
chunk (truncated BPTT), so it sees the whole text so far; the Transformer sees only the chunk it
reads (causal attention over at most --time-size characters). Prints each model's held-out
perplexity at the end and its best after any epoch (the text is small: both overfit).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from char_lm import TEXT, batches, perplexity

import anynet
from anynet.optim.hooks import ClipByNorm


def count(model) -> int:
    return sum(math.prod(p.shape) for p in model.params)


def train(model, train_ids, held_out, dev, args) -> dict[str, float]:
    """Train ``model`` for args.epochs, measuring held-out perplexity after every epoch."""
    loss = anynet.TimeSoftmaxWithLoss()
    opt = anynet.Adam(lr=args.lr, hooks=[ClipByNorm(5.0)])
    seconds, best, best_epoch, ppl = 0.0, math.inf, 0, math.inf
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.reset_state()
        model.train()
        for x, t in batches(train_ids, args.batch_size, args.time_size):
            y = model.forward(anynet.to_device(x, dev))
            loss.forward(y, anynet.to_device(t, dev))
            model.backward(loss.backward())
            opt.update(model.params)
        seconds += time.perf_counter() - start
        ppl = perplexity(model, loss, held_out, dev, args.time_size)
        if ppl < best:
            best, best_epoch = ppl, epoch
        if epoch % max(1, args.epochs // 4) == 0:
            print(f"  epoch {epoch}: held-out perplexity {ppl:.2f}", flush=True)
    return {"last": ppl, "best": best, "best_epoch": best_epoch, "per_epoch": seconds / args.epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--time-size", type=int, default=32)
    parser.add_argument("--embed", type=int, default=64, help="the Transformer's width")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--positional", choices=("sinusoidal", "learned"), default="sinusoidal")
    parser.add_argument("--hidden", type=int, default=128, help="the LSTM's hidden size")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    chars = sorted(set(TEXT))
    ids = np.array([chars.index(c) for c in TEXT], dtype=np.int64)
    split = int(len(ids) * 0.9)
    train_ids, held_out = ids[:split], ids[split:]
    V = len(chars)
    results = {}
    with anynet.device(args.device) as dev:
        makers = {
            "Transformer": lambda: anynet.TransformerLM(V, args.embed, args.heads, args.layers, max_len=args.time_size,
                                                        dropout=args.dropout, positional=args.positional),
            "LSTM": lambda: anynet.LanguageModel(V, 32, args.hidden, cell="lstm", dropout=args.dropout),
        }
        print(f"{V} characters, {len(train_ids)} to train on, {len(held_out)} held out, chunks of "
              f"{args.batch_size}x{args.time_size}, {args.epochs} epochs, on {dev.name}")
        models = {}
        for name, make in makers.items():
            anynet.seed(args.seed)  # each model starts from the same seed, whatever the other drew
            model = models[name] = make()
            print(f"{name}: {count(model):,} parameters")
            results[name] = train(model, train_ids, held_out, dev, args)
    for name, r in results.items():
        print(f"{name:>11}: held-out perplexity {r['last']:.2f} at the end, best {r['best']:.2f} "
              f"(epoch {r['best_epoch']}), {r['per_epoch']:.2f} s/epoch, {count(models[name]):,} parameters")
    best = min(results, key=lambda k: results[k]["best"])
    print(f"lower best held-out perplexity: {best}")

if __name__ == "__main__":
    main()
