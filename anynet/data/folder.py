"""A folder of images, one sub-folder per class (``ImageFolder``), decoded with Pillow when a batch
asks for them (the extra ``images``: ``pip install 'anynet[images]'``).

    root/cat/001.jpg, root/cat/002.png, root/dog/xyz.jpg, ...    # labels: 0 = cat, 1 = dog
    train = anynet.data.ImageFolder("root", size=(64, 64))       # x: (N, 3, 64, 64) float32 in [0, 1]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import DataSet
from .rows import Rows

__all__ = ["EXTENSIONS", "ImageFolder"]

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
"""The file endings ``ImageFolder`` reads as images (compared in lower case)."""
_GRAY = ("1", "L", "LA", "I", "I;16", "F")


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("ImageFolder decodes images with Pillow, which is not installed: "
                          "pip install 'anynet[images]' (or pip install Pillow)") from None
    return Image


class ImageRows(Rows):
    """The inputs of an ``ImageFolder``: image files decoded, converted to ``channels`` channels,
    resized so that they cover ``size`` (keeping their aspect) and centre-cropped to it, as float32
    (C, H, W) in [0, 1]."""

    def __init__(self, files: list[Path], size: tuple[int, int], channels: int, name: str):
        super().__init__(len(files), (channels, *size), np.float32, name)
        self.files = files

    def _read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.source_shape), np.float32)
        for i, row in enumerate(rows):
            out[i] = self.decode(self.files[row])
        return out

    def decode(self, path: Path) -> np.ndarray:
        """One image as (C, H, W) float32 in [0, 1] (ValueError naming the file if it cannot be read)."""
        Image = _pillow()
        C, H, W = self.source_shape
        mode = "L" if C == 1 else "RGB"
        try:
            with Image.open(path) as img:
                img.draft(mode, (W, H))  # JPEG: decode at a reduced scale still at least this size
                img = img.convert(mode)
                scale = max(H / img.height, W / img.width)
                w, h = max(W, round(img.width * scale)), max(H, round(img.height * scale))
                if (w, h) != img.size:
                    img = img.resize((w, h), Image.BILINEAR)
                left, top = (w - W) // 2, (h - H) // 2
                a = np.asarray(img.crop((left, top, left + W, top + H)), dtype=np.float32)
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise ValueError(f"ImageFolder: cannot read {path}: {err}") from None
        return (a[None] if C == 1 else a.transpose(2, 0, 1)) / 255.0


class ImageFolder(DataSet):
    """Images in one sub-folder per class; the sorted sub-folder names are the classes (label 0 is
    the first). Listing the files is all that opening does; a batch decodes only its images.
    x: (N, C, H, W) float32 in [0, 1]; t: (N,) int64.

    **Arguments:**

    - ``root``: the folder of class folders (their images are found at any depth, in sorted order).
    - ``size``: (H, W) or one number for squares: every image is resized to cover it and
      centre-cropped to it (default: the first image's size).
    - ``channels``: 1 (grey) or 3 (RGB) (default: 1 when the first image is grey, else 3).
    - ``extensions``: the file endings taken as images (case ignored).
    - ``name``: what errors and the trainer call it (default: the folder).
    """

    def __init__(self, root: str | os.PathLike, size: int | tuple[int, int] | None = None,
                 channels: int | None = None, extensions: tuple[str, ...] = EXTENSIONS, name: str | None = None):
        root = Path(root)
        self.name = name or str(root)
        if not root.is_dir():
            raise FileNotFoundError(f"ImageFolder: {root} is not a folder")
        self.classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not self.classes:
            raise ValueError(f"ImageFolder: {root} holds no class folders; expected root/<class>/<image>")
        files, labels = [], []
        for label, cls in enumerate(self.classes):
            found = _images(root / cls, extensions)
            if not found:
                raise ValueError(f"ImageFolder: the class folder {root / cls} holds no images "
                                 f"({', '.join(extensions)})")
            files += found
            labels += [label] * len(found)
        if size is None or channels is None:
            first_size, first_channels = _probe(files[0])
            size = first_size if size is None else size
            channels = first_channels if channels is None else channels
        size = (size, size) if isinstance(size, int) else tuple(size)
        if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size) or channels not in (1, 3):
            raise ValueError(f"ImageFolder: size must be (H, W) of positive integers and channels 1 or 3, "
                             f"got size={size!r}, channels={channels!r}")
        self.x = ImageRows(files, size, channels, self.name)
        self.t = np.asarray(labels, dtype=np.int64)

    def __repr__(self) -> str:
        return (f"ImageFolder({self.name!r}, x={self.x.shape} {self.x.dtype}, {len(self.classes)} classes: "
                f"{', '.join(self.classes[:5])}{', ...' if len(self.classes) > 5 else ''})")


def _images(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    ends = tuple(e.lower() for e in extensions)
    found = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(top) / n for n in sorted(names) if n.lower().endswith(ends) and not n.startswith(".")]
    return found


def _probe(path: Path) -> tuple[tuple[int, int], int]:
    """((H, W), channels) of the image at ``path``, from its header."""
    Image = _pillow()
    try:
        with Image.open(path) as img:
            return (img.height, img.width), 1 if img.mode in _GRAY else 3
    except (OSError, ValueError) as err:
        raise ValueError(f"ImageFolder: cannot read {path}: {err}") from None
