"""The checks ``Trainer.fit`` and ``Trainer.evaluate`` run on a data set before anything changes:
labels within the model's outputs, ids within its embedding's rows (read on the host, where CuPy
would wrap out-of-range indices around)."""

from __future__ import annotations

from typing import Any

from ..data.dataset import DataSet

__all__ = ["check_ids", "check_label_range"]


def check_label_range(where: str, data: DataSet, y: Any, ignore: int | None) -> None:
    """Integer class labels (ignoring ``ignore``) must index the model's outputs: y (..., C), t (...)."""
    t = data.t
    if t.dtype.kind not in "iu" or y.ndim != t.ndim + 1:
        return
    n_classes = y.shape[-1]
    used = t if ignore is None else t[t != ignore]
    if used.size and (int(used.min()) < 0 or int(used.max()) >= n_classes):
        raise ValueError(f"Trainer.{where}: labels must lie in [0, {n_classes}) for a model with {n_classes} "
                         f"outputs, the {data.name} data holds values in [{int(used.min())}, {int(used.max())}]")


def check_ids(where: str, model: Any, data: DataSet) -> None:
    """Integer inputs (embedding ids, any shape) against the rows of the model's first layer."""
    n_ids = model.input_ids
    if n_ids is not None and data.x.dtype.kind in "iu" and data.x.size:
        lo, hi = int(data.x.min()), int(data.x.max())
        if lo < 0 or hi >= n_ids:
            raise ValueError(f"Trainer.{where}: ids must lie in [0, {n_ids}) for a model whose embedding has "
                             f"{n_ids} rows, the {data.name} data holds values in [{lo}, {hi}]")
