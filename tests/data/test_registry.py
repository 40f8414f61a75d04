"""The data-set registry: one DataSpec per data set the command line knows (anynet.data.registry)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import anynet
import anynet.data.images
from anynet.data import DATASETS, DataNotFoundError, Defaults, data_spec


def test_the_registry_names_the_command_lines_data_sets_in_order():
    assert list(DATASETS) == ["spiral", "fashion-mnist", "mnist"]
    assert all(spec.name == name for name, spec in DATASETS.items())


def test_shapes_and_classes():
    spiral = data_spec("spiral")
    assert not spiral.images and spiral.classes == 3 and spiral.features == 2
    assert spiral.input_shape(flat=True) == spiral.input_shape(flat=False) == (2,)  # points are never images
    for name in ("fashion-mnist", "mnist"):
        spec = data_spec(name)
        assert spec.images and spec.classes == 10
        assert spec.input_shape(flat=True) == (784,) and spec.input_shape(flat=False) == (1, 28, 28)
        assert spec.features == math.prod(spec.image_shape) == 784


def test_defaults_of_a_run():
    assert data_spec("spiral").defaults == Defaults(epochs=300, batch_size=30, lr=1.0, val_fraction=0.0,
                                                    hidden=30, layers=1)
    for name in ("fashion-mnist", "mnist"):
        assert data_spec(name).defaults == Defaults(epochs=5, batch_size=100, lr=0.1, val_fraction=0.1,
                                                    hidden=100, layers=2)


def test_the_spiral_loads_a_test_set_drawn_with_other_noise():
    train, test = data_spec("spiral").load(flatten=True)
    assert train.x.shape == test.x.shape == (300, 2)
    assert sorted(set(train.t.tolist())) == [0, 1, 2]
    assert not np.array_equal(train.x, test.x)
    np.testing.assert_array_equal(train.x, anynet.data.spiral()[0])


def test_an_image_loader_searches_the_given_folder_first(monkeypatch, tmp_path):
    monkeypatch.setattr(anynet.data.images, "SYSTEM_DATA", tmp_path / "system")
    with anynet.configure(data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache")):
        with pytest.raises(DataNotFoundError) as err:
            data_spec("mnist").load(flatten=False, path=tmp_path / "given", download=False)
    text = str(err.value)
    assert text.startswith("mnist: the files") and "downloading is off" in text
    assert text.index(str(tmp_path / "given")) < text.index(str(tmp_path / "data" / "mnist"))


def test_an_unknown_name_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="data_spec: unknown data set 'cifar': choose one of spiral, fashion-mnist, "
                                         "mnist"):
        data_spec("cifar")
    with pytest.raises(ValueError, match=r"data_spec: unknown data set \['mnist'\]"):
        data_spec(["mnist"])


def test_specs_and_the_registry_are_read_only():
    with pytest.raises(dataclasses.FrozenInstanceError):
        data_spec("spiral").classes = 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        data_spec("spiral").defaults.epochs = 1
    with pytest.raises(TypeError):
        DATASETS["cifar"] = DATASETS["mnist"]


# -- folders as data sets ---------------------------------------------------------------------------


def _shard_folders(root, n_train=120, n_test=30):
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), ("test", n_test)):
        t = rng.integers(0, 4, n)
        x = (rng.standard_normal((n, 1, 8, 8)) + t[:, None, None, None]).astype(np.float32)
        anynet.data.write_shards(x, t, root / part, shard_size=50, classes=4)
    return root


def test_a_folder_of_shards_is_a_data_set(tmp_path):
    spec = data_spec(str(_shard_folders(tmp_path)))
    assert spec.name == str(tmp_path) and spec.classes == 4 and spec.images
    assert spec.input_shape(flat=False) == (1, 8, 8) and spec.features == 64
    train, test = spec.load(flatten=True)
    assert isinstance(train, anynet.data.ArrayFiles) and train.x.shape == (120, 64) and len(test) == 30
    assert data_spec(str(tmp_path)) is spec  # read once while the folder is unchanged


def test_a_folder_without_a_test_part_holds_a_fixed_tenth_out(tmp_path):
    rng = np.random.default_rng(1)
    anynet.data.write_shards(rng.standard_normal((50, 3)).astype(np.float32), rng.integers(0, 2, 50), tmp_path)
    spec = data_spec(str(tmp_path))
    assert not spec.images and spec.input_shape(flat=False) == (3,)
    train, test = spec.load(flatten=False)
    again = spec.load(flatten=False)[1]
    assert len(train) == 45 and len(test) == 5 and np.array_equal(test.t, again.t)
    rows = np.concatenate([train.x.source_rows(slice(None)), test.x.source_rows(slice(None))])
    assert sorted(rows.tolist()) == list(range(50))
    (tmp_path / "index.json").unlink()
    with pytest.raises(ValueError, match="holds no class folders"):
        data_spec(str(tmp_path))  # no index: taken as an image folder, which it is not either


def test_anynet_train_and_evaluate_on_a_folder_of_shards(tmp_path, capsys):
    from anynet.cli import main

    data = str(_shard_folders(tmp_path / "shapes"))
    out = tmp_path / "run"
    assert main(["train", "--data", data, "--model", "simple-convnet", "--epochs", "2", "--batch-size", "20",
                 "--prefetch", "2", "--verbose", "0", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"training simple-convnet on {data} (108 samples)" in said  # 120 less a tenth for validation
    assert main(["evaluate", str(out / "checkpoint.npz")]) == 0
    assert capsys.readouterr().out.strip().endswith(said.strip().splitlines()[-1].split("test ")[-1])


def test_anynet_train_on_an_image_folder(tmp_path, capsys, monkeypatch):
    Image = pytest.importorskip("PIL.Image", reason="ImageFolder needs Pillow (the extra 'images')")
    from anynet.cli import main

    rng = np.random.default_rng(0)
    for part in ("train", "val"):
        for label, cls in enumerate(("a", "b")):
            (tmp_path / "pics" / part / cls).mkdir(parents=True)
            for i in range(5):
                a = rng.integers(0, 100, (16, 16, 3), dtype=np.uint8) + 150 * label
                Image.fromarray(a.astype(np.uint8), "RGB").save(tmp_path / "pics" / part / cls / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "pics", "--model", "lenet5", "--epochs", "2", "--batch-size", "4",
                 "--verbose", "0"]) == 0
    said = capsys.readouterr().out
    assert "training lenet5 on pics (9 samples)" in said and "test accuracy" in said
    assert (tmp_path / "runs" / "pics-lenet5" / "checkpoint.npz").exists()
