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
