"""The data sets the ``anynet`` command knows, each described once: how to load it, the shape of
one example (flat, and as an image where it is one), its class count, and the training defaults
that suit it.

    spec = anynet.data.data_spec("fashion-mnist")
    spec.input_shape(flat=False), spec.classes      # (1, 28, 28), 10
    train, test = spec.load(flatten=True)           # DataSets, x (N, 784)
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
from typing import Callable, Mapping

from .dataset import DataSet, as_dataset
from .images import fashion_mnist, mnist
from .synthetic import spiral

__all__ = ["DATASETS", "DataSpec", "Defaults", "data_spec"]


@dataclasses.dataclass(frozen=True)
class Defaults:
    """What a run on a data set uses when it is not told otherwise.

    **Arguments:**

    - ``epochs``, ``batch_size`` (0: the whole set in one batch), ``lr``: the training defaults.
    - ``val_fraction``: the share of the training set held out for validation.
    - ``hidden``, ``layers``: an MLP's hidden width and its number of hidden layers.
    """

    epochs: int
    batch_size: int
    lr: float
    val_fraction: float
    hidden: int
    layers: int


Loader = Callable[[str | os.PathLike | None, bool, bool], tuple[DataSet, DataSet]]


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """One data set: its loader, the shape of one example, its classes and its defaults.

    **Arguments:**

    - ``name``: the name the command line uses (``--data NAME``).
    - ``loader``: ``loader(path, flatten, download) -> (train, test)`` host DataSets.
    - ``flat_shape``: one example as a vector, e.g. ``(784,)``.
    - ``image_shape``: one example as an image ``(C, H, W)``; None for data that are no images.
    - ``classes``: the number of label classes.
    - ``defaults``: the ``Defaults`` of a run on it.
    """

    name: str
    loader: Loader
    flat_shape: tuple[int, ...]
    image_shape: tuple[int, ...] | None
    classes: int
    defaults: Defaults

    @property
    def images(self) -> bool:
        """Whether the examples are images (what convolutional networks need)."""
        return self.image_shape is not None

    @property
    def features(self) -> int:
        """The length of one flat example (an MLP's input size)."""
        return math.prod(self.flat_shape)

    def input_shape(self, flat: bool) -> tuple[int, ...]:
        """One example's shape: flat, or as an image (data that are no images are always flat)."""
        return self.flat_shape if flat or self.image_shape is None else self.image_shape

    def load(self, flatten: bool, path: str | os.PathLike | None = None,
             download: bool = True) -> tuple[DataSet, DataSet]:
        """The (train, test) host DataSets.

        **Arguments:**

        - ``flatten``: x as (N, *flat_shape) instead of (N, *image_shape).
        - ``path``: a folder searched first for the files (where the data set has files).
        - ``download``: fetch missing files when a network exists.

        **Returns:** (train, test) DataSets.
        """
        return self.loader(path, flatten, download)


def _spiral(path: str | os.PathLike | None, flatten: bool, download: bool) -> tuple[DataSet, DataSet]:
    """Generated, so ``path`` and ``download`` do not apply; the test set is drawn with other noise."""
    return as_dataset(spiral(), "spiral train"), as_dataset(spiral(seed=2024), "spiral test")


def _idx(load: Callable[..., tuple[DataSet, DataSet]]) -> Loader:
    def loader(path: str | os.PathLike | None, flatten: bool, download: bool) -> tuple[DataSet, DataSet]:
        return load(path, flatten=flatten, download=download)

    return loader


_IMAGE_DEFAULTS = Defaults(epochs=5, batch_size=100, lr=0.1, val_fraction=0.1, hidden=100, layers=2)

DATASETS: Mapping[str, DataSpec] = types.MappingProxyType({spec.name: spec for spec in (
    DataSpec("spiral", _spiral, (2,), None, 3,
             Defaults(epochs=300, batch_size=30, lr=1.0, val_fraction=0.0, hidden=30, layers=1)),
    DataSpec("fashion-mnist", _idx(fashion_mnist), (784,), (1, 28, 28), 10, _IMAGE_DEFAULTS),
    DataSpec("mnist", _idx(mnist), (784,), (1, 28, 28), 10, _IMAGE_DEFAULTS),
)})
"""Every known data set by name, in the order the command line lists them."""


def data_spec(name: str) -> DataSpec:
    """The ``DataSpec`` of data set ``name``.

    **Arguments:**

    - ``name``: one of ``DATASETS``.

    **Returns:** its ``DataSpec``; a ValueError naming the known ones for any other name.
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"data_spec: unknown data set {name!r}: choose one of {', '.join(DATASETS)}") from None
