"""What the two estimators share: their parameters, the model and trainer they build, where the data
lives (scikit-learn's array-API convention: the output follows the input) and the prediction pass."""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

import array_api_compat
import sklearn
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import backend
from ..cli.build import MODELS, OPTIMIZERS
from ..data import DataSet, train_val_split
from ..training import EarlyStopping, Trainer

__all__ = ["NetEstimator"]

_PREDICT_BATCH = 1000  # rows per forward pass in predict: bounds the activations' memory

# the host, where scikit-learn's checks leave the data: its arrays are handled through this device's namespace
HOST = backend.as_device("cpu")
_FLOATS = (HOST.xp.float64, HOST.xp.float32)  # the dtypes validate_data keeps (else float64)


def input_device(X: Any) -> backend.Device | None:
    """The anynet device of ``X`` when scikit-learn's array-API dispatch is on and ``X`` is an array of
    another library than NumPy (the output then follows it), else None (host NumPy in and out)."""
    if not sklearn.get_config()["array_api_dispatch"]:
        return None
    if not array_api_compat.is_array_api_obj(X) or array_api_compat.is_numpy_array(X):
        return None
    return backend.device_of(X)


def to_host(a: Any) -> Any:
    """An array of any library as host NumPy (other inputs, lists and data frames, as they are)."""
    if array_api_compat.is_array_api_obj(a) and not array_api_compat.is_numpy_array(a):
        return backend.to_numpy(a)
    return a


