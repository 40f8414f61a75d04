"""What a run builds from its description: the network (``ModelSpec``), the optimizer, the
learning-rate schedule and the data, and the network a checkpoint of ``anynet train`` names."""

from __future__ import annotations

import dataclasses
import inspect
import os
from typing import Any, Mapping

from .. import optim
from ..data import DATASETS, DataSet, data_spec
from ..models import (
    MLP,
    VGG,
    AlexNet,
    DeepConvNet,
    LeNet5,
    SimpleConvNet,
    resnet8,
    resnet10,
    resnet14,
    resnet18,
    resnet20,
)
from ..optim.schedules import CosineDecay, OneCycle
from ..training import checkpoint
from ..training.precision import Precision
from ..validation import check_int
from .options import UsageError, image_data, pick

__all__ = ["MODELS", "OPTIMIZERS", "SCHEDULES", "ModelSpec", "build_model", "build_schedule", "load_data",
           "load_model"]

MODELS = {"mlp": MLP, "simple-convnet": SimpleConvNet, "lenet5": LeNet5, "deep-convnet": DeepConvNet,
          "alexnet": AlexNet, "vgg": VGG, "resnet8": resnet8, "resnet10": resnet10, "resnet14": resnet14,
          "resnet20": resnet20, "resnet18": resnet18}
"""``anynet train --model`` name -> the model class (or builder)."""
OPTIMIZERS = {name.lower(): getattr(optim, name) for name in (
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam", "Nadam", "AdamW", "RAdam", "Lion",
    "LAMB")}
"""``anynet train --optimizer`` name (lower case) -> the optimizer class."""
SCHEDULES = ("constant", "cosine", "onecycle", "plateau")
"""The ``anynet train --schedule`` choices: the learning rate held, cosine decay, one cycle, or halved on a plateau."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The network of a run: model ``name`` for data set ``data``, with the data set's defaults
    filled in (make one with ``ModelSpec.of``; ``anynet train`` keeps it in the checkpoint).

    **Arguments:**

    - ``name``: one of ``MODELS``; ``data``: one of ``anynet.data.DATASETS``.
    - ``hidden``, ``layers``: an MLP's hidden width and number of hidden layers (other models ignore them).
    - ``batchnorm``: BatchNorm in the model (MLP, DeepConvNet, VGG).
    - ``dropout``: the rate of the model's dropout (DeepConvNet, AlexNet, VGG); None: the model's default.
    - ``width``: the first stage's channels (the ResNets); None: the model's default.
    """

    name: str
    data: str
    hidden: int
    layers: int
    batchnorm: bool = False
    dropout: float | None = None
    width: int | None = None

    @classmethod
    def of(cls, name: str, data: str, hidden: int | None = None, layers: int | None = None,
           batchnorm: bool = False, dropout: float | None = None, width: int | None = None) -> ModelSpec:
        """A checked ``ModelSpec``; ``hidden`` and ``layers`` left None take the data set's defaults.

        **Returns:** the ModelSpec; a UsageError for an unknown model, an option the model lacks, or
        a convolutional model on data that are no images.
        """
        if not isinstance(name, str) or name not in MODELS:
            raise UsageError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
        spec = data_spec(data)
        if batchnorm:
            check_option(name, "batchnorm")
        if dropout is not None:
            check_option(name, "dropout")
        if width is not None:
            check_option(name, "width")
            check_int("train", "--width", width)
        if name != "mlp" and not spec.images:
            raise UsageError(f"model {name!r} needs image data: use {image_data('--data')}")
        return cls(name, data, pick(hidden, spec.defaults.hidden), pick(layers, spec.defaults.layers),
                   bool(batchnorm), dropout, width)

    @property
    def flat(self) -> bool:
        """Whether the model reads flat examples (MLPs) rather than images."""
        return self.name == "mlp"

    def example_shape(self) -> tuple[int, ...]:
        """The shape of one example as the model reads it, e.g. (784,) for an MLP on MNIST."""
        return data_spec(self.data).input_shape(flat=self.flat)

    def build(self) -> Any:
        """The network, its parameters born on the current device."""
        spec = data_spec(self.data)
        options: dict[str, Any] = {"batchnorm": True} if self.batchnorm else {}
        if self.dropout is not None:
            options["dropout"] = self.dropout
        if self.width is not None:
            options["width"] = self.width
        if self.flat:
            hidden = [self.hidden] * check_int("build_model", "layers", self.layers)
            return MLP(spec.features, hidden, spec.classes, **options)
        return MODELS[self.name](input_shape=spec.image_shape, output_size=spec.classes, **options)

    def metadata(self) -> dict[str, Any]:
        """The description as checkpoint metadata (the keys ``from_metadata`` reads)."""
        return {"model": self.name, "data": self.data, "hidden": self.hidden, "layers": self.layers,
                "batchnorm": self.batchnorm, "dropout": self.dropout, "width": self.width}

    @staticmethod
    def describes(config: Any) -> bool:
        """Whether checkpoint metadata ``config`` describes a model of ``anynet train``."""
        if not isinstance(config, dict):
            return False
        model, data = config.get("model"), config.get("data")
        return isinstance(model, str) and model in MODELS and isinstance(data, str) and (
            data in DATASETS or os.path.isdir(data))

    @classmethod
    def from_metadata(cls, config: Mapping[str, Any], data: str | None = None) -> ModelSpec:
        """The description ``metadata`` wrote (see ``describes``), for data set ``data`` (default:
        the one it names); keys it lacks take the defaults."""
        return cls.of(config["model"], data or config["data"], config.get("hidden"), config.get("layers"),
                      config.get("batchnorm", False), config.get("dropout"), config.get("width"))


