"""The data sets the ``anynet`` command knows, each described once: how to load it, the shape of
one example (flat, and as an image where it is one), its class count, and the training defaults
that suit it.

    spec = anynet.data.data_spec("fashion-mnist")
    spec.input_shape(flat=False), spec.classes      # (1, 28, 28), 10
    train, test = spec.load(flatten=True)           # DataSets, x (N, 784)

A folder stands for a data set too (``data_spec("path/to/folder")``, ``anynet train --data FOLDER``):
shards written by ``write_shards`` or an image folder (one sub-folder per class), the whole set,
or its ``train`` and ``test`` (or ``val``) parts in sub-folders of those names.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import types
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .dataset import DataSet, as_dataset
from .folder import ImageFolder
from .images import fashion_mnist, mnist
from .shards import INDEX, ArrayFiles, ShardError
from .synthetic import spiral

__all__ = ["DATASETS", "DataSpec", "Defaults", "data_spec", "folder_spec"]


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

    - ``name``: one of ``DATASETS``, or a folder: shards of ``write_shards`` or an image folder,
      whole or split into ``train`` and ``test`` (or ``val``) sub-folders. A folder without a test
      part gives a fixed tenth of its samples (drawn with seed 0) as the test set.

    **Returns:** its ``DataSpec``; a ValueError naming the known ones for any other name.
    """
    if isinstance(name, str) and name in DATASETS:
        return DATASETS[name]
    if isinstance(name, (str, os.PathLike)) and os.path.isdir(name):
        return folder_spec(name)
    raise ValueError(f"data_spec: unknown data set {name!r}: choose one of {', '.join(DATASETS)}, "
                     "or a folder of shards (anynet.data.write_shards) or of images")


_FOLDERS: dict[tuple[str, int], DataSpec] = {}  # a folder's spec, while its listing is unchanged


def folder_spec(path: str | os.PathLike) -> DataSpec:
    """The ``DataSpec`` of the data set in folder ``path`` (see ``data_spec``): its shape and classes
    from the shards' index or the image folder's listing; the training defaults of image data."""
    key = (os.path.realpath(path), os.stat(path).st_mtime_ns)
    if key not in _FOLDERS:
        train, test = _open_parts(Path(path))
        classes = train.classes if isinstance(train, ArrayFiles) else len(train.classes)
        if not isinstance(classes, int):
            raise ShardError(f"{path}: the index records no number of classes (labels that are no class "
                             "indices); write the shards with write_shards(..., classes=K)")
        shape = tuple(train.x.sample_shape)

        def loader(_path: str | os.PathLike | None, flatten: bool, _download: bool) -> tuple[DataSet, DataSet]:
            return tuple(_flat(part, flatten) for part in _open_parts(Path(path)))

        _FOLDERS[key] = DataSpec(str(path), loader, (math.prod(shape),), shape if len(shape) == 3 else None,
                                 classes, _IMAGE_DEFAULTS)
    return _FOLDERS[key]


def _open_parts(root: Path) -> tuple[DataSet, DataSet]:
    """(train, test) of a data folder: its train and test (or val) sub-folders, or the whole folder
    and a fixed tenth of it."""
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        train = _open(root / "train", f"{root.name} train")
        if isinstance(train, ImageFolder):
            C, H, W = train.x.sample_shape
            test = ImageFolder(test_dir, size=(H, W), channels=C, name=f"{root.name} test")
            if test.classes != train.classes:
                raise ValueError(f"ImageFolder: {test_dir} holds the classes {test.classes}, "
                                 f"{root / 'train'} holds {train.classes}")
        else:
            test = _open(test_dir, f"{root.name} test")
        return train, test
    whole = _open(root, root.name)
    order = np.random.default_rng(0).permutation(len(whole))
    n_test = max(1, len(whole) // 10)
    return (whole.subset(np.sort(order[n_test:]), f"{root.name} train"),
            whole.subset(np.sort(order[:n_test]), f"{root.name} test"))


def _open(folder: Path, name: str) -> DataSet:
    return ArrayFiles(folder, name=name) if (folder / INDEX).is_file() else ImageFolder(folder, name=name)


def _flat(data: DataSet, flatten: bool) -> DataSet:
    if not flatten:
        return data
    view = copy.copy(data)
    view.x = data.x.reshaped((math.prod(data.x.sample_shape),))
    return view
