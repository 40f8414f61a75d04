"""A character-level language model (many-to-many) on a short text this file carries.

    PYTHONPATH=. python3 examples/char_lm.py --cell lstm --epochs 30
    PYTHONPATH=. python3 examples/char_lm.py --device torch:cpu --cell gru

LanguageModel = TimeEmbedding - stateful Time{RNN,LSTM,GRU} - TimeAffine, trained with
TimeSoftmaxWithLoss by truncated backprop through time (the state runs on from
batch to batch, the gradient stops at each batch's start), gradients clipped by
global norm. Prints the held-out perplexity before and after training, then samples text.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import anynet
from anynet.optim.hooks import ClipByNorm

TEXT = """\
The little robot woke before the sun and walked down to the river. Every morning it counted \
the stones on the bank, and every morning the river had moved a few of them. The robot did \
not mind. It wrote the new number in its notebook, drew a small picture of the water, and \
went back up the hill to the house where the old gardener lived.
The gardener asked the robot what it had seen. The robot said that the river had moved three \
stones and that the heron had come back to the reeds. The gardener laughed and said that the \
river was always busy and the heron was always hungry. Then they drank their tea, one of them \
with milk and one of them with oil, and watched the fog lift from the valley.
In the afternoon they worked in the garden. The robot pulled the weeds and the gardener planted \
the beans. When the rain came they sat under the apple tree and told each other stories about \
the river, the heron, the stones and the sun. At night the robot read its notebook again, and \
it learned that a day can be counted in stones, in stories, or in cups of tea.
"""


def batches(ids: np.ndarray, batch_size: int, time_size: int):
    """(x, t) chunks of (batch_size, time_size) ids for truncated BPTT: row b reads the text
    from offset b * len / batch_size on, so each row continues where it stopped."""
    n = (len(ids) - 1) // batch_size
    xs = np.stack([ids[b * n:(b + 1) * n] for b in range(batch_size)])
    ts = np.stack([ids[b * n + 1:(b + 1) * n + 1] for b in range(batch_size)])
    for start in range(0, n - time_size + 1, time_size):
        yield xs[:, start:start + time_size], ts[:, start:start + time_size]


def perplexity(model, loss, ids, dev, time_size: int) -> float:
    """exp(mean cross-entropy) of the next character over ``ids``, read by one stateful stream."""
    model.reset_state()
    total, count = 0.0, 0
    for x, t in batches(ids, 1, time_size):
        y = model.predict(anynet.to_device(x, dev))
        total = total + loss.forward(y, anynet.to_device(t, dev)) * t.size
        count += t.size
    model.reset_state()
    return math.exp(float(total) / count)


def sample(model, dev, start_id: int, length: int, temperature: float = 0.8) -> list[int]:
    """Draw ``length`` characters one at a time, each fed back as the next input."""
    rng = anynet.backend.host_rng()
    model.reset_state()
    out, token = [start_id], start_id
    for _ in range(length):
        y = anynet.to_numpy(model.predict(anynet.to_device(np.array([[token]]), dev)))[0, -1] / temperature
        p = np.exp(y - y.max())
        token = int(rng.choice(len(p), p=p / p.sum()))
        out.append(token)
    model.reset_state()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    parser.add_argument("--embed", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--time-size", type=int, default=25)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--lr", type=float, default=None, help="default: 0.005 with Adam, 2.0 with SGD")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    anynet.seed(args.seed)
    chars = sorted(set(TEXT))
    ids = np.array([chars.index(c) for c in TEXT], dtype=np.int64)
    split = int(len(ids) * 0.9)
    train, held_out = ids[:split], ids[split:]
    with anynet.device(args.device) as dev:
        model = anynet.models.LanguageModel(len(chars), args.embed, args.hidden, cell=args.cell,
                                            layers=args.layers, dropout=args.dropout)
        loss = anynet.TimeSoftmaxWithLoss()
        clip = [ClipByNorm(5.0)]
        if args.optimizer == "adam":
            opt = anynet.Adam(lr=args.lr or 5e-3, hooks=clip)
        else:
            opt = anynet.SGD(lr=args.lr or 2.0, hooks=clip)
        print(f"{args.cell.upper()} {args.layers}x{args.hidden} language model, {len(chars)} characters, "
              f"{len(train)} to train on, {len(held_out)} held out, {type(opt).__name__}, on {dev.name}")
        before = perplexity(model, loss, held_out, dev, args.time_size)
        print(f"held-out perplexity before training: {before:.2f} (a uniform guess: {len(chars)})")
        seconds = 0.0
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            model.reset_state()
            model.train()
            total, count = 0.0, 0
            for x, t in batches(train, args.batch_size, args.time_size):
                y = model.forward(anynet.to_device(x, dev))
                total = total + loss.forward(y, anynet.to_device(t, dev))
                count += 1
                model.backward(loss.backward())
                opt.update(model.params)
            total = float(total)  # one sync per epoch
            seconds += time.perf_counter() - start
            if epoch % max(1, args.epochs // 8) == 0 or epoch == args.epochs:
                print(f"epoch {epoch}: train perplexity {math.exp(total / count):.2f}", flush=True)
        after = perplexity(model, loss, held_out, dev, args.time_size)
        print(f"held-out perplexity after training: {after:.2f}; {seconds / args.epochs:.2f} s/epoch")
        text = "".join(chars[i] for i in sample(model, dev, chars.index("T"), 300))
    print("sample:\n" + text)


if __name__ == "__main__":
    main()