def check_option(name: str, option: str) -> None:
    """UsageError unless model ``name`` takes the keyword ``option`` (batchnorm, dropout, width)."""
    if option not in inspect.signature(MODELS[name]).parameters:
        have = ", ".join(n for n, cls in MODELS.items() if option in inspect.signature(cls).parameters)
        what = "BatchNorm" if option == "batchnorm" else option
        raise UsageError(f"--{option}: model {name!r} has no {what} option ({have} have)")


def build_model(name: str, data: str, hidden: int | None = None, layers: int | None = None,
                batchnorm: bool = False, dropout: float | None = None, width: int | None = None) -> Any:
    """The network ``name`` for data set ``data``, on the current device.

    **Arguments:** as ``ModelSpec.of`` (``hidden``/``layers`` default to the data set's).

    **Returns:** the network.
    """
    return ModelSpec.of(name, data, hidden, layers, batchnorm, dropout, width).build()


def build_schedule(name: str, lr: float, total: int) -> Any:
    """The learning rate for ``anynet train --schedule``.

    **Arguments:**

    - ``name``: one of ``SCHEDULES``: ``lr`` held ("constant"; "plateau": held, for
      ReduceLROnPlateau to lower), cosine-decayed, or as the peak of a one-cycle policy.
    - ``total``: the number of updates of the run.

    **Returns:** a float or a schedule (a callable of the step).
    """
    if name in ("constant", "plateau"):
        return lr
    if name == "cosine":
        return CosineDecay(lr, total=max(total, 1))
    return OneCycle(lr, total=max(total, 2))


def load_data(name: str, flatten: bool, data_dir: str | os.PathLike | None = None,
              download: bool = True) -> tuple[DataSet, DataSet]:
    """(train, test) host DataSets of data set ``name`` (see ``anynet.data.DataSpec.load``)."""
    return data_spec(name).load(flatten, data_dir, download)


def load_model(path: str, data: str | None = None, widen: bool = False) -> tuple[Any, ModelSpec, Precision]:
    """The network a checkpoint of ``anynet train`` names, with its weights, on the current device.

    **Arguments:**

    - ``path``: the checkpoint.
    - ``data``: the data set to use it on (default: the one it was trained on).
    - ``widen``: float16/bfloat16 weights come as float32 (for a device or a format without them).

    **Returns:** (network, its ModelSpec, the precision it was trained in).
    """
    config = checkpoint.read_metadata(path).get("metadata")
    if not ModelSpec.describes(config):
        raise UsageError(f"{path}: no model description; it was not written by 'anynet train'")
    try:
        spec = ModelSpec.from_metadata(config, data)
        model = spec.build()
    except (TypeError, ValueError) as err:
        raise UsageError(f"{path}: its model description does not build: {err}") from None
    precision = _saved_precision(config)
    if widen and precision.mixed:  # the weights cast to float32 as they load
        checkpoint.load(path, model, restore_rng=False, cast=True)
        return model, spec, precision
    precision.prepare(model)  # the saved weights are in its compute dtype
    checkpoint.load(path, model, restore_rng=False)
    return model, spec, precision


def _saved_precision(config: Mapping[str, Any]) -> Precision:
    try:
        return Precision.named(config.get("precision", "float32"))
    except ValueError as err:
        raise UsageError(f"the checkpoint's metadata: {err}") from None