class NetEstimator(BaseEstimator):
    """Base of ``NetClassifier`` and ``NetRegressor``: an anynet network trained by ``anynet.Trainer``
    behind scikit-learn's estimator API (parameters are documented on the subclasses)."""

    _default_loss: type
    _accuracy: bool

    def __init__(self, model: Any = "mlp", *, model_args: dict | None = None, input_shape: tuple | None = None,
                 loss: Any = None, optimizer: Any = "adam", lr: float = 0.001, epochs: int = 10,
                 batch_size: int | None = 32, device: Any = None, validation_split: float = 0.0,
                 early_stopping: int | None = None, random_state: Any = None, verbose: int = 0):
        self.model = model
        self.model_args = model_args
        self.input_shape = input_shape
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.device = device
        self.validation_split = validation_split
        self.early_stopping = early_stopping
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        tags.input_tags.three_d_array = True  # images (N, C, H, W) for the convolutional models
        return tags

    # -- checks of the parameters, when fit starts (scikit-learn's __init__ only stores them) ----------

    def _check_params(self) -> None:
        where = type(self).__name__
        if not (callable(self.model) or (isinstance(self.model, str) and self.model in MODELS)):
            raise ValueError(f"{where}: model must be one of {sorted(MODELS)} or a builder "
                             f"(input_shape, output_size) -> model, got {self.model!r}")
        if not (callable(self.optimizer) or (isinstance(self.optimizer, str) and self.optimizer.lower() in OPTIMIZERS)):
            raise ValueError(f"{where}: optimizer must be one of {sorted(OPTIMIZERS)} or a callable lr -> "
                             f"optimizer, got {self.optimizer!r}")
        if self.model_args is not None and not isinstance(self.model_args, dict):
            raise TypeError(f"{where}: model_args must be a dict of the model's keyword arguments, "
                            f"got {type(self.model_args).__name__}")
        for name, value, low in (("epochs", self.epochs, 1), ("verbose", self.verbose, 0)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ValueError(f"{where}: {name} must be an integer >= {low}, got {value!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, numbers.Integral) or self.batch_size < 1):
            raise ValueError(f"{where}: batch_size must be an integer >= 1 or None (full batch), "
                             f"got {self.batch_size!r}")
        if not isinstance(self.validation_split, numbers.Real) or not 0.0 <= self.validation_split < 1.0:
            raise ValueError(f"{where}: validation_split must be a fraction in [0, 1), got {self.validation_split!r}")
        if self.early_stopping is not None and not self.validation_split:
            raise ValueError(f"{where}: early_stopping={self.early_stopping!r} follows the validation loss: "
                             "give validation_split above 0")

    # -- building ------------------------------------------------------------------------------------

    def _sample_shape(self, X: Any) -> tuple[int, ...]:
        """The shape one sample is given to the model in: ``input_shape``, else the sample's own (flat
        for an MLP; a channel axis added to a 2-D sample for the convolutional models)."""
        where, shape = type(self).__name__, tuple(X.shape[1:])
        if self.input_shape is not None:
            want = tuple(int(s) for s in self.input_shape)
            if math.prod(want) != math.prod(shape):
                raise ValueError(f"{where}: input_shape {want} holds {math.prod(want)} values, a sample of X "
                                 f"{math.prod(shape)} ({shape})")
            shape = want
        if self.model == "mlp":
            return (math.prod(shape),)
        if isinstance(self.model, str) and len(shape) == 2:
            return (1, *shape)
        if isinstance(self.model, str) and len(shape) != 3:
            raise ValueError(f"{where}: model {self.model!r} reads images (C, H, W); give X of shape "
                             f"(N, C, H, W) or input_shape=(C, H, W) for its {shape} samples")
        return shape

    def _build(self, shape: tuple[int, ...], n_outputs: int) -> Any:
        args = dict(self.model_args or {})
        if callable(self.model):
            return self.model(shape, n_outputs, **args)
        if self.model == "mlp":
            return MODELS["mlp"](shape[0], args.pop("hidden_sizes", (100,)), n_outputs, **args)
        return MODELS[self.model](input_shape=shape, output_size=n_outputs, **args)

    def _optimizer(self) -> Any:
        if callable(self.optimizer):
            return self.optimizer(self.lr)
        return OPTIMIZERS[self.optimizer.lower()](lr=self.lr)

    def _seed(self) -> int | None:
        if self.random_state is None or isinstance(self.random_state, numbers.Integral):
            return self.random_state
        return int(check_random_state(self.random_state).randint(HOST.xp.iinfo(HOST.xp.int32).max))

    def _start(self, shape: tuple[int, ...], n_outputs: int, source: backend.Device | None) -> None:
        """A new model, optimizer and trainer on the training device (``device``, else the input's)."""
        dev = backend.as_device(self.device if self.device is not None else source or "cpu")
        self.streams_ = backend.RandomStreams(self._seed())
        with backend.use_streams(self.streams_), backend.device(dev):
            self.model_ = self._build(shape, n_outputs)
        self.trainer_ = self._trainer()
        self.fit_device_ = "cpu" if source is None else source.name

    def _trainer(self) -> Trainer:
        """A Trainer of ``model_`` with a copy of ``loss`` and a new optimizer."""
        loss = copy.deepcopy(self.loss) if self.loss is not None else self._default_loss()
        callbacks = [] if self.early_stopping is None else [EarlyStopping(patience=self.early_stopping)]
        return Trainer(self.model_, loss, self._optimizer(), callbacks=callbacks, verbose=self.verbose,
                       accuracy=self._accuracy, streams=self.streams_)

    def __getstate__(self) -> dict[str, Any]:
        # the trainer holds its optimizer's namespaces (modules, which pickle refuses): keep what it knows
        state = dict(super().__getstate__())  # a copy: object's __getstate__ gives the __dict__ itself
        trainer = state.pop("trainer_", None)
        if trainer is not None:
            state["_trainer_state"] = {"epoch": trainer.epoch, "history": trainer.history,
                                       "optimizer": trainer.optimizer.state_dict(self.model_.params)}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_trainer_state", None)
        super().__setstate__(state)
        if saved is not None:  # the trainer again, so partial_fit continues where it stopped
            self.trainer_ = self._trainer()
            self.trainer_.optimizer.load_state_dict(saved["optimizer"], self.model_.params)
            self.trainer_.epoch, self.trainer_.history = saved["epoch"], saved["history"]

    # -- training --------------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> NetEstimator:
        """Train a new network on ``X`` and labels or targets ``y`` for ``epochs`` epochs.

        **Returns:** self.
        """
        return self._train(X, y, partial=False)

    def _train(self, X: Any, y: Any, partial: bool, classes: Any = None) -> NetEstimator:
        """``fit`` (``partial=False``: a new model, ``epochs`` epochs) or ``partial_fit`` (one more epoch of
        the fitted model, or of a new one). A refused call leaves the estimator as it was: its fitted
        attributes are put back (a new model is built beside the old one; the Trainer refuses before it
        changes a model it trains on)."""
        self._check_params()
        before = dict(self.__dict__)
        try:
            return self._train_checked(X, y, partial, classes)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _train_checked(self, X: Any, y: Any, partial: bool, classes: Any) -> NetEstimator:
        source = input_device(X)
        first = not (partial and hasattr(self, "model_"))
        if not first:
            self._check_same_device(source, "partial_fit")
        X, y = validate_data(self, to_host(X), to_host(y), reset=first, allow_nd=True,
                             dtype=_FLOATS, **self._y_checks())
        t, n_outputs = self._targets(y, first, classes)
        if first:
            self.sample_shape_ = self._sample_shape(X)
            self._start(self.sample_shape_, n_outputs, source)
        x = self._samples(X)
        data, val = DataSet(x, t, "train"), None
        with backend.use_streams(self.streams_):
            if self.validation_split:
                data, val = train_val_split(data, float(self.validation_split))
        epochs = self.trainer_.epoch + (1 if partial else self.epochs)
        self.trainer_.fit(data, val, epochs=epochs, batch_size=self.batch_size)
        self.history_ = {k: list(v) for k, v in self.trainer_.history.items()}
        return self

    def _samples(self, X: Any) -> Any:
        """Validated host data ``X`` as the model takes it: float32 samples of ``sample_shape_``, a new
        (C-contiguous) array."""
        return HOST.xp.astype(HOST.xp.reshape(X, (X.shape[0], *self.sample_shape_)), HOST.xp.float32)

    def _check_same_device(self, source: backend.Device | None, method: str) -> None:
        """scikit-learn's rule: with array-API dispatch on, X comes from the namespace and device fit saw."""
        if not sklearn.get_config()["array_api_dispatch"]:
            return
        got = "cpu" if source is None else source.name
        if got != self.fit_device_:
            raise backend.DeviceError(
                f"{type(self).__name__}.{method}(): X and the fitted model must use the same namespace and device: "
                f"fit saw {self.fit_device_!r}, X is on {got!r}; move X with anynet.to_device(X, "
                f"{self.fit_device_!r}) or fit on this device")

    # -- prediction -------------------------------------------------------------------------------------

    def _scores(self, X: Any, method: str) -> tuple[Any, str, backend.Device | None]:
        """The model's outputs for ``X`` in inference mode (on the model's device), the dtype the output
        takes (X's float dtype), and X's device when the output follows it (else None: NumPy)."""
        check_is_fitted(self)
        source = input_device(X)
        self._check_same_device(source, method)
        X = validate_data(self, to_host(X), reset=False, allow_nd=True, dtype=_FLOATS)
        x = self._samples(X)
        dev = self.model_.device
        with backend.device(dev):
            parts = [self.model_.predict(backend.to_device(x[i:i + _PREDICT_BATCH], dev))
                     for i in range(0, max(x.shape[0], 1), _PREDICT_BATCH)]
        self.model_.reset_state()
        scores = parts[0] if len(parts) == 1 else dev.xp.concat(parts, axis=0)
        return scores, X.dtype.name, source

    @staticmethod
    def _output(a: Any, dtype: str, source: backend.Device | None) -> Any:
        """``a`` where the caller's data lives: on ``source`` (None: the host, as NumPy) in ``dtype``
        (float32 where it lacks it)."""
        where = HOST if source is None else source
        want = where.float_dtypes.get(dtype) or where.float_dtype("float32")
        return where.xp.astype(backend.to_device(a, where), want)

    def _y_checks(self) -> dict[str, Any]:
        raise NotImplementedError

    def _targets(self, y: Any, first: bool, classes: Any) -> tuple[Any, int]:
        raise NotImplementedError
