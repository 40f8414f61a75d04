"""MNIST and Fashion-MNIST from the standard IDX ``.gz`` files, found or downloaded."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from .. import config
from ..files import atomic_write
from .dataset import DataSet
from .idx import IDXError, read_idx

__all__ = ["DataNotFoundError", "data_search_path", "fashion_mnist", "mnist"]

_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# SHA-256 of the official downloads (distribution packages may recompress the
# files, so local copies are verified by their IDX headers and sizes instead).
_SOURCES = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }),
}
_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist", "mnist": "dataset-mnist"}


class DataNotFoundError(FileNotFoundError):
    """The data set's files are in none of the searched folders and could not be downloaded."""


SYSTEM_DATA = Path("/usr/share/datasets")  # where distribution packages put data sets


def data_search_path(name: str, path: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for data set ``name``, in order: ``path``, ``<data_dir>/<name>``,
    ``<data_dir>`` (``anynet.configure(data_dir=...)``; the ``anynet`` command takes it from
    ``$ANYNET_DATA``), the user cache (``<cache_dir>/<name>``, by default
    ``~/.cache/anynet/<name>``), ``/usr/share/datasets/<name>``."""
    settings = config.current()
    folders = [Path(path)] if path is not None else []
    if settings.data_dir is not None:
        root = Path(settings.data_dir)
        folders += [root / name, root]
    folders += [settings.cache_folder / name, SYSTEM_DATA / name]
    return folders


def _find(folder: Path, filename: str) -> Path | None:
    for candidate in (folder / filename, folder / filename[:-3]):  # .gz or unpacked
        if candidate.is_file():
            return candidate
    return None


def _download(name: str, folder: Path, timeout: float) -> None:
    base, sums = _SOURCES[name]
    folder.mkdir(parents=True, exist_ok=True)
    for filename in _FILES:
        if (folder / filename).is_file():
            continue
        with urllib.request.urlopen(base + filename, timeout=timeout) as response:
            payload = response.read()
        digest = hashlib.sha256(payload).hexdigest()
        if digest != sums[filename]:
            raise IDXError(f"{base + filename}: SHA-256 {digest} is not the official {sums[filename]}")
        with atomic_write(folder / filename) as f:
            f.write(payload)


def _locate(name: str, path, download: bool, timeout: float) -> Path:
    folders = data_search_path(name, path)
    for folder in folders:
        if all(_find(folder, f) for f in _FILES):
            return folder
    if download:
        target = Path(path) if path is not None else config.current().cache_folder / name
        try:
            _download(name, target, timeout)
            return target
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            reason = f"downloading from {_SOURCES[name][0]} failed ({err})"
    else:
        reason = "downloading is off"
    searched = "\n  ".join(str(f) for f in folders)
    raise DataNotFoundError(
        f"{name}: the files {', '.join(_FILES)} are not in any of:\n  {searched}\nand {reason}. "
        f"Put the four files in one of these folders (or name a folder holding a '{name}' folder with "
        f"anynet.configure(data_dir=...), or ANYNET_DATA for the anynet command); on Debian/Ubuntu: "
        f"apt-get install {_PACKAGES[name]}."
    )


def _load(name: str, path, normalize: bool, flatten: bool, one_hot: bool, download: bool,
          timeout: float) -> tuple[DataSet, DataSet]:
    folder = _locate(name, path, download, timeout)
    sets = []
    for split, n in (("train", 60000), ("t10k", 10000)):
        x = read_idx(_find(folder, f"{split}-images-idx3-ubyte.gz"), (n, 28, 28))
        t = read_idx(_find(folder, f"{split}-labels-idx1-ubyte.gz"), (n,))
        if t.max() > 9:
            raise IDXError(f"{name}: {split} labels go up to {t.max()}, expected 0..9")
        x = x.astype(np.float32) / 255.0 if normalize else x
        x = x.reshape(n, 784) if flatten else x.reshape(n, 1, 28, 28)
        t = np.eye(10, dtype=np.float32)[t] if one_hot else t.astype(np.int64)
        sets.append(DataSet(x, t, f"{name} {'train' if split == 'train' else 'test'}"))
    return sets[0], sets[1]


def mnist(path=None, normalize: bool = True, flatten: bool = True, one_hot: bool = False,
          download: bool = True, timeout: float = 10.0) -> tuple[DataSet, DataSet]:
    """MNIST digits as (train, test) DataSets of 60000 and 10000 samples, like the book's ``load_mnist``.

    x: (N, 784), or (N, 1, 28, 28) with ``flatten=False``; float32 in [0, 1] when
    ``normalize`` (else uint8 0..255). t: (N,) int64, or (N, 10) float32 ``one_hot``.
    Files are searched in ``data_search_path("mnist", path)``, else downloaded
    (SHA-256 checked) when ``download`` and a network exists.
    """
    return _load("mnist", path, normalize, flatten, one_hot, download, timeout)


def fashion_mnist(path=None, normalize: bool = True, flatten: bool = True, one_hot: bool = False,
                  download: bool = True, timeout: float = 10.0) -> tuple[DataSet, DataSet]:
    """Fashion-MNIST (https://arxiv.org/abs/1708.07747) as (train, test) DataSets; options as ``mnist``."""
    return _load("fashion-mnist", path, normalize, flatten, one_hot, download, timeout)
