"""Run by tests/training/parallel/test_parallel.py under ``mpiexec -n 2``: ``python mpi_worker.py OUT SCENARIO [ARGS]``.

Rank 0 writes what it measured as JSON to OUT; a scenario that finds something wrong says so
in the JSON rather than raising, so the test shows it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings

import numpy as np

import anynet
from anynet.losses import SoftmaxWithLoss
from anynet.models import MLP, SimpleConvNet
from anynet.optim import Adam, Momentum
from anynet.optim.hooks import ClipByNorm
from anynet.training import parallel

if "torch" in " ".join(sys.argv):
    import torch

    torch.set_num_threads(1)


def data(n: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)).astype(np.float32), rng.integers(0, 10, n)


def weights(model) -> dict[str, np.ndarray]:
    return {k: np.asarray(anynet.to_numpy(v)).copy() for k, v in model.state_dict().items()}


def largest_difference(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)


def build(name: str, spec: str, batchnorm: bool = False):
    with anynet.device(spec):
        if name == "mlp":
            return MLP(20, [16, 16], 10, batchnorm=batchnorm)
        return SimpleConvNet((1, 12, 12), 10, filter_num=4, filter_size=3, hidden_size=16)


def equal(group, spec: str, name: str, steps: int = 3, per_rank: int = 8) -> dict:
    """k steps on 2 ranks (batch per_rank each) against 1 process on the concatenated batches; the
    last global batch holds 3 samples (2 + 1: the ranks' gradients weigh by their share). Each
    rank starts from other weights: rank 0's arrive by broadcast."""
    x, t = data(steps * per_rank * group.size + 3, (20,) if name == "mlp" else (1, 12, 12))

    def run(g, batch):
        anynet.seed(100 + g.rank)
        model = build(name, g.device(spec))  # "cuda": the GPU of the local rank
        opt = Momentum(lr=0.1, hooks=[ClipByNorm(0.5)])  # a clip sees the global gradient or differs
        trainer = anynet.Trainer(model, SoftmaxWithLoss(), opt, verbose=0, group=g)
        trainer.fit((x, t), epochs=1, batch_size=batch, shuffle=False)
        return weights(model), trainer.history["loss"][0]

    two, loss_two = run(group, per_rank)
    result = {}
    if group.is_root:
        one, loss_one = run(parallel.Group(), per_rank * group.size)
        result = {"max_diff": largest_difference(two, one), "loss_two": loss_two, "loss_one": loss_one,
                  "scale": max(float(np.max(np.abs(v))) for v in one.values())}
    ranks = group.gather(weights_digest(two))
    result["same_on_ranks"] = all(r == ranks[0] for r in ranks)
    return result


def weights_digest(w: dict) -> str:
    import hashlib

    return hashlib.sha256(b"".join(np.ascontiguousarray(w[k]).tobytes() for k in sorted(w))).hexdigest()


def shards(group) -> dict:
    """Indices each rank trains on, over 3 epochs of a shuffled sharded loader (23 samples, batch 4)."""
    from anynet.data.dataset import DataLoader

    n = 23
    x, t = np.arange(n, dtype=np.float32)[:, None], np.arange(n)
    loader = DataLoader((x, t), batch_size=4, shard=(group.rank, group.size), seed=5)
    epochs = []
    for epoch in range(1, 4):
        loader.epoch = epoch
        epochs.append([int(i) for _, tb in loader for i in np.asarray(tb)])
    everyone = group.gather(epochs)
    return {"n": n, "epochs": [[everyone[r][e] for r in range(group.size)] for e in range(3)],
            "steps": group.gather(len(loader))}


def resume(group, spec: str, folder: str) -> dict:
    """4 epochs straight against 2 epochs, a checkpoint, then 2 more from it (dropout and
    BatchNorm, so random streams and buffers matter); every rank compares its own weights."""
    x, t = data(48, (20,), seed=3)

    def trainer_for(seed, callbacks=()):
        anynet.seed(seed)
        with anynet.device(spec):
            model = MLP(20, [16], 10, dropout=0.3, batchnorm=True)
        return anynet.Trainer(model, SoftmaxWithLoss(), Adam(lr=0.01), verbose=0, group=group,
                              callbacks=callbacks)

    straight = trainer_for(1)
    straight.fit((x, t), epochs=4, batch_size=6)
    path = os.path.join(folder, "ckpt.npz")
    first = trainer_for(1, [anynet.training.Checkpoint(path)])
    first.fit((x, t), epochs=2, batch_size=6)
    group.comm.Barrier()  # rank 0 wrote the file
    second = trainer_for(99)  # other weights and streams: all must come from the file
    second.fit((x, t), epochs=4, batch_size=6, resume=path)
    diff = largest_difference(weights(straight.model), weights(second.model))
    return {"max_diffs": group.gather(diff), "history_same": straight.history["loss"] == second.history["loss"]}


def diverge(group, folder: str) -> dict:
    """The learning rate explodes after epoch 1: every rank stops in epoch 2 together and the
    checkpoint on disk is epoch 1's."""

    class Explode(anynet.training.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            trainer.optimizer.lr = 1e30

    x, t = data(40, (20,), seed=6)
    path = os.path.join(folder, "diverge.npz")
    trainer = anynet.Trainer(MLP(20, [8], 10), SoftmaxWithLoss(), Momentum(lr=0.01), verbose=0, group=group,
                             callbacks=[anynet.training.Checkpoint(path), Explode()])
    try:
        trainer.fit((x, t), epochs=5, batch_size=5)
    except anynet.training.TrainingDiverged:
        pass  # raised rather than warned where the trainer does so
    group.comm.Barrier()
    saved = anynet.training.checkpoint.read(path)[0]["trainer"]["epoch"] if group.is_root else None
    return {"epochs": group.gather(trainer.epoch), "diverged": group.gather(trainer.diverged), "saved_epoch": saved}


def syncbn(group, spec: str, steps: int = 2, per_rank: int = 6) -> dict:
    """Synchronised BatchNorm on 2 ranks against plain BatchNorm in 1 process on the global batch."""
    x, t = data(steps * per_rank * group.size, (20,), seed=4)

    def run(g, batch):
        anynet.seed(5)
        model = build("mlp", spec, batchnorm=True)
        parallel.synchronize_batchnorm(model, g)
        trainer = anynet.Trainer(model, SoftmaxWithLoss(), Momentum(lr=0.1), verbose=0, group=g)
        trainer.fit((x, t), epochs=1, batch_size=batch, shuffle=False)
        return weights(model)

    two = run(group, per_rank)
    return {"max_diff": largest_difference(two, run(parallel.Group(), per_rank * group.size))} \
        if group.is_root else {}


def fail(group) -> dict:
    """Rank 1 raises in the middle of training while rank 0 waits in an all-reduce."""

    class Boom(anynet.training.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if group.rank == 1 and epoch == 2:
                raise RuntimeError("bad data on this rank")

    x, t = data(40, (20,))
    trainer = anynet.Trainer(MLP(20, [8], 10), SoftmaxWithLoss(), Momentum(), verbose=0, group=group,
                             callbacks=[Boom()])
    trainer.fit((x, t), epochs=1000, batch_size=5)
    return {"finished": True}


def mismatch(group) -> dict:
    """Rank 1 builds a wider model: refused at start on every rank."""
    x, t = data(40, (20,))
    model = MLP(20, [8 + group.rank], 10)
    anynet.Trainer(model, SoftmaxWithLoss(), Momentum(), verbose=0, group=group).fit((x, t), epochs=1)
    return {"finished": True}


def disagree(group) -> dict:
    """Ranks that disagree on the epochs, then on the learning rate: refused at start on every
    rank (they would hang, or train different replicas)."""
    x, t = data(40, (20,))
    out = {}
    for name, epochs, lr in (("epochs", 2 + group.rank, 0.1), ("lr", 2, 0.1 * (1 + group.rank))):
        try:
            anynet.Trainer(MLP(20, [8], 10), SoftmaxWithLoss(), Momentum(lr=lr), verbose=0,
                           group=group).fit((x, t), epochs=epochs)
            out[name] = "trained"
        except parallel.DistributedError as err:
            out[name] = str(err)
    return out


def main() -> None:
    out, scenario, *args = sys.argv[1:]
    group = parallel.init()
    if scenario == "all":
        specs = args
        result = {"size": group.size, "equal": {}, "resume": {}}
        for spec in specs:
            result["equal"][f"mlp {spec}"] = equal(group, spec, "mlp")
        result["equal"]["simple-convnet cpu"] = equal(group, "cpu", "convnet")
        if "torch:cpu" in specs:
            result["equal"]["simple-convnet torch:cpu"] = equal(group, "torch:cpu", "convnet")
        result["shards"] = shards(group)
        folder = group.share(tempfile.mkdtemp(prefix="anynet-mpi-"))
        result["resume"]["cpu"] = resume(group, "cpu", folder)
        result["syncbn"] = syncbn(group, "cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the divergence warning, expected
            result["diverge"] = diverge(group, folder)
    else:
        result = globals()[scenario](group)
    if group.is_root:
        with open(out, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
