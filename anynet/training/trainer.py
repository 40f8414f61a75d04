"""Training loop: shuffled mini-batches from host data, on the model's device."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import numpy as np

from .. import backend
from ..checks import check_finite
from ..metrics import accuracy

__all__ = ["Trainer"]


class Trainer:
    """Trains ``model`` with ``loss`` and ``optimizer`` on host arrays.

    Batches are gathered on the host and moved to the model's device; losses
    and accuracies stay on the device within an epoch and become Python floats
    once per epoch.
    """

    def __init__(self, model: Any, loss: Any, optimizer: Any, verbose: int = 1,
                 report: Callable[[str], None] | None = None):
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.verbose = verbose
        self.report = report or (lambda line: print(line, file=sys.stderr))
        self.history: dict[str, list[float]] = {"loss": [], "accuracy": []}

    def _batches(self, n: int, batch_size: int | None, shuffle: bool):
        order = backend.host_rng().permutation(n) if shuffle else np.arange(n)
        size = n if batch_size is None else batch_size
        for start in range(0, n, size):
            yield order[start:start + size]

    def fit(self, x: np.ndarray, t: np.ndarray, epochs: int = 1, batch_size: int | None = 100,
            report_every: int = 1) -> dict[str, list[float]]:
        """Train for ``epochs`` passes over (x, t); ``batch_size=None`` is full-batch descent."""
        x, t = np.asarray(x), np.asarray(t)
        if x.shape[0] != t.shape[0] or x.shape[0] == 0:
            raise ValueError(f"Trainer: x and t must hold the same, non-zero number of samples, got {x.shape} and {t.shape}")
        check_finite("Trainer", x, backend.namespace(x), "x")
        dev = self.model.device
        self.model.train()
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            total_loss, total_hits = 0.0, 0.0
            for idx in self._batches(x.shape[0], batch_size, shuffle=True):
                xb, tb = backend.to_device(x[idx], dev), backend.to_device(t[idx], dev)
                y = self.model.forward(xb, train=True)
                value = self.loss.forward(y, tb)
                self.model.backward(self.loss.backward())
                self.optimizer.update(self.model.params)
                total_loss = total_loss + value * len(idx)
                total_hits = total_hits + accuracy(y, tb) * len(idx)
            self.history["loss"].append(float(total_loss) / x.shape[0])
            self.history["accuracy"].append(float(total_hits) / x.shape[0])
            if self.verbose and (epoch % report_every == 0 or epoch == epochs):
                rate = x.shape[0] / (time.perf_counter() - start)
                self.report(f"epoch {epoch}/{epochs}  loss {self.history['loss'][-1]:.4f}  "
                            f"accuracy {self.history['accuracy'][-1]:.4f}  {rate:,.0f} samples/s")
        return self.history

    def evaluate(self, x: np.ndarray, t: np.ndarray, batch_size: int = 1000) -> tuple[float, float]:
        """Mean loss and accuracy over (x, t) in inference mode."""
        dev = self.model.device
        total_loss, total_hits = 0.0, 0.0
        for idx in self._batches(x.shape[0], batch_size, shuffle=False):
            xb, tb = backend.to_device(x[idx], dev), backend.to_device(t[idx], dev)
            y = self.model.predict(xb)
            total_loss = total_loss + self.loss.forward(y, tb) * len(idx)
            total_hits = total_hits + accuracy(y, tb) * len(idx)
        return float(total_loss) / x.shape[0], float(total_hits) / x.shape[0]
