"""Run by tests/training/parallel/test_files.py under ``mpiexec -n 2``: ``python files_worker.py OUT FOLDER``.

Every rank trains two epochs on the shards in FOLDER with batches prepared ahead, recording the
rows it reads from the files; rank 0 writes every rank's rows, by epoch, as JSON to OUT.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

import anynet
from anynet.data import ArrayFiles
from anynet.losses import SoftmaxWithLoss
from anynet.models import MLP
from anynet.optim import SGD
from anynet.training import Callback, parallel


class Marks(Callback):
    """How many reads the files had served at the start and at the end of each epoch."""

    def __init__(self, reads: list):
        self.reads, self.marks = reads, []

    def on_train_begin(self, trainer):
        self.marks.append(len(self.reads))

    def on_epoch_end(self, trainer, epoch, logs):
        self.marks.append(len(self.reads))


def main(out: str, folder: str) -> None:
    group = parallel.init()
    files = ArrayFiles(folder)
    reads = files.x.log_reads()
    marks = Marks(reads)
    anynet.seed(5 + group.rank)  # other weights on each rank: rank 0's arrive by broadcast
    model = MLP(6, [8], 3)
    trainer = anynet.Trainer(model, SoftmaxWithLoss(), SGD(lr=0.1), callbacks=[marks], verbose=0, group=group)
    trainer.fit(files, epochs=2, batch_size=4, prefetch=2)
    m = marks.marks
    epochs = [sorted(int(r) for read in reads[lo:hi] for r in read) for lo, hi in zip(m[:-1], m[1:])]
    probe = sorted(int(r) for read in reads[:m[0]] for r in read)
    weights = b"".join(np.ascontiguousarray(anynet.to_numpy(p.data)).tobytes() for p in model.params)
    ranks = group.gather({"epochs": epochs, "before": probe, "digest": hashlib.sha256(weights).hexdigest(),
                          "loss": trainer.history["loss"]})
    if group.is_root:
        with open(out, "w") as f:
            json.dump({"n": len(files), "ranks": ranks}, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
