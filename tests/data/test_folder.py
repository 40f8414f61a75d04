"""Folders of images with labels from sub-folder names (anynet.data.folder.ImageFolder)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from anynet.data import ImageFolder, train_val_split

Image = pytest.importorskip("PIL.Image", reason="ImageFolder needs Pillow (the extra 'images')")


def make_folder(root, classes=("dog", "cat", "ant"), per=2, size=(10, 14), mode="RGB", seed=0):
    """root/<class>/<i>.png with random pixels; returns {path: pixels}."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for cls in classes:
        (root / cls / "more").mkdir(parents=True)
        for i in range(per):
            shape = size if mode == "L" else (*size, 3)
            a = rng.integers(0, 256, shape, dtype=np.uint8)
            path = root / cls / ("more" if i else "") / f"{i}.png"
            Image.fromarray(a, mode).save(path)
            pixels[path] = a
    (root / classes[-1] / "notes.txt").write_text("not an image")
    return pixels


def test_sorted_class_folders_are_the_labels_and_images_decode_on_demand(tmp_path):
    pixels = make_folder(tmp_path)
    data = ImageFolder(tmp_path)
    assert data.classes == ["ant", "cat", "dog"]
    assert data.t.tolist() == [0, 0, 1, 1, 2, 2]
    assert data.x.shape == (6, 3, 10, 14) and data.x.dtype == np.float32 and not data.in_memory
    reads = data.x.log_reads()
    first = data.x[[3, 0]]
    assert [r.tolist() for r in reads] == [[3, 0]]  # only the images asked for are decoded
    np.testing.assert_allclose(first[1], pixels[tmp_path / "ant" / "0.png"].transpose(2, 0, 1) / 255.0)
    np.testing.assert_allclose(first[0], pixels[tmp_path / "cat" / "more" / "1.png"].transpose(2, 0, 1) / 255.0)
    train, val = train_val_split(data, 2)
    assert isinstance(train, ImageFolder) and len(train) == 4 and train.x[:].shape == (4, 3, 10, 14)


def test_images_are_resized_to_cover_and_centre_cropped(tmp_path):
    pixels = make_folder(tmp_path, classes=("a",), per=1, size=(10, 20), mode="L")
    data = ImageFolder(tmp_path, size=(4, 6))
    assert data.x.shape == (1, 1, 4, 6)
    img = Image.fromarray(pixels[tmp_path / "a" / "0.png"]).resize((8, 4), Image.BILINEAR)  # covers 4 x 6
    expected = np.asarray(img, np.float32)[:, 1:7] / 255.0  # the centre 6 of 8 columns
    np.testing.assert_allclose(data.x[0][0], expected, atol=1e-7)
    rgb = ImageFolder(tmp_path, size=3, channels=3)
    assert rgb.x[:].shape == (1, 3, 3, 3)
    flat = rgb.x.reshaped((27,))
    np.testing.assert_array_equal(flat[0], rgb.x[0].reshape(27))


def test_bad_folders_and_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="ImageFolder: .* is not a folder"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(ValueError, match="holds no class folders"):
        ImageFolder(tmp_path)
    make_folder(tmp_path, classes=("a",), per=1)
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match="the class folder .*b holds no images"):
        ImageFolder(tmp_path)
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    data = ImageFolder(tmp_path, size=4)
    with pytest.raises(ValueError, match="ImageFolder: cannot read .*broken.png"):
        data.x[1]
    with pytest.raises(ValueError, match="channels 1 or 3"):
        ImageFolder(tmp_path, size=4, channels=2)


def test_without_pillow_the_error_says_what_to_install(tmp_path, monkeypatch):
    make_folder(tmp_path, classes=("a",), per=1)
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(ImportError, match=r"pip install 'anynet\[images\]'"):
        ImageFolder(tmp_path)
