"""What a run builds (anynet.cli.build): the model description, models, schedules, optimizers."""

from __future__ import annotations

import dataclasses

import pytest

import anynet
from anynet.cli import OPTIMIZERS, UsageError
from anynet.cli.build import ModelSpec, build_model


def test_the_model_defaults_are_the_data_sets():
    assert ModelSpec.of("mlp", "spiral") == ModelSpec("mlp", "spiral", hidden=30, layers=1)
    assert ModelSpec.of("mlp", "fashion-mnist") == ModelSpec("mlp", "fashion-mnist", hidden=100, layers=2)
    assert ModelSpec.of("mlp", "spiral", hidden=5, layers=3).hidden == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelSpec.of("mlp", "spiral").hidden = 7


def test_models_take_their_sizes_from_the_registry():
    spiral = build_model("mlp", "spiral")
    assert [tuple(p.data.shape) for p in spiral.params] == [(2, 30), (30,), (30, 3), (3,)]
    mnist = build_model("mlp", "mnist", hidden=16, layers=1)
    assert [tuple(p.data.shape) for p in mnist.params] == [(784, 16), (16,), (16, 10), (10,)]
    x = anynet.backend.as_device("cpu").zeros((2, *ModelSpec.of("lenet5", "mnist").example_shape()))
    assert tuple(build_model("lenet5", "mnist").predict(x).shape) == (2, 10)
    assert ModelSpec.of("mlp", "mnist").example_shape() == (784,)
    assert ModelSpec.of("mlp", "spiral").example_shape() == (2,)


@pytest.mark.parametrize(("args", "message"), [
    (("lenet5", "spiral"), "model 'lenet5' needs image data: use --data fashion-mnist or --data mnist"),
    (("resnet", "mnist"), "unknown model 'resnet': choose one of mlp, simple-convnet, lenet5"),
    ((["mlp"], "mnist"), r"unknown model \['mlp'\]"),
    (("mlp", "cifar"), "data_spec: unknown data set 'cifar'"),
])
def test_refusals_name_what_is_wrong(args, message):
    with pytest.raises(ValueError, match=message) as err:
        ModelSpec.of(*args)
    if args[1] != "cifar":
        assert isinstance(err.value, UsageError)


def test_the_checkpoint_description_round_trips():
    spec = ModelSpec.of("deep-convnet", "mnist", batchnorm=True, dropout=0.3)
    assert ModelSpec.describes(spec.metadata())
    assert ModelSpec.from_metadata(spec.metadata()) == spec
    assert ModelSpec.from_metadata(spec.metadata(), data="fashion-mnist").data == "fashion-mnist"
    assert ModelSpec.from_metadata({"model": "mlp", "data": "spiral"}) == ModelSpec.of("mlp", "spiral")
    for config in (None, [], {}, {"model": "mlp"}, {"model": "mlp", "data": "cifar"}, {"model": ["mlp"], "data": 1}):
        assert not ModelSpec.describes(config)


def test_the_optimizer_table_has_no_aliases():
    assert "gd" not in OPTIMIZERS and OPTIMIZERS["sgd"] is anynet.optim.SGD
    assert len({cls for cls in OPTIMIZERS.values()}) == len(OPTIMIZERS)


def test_dropout_flag_sets_the_models_rate():
    from anynet.cli import build_model

    rates = [layer.ratio for layer in build_model("deep-convnet", "fashion-mnist", dropout=0.25).layers
             if isinstance(layer, anynet.layers.Dropout)]
    assert rates == [0.25]
    assert not [layer for layer in build_model("vgg", "mnist", dropout=0.0).layers
                if isinstance(layer, anynet.layers.Dropout)]


def test_build_schedule():
    from anynet.cli import build_schedule

    assert build_schedule("constant", 0.1, 100) == 0.1 == build_schedule("plateau", 0.1, 100)
    assert build_schedule("cosine", 0.1, 100)(100) == 0.0
    assert build_schedule("onecycle", 0.1, 100)(0) == pytest.approx(0.1 / 25)
