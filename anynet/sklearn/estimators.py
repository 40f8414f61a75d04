"""``NetClassifier`` and ``NetRegressor``: anynet networks as scikit-learn estimators."""

from __future__ import annotations

from typing import Any

from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from .. import backend
from ..functional import softmax
from ..losses import MeanSquaredError, SoftmaxWithLoss
from ._base import HOST, NetEstimator, to_host

__all__ = ["NetClassifier", "NetRegressor", "expected_failed_checks"]



class NetClassifier(ClassifierMixin, NetEstimator):
    """An anynet network as a scikit-learn classifier, trained with ``anynet.Trainer``.

    X (N, features) or images (N, C, H, W), labels y (N,) of any kind (strings too) -> ``predict``
    labels (N,), ``predict_proba`` (N, classes) in the order of ``classes_``. Works with ``clone``,
    ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``. With ``sklearn.set_config(array_api_dispatch=True)``
    and PyTorch, CuPy, JAX or array-api-strict arrays, it trains on their device and returns arrays of
    their library (labels of a numeric ``classes_``; string labels come back as NumPy).
    Fitted: ``model_`` (the network), ``trainer_``, ``classes_``, ``history_`` (the epochs' figures),
    ``n_features_in_``, ``sample_shape_`` (one sample as the network reads it), ``fit_device_`` (the device
    of the data ``fit`` saw under array-API dispatch, else "cpu").

    **Arguments:**

    - ``model``: a name of the ``anynet train`` model table (``anynet.cli.build.MODELS``: "mlp",
      "simple-convnet", "lenet5", "deep-convnet", "alexnet", "vgg"), built for the data's sample shape and
      number of outputs, or a builder ``model(input_shape, output_size, **model_args) -> model``.
    - ``model_args``: keyword arguments of the model (e.g. ``{"hidden_sizes": [50, 50]}`` for "mlp", whose
      default is one hidden layer of 100; ``{"filter_num": 8}`` for "simple-convnet").
    - ``input_shape``: the shape each row of X is read in, e.g. (1, 28, 28) for flat images in a
      ``Pipeline``; None: the sample's own shape (a 2-D sample gets a channel axis for the conv nets).
    - ``loss``: an anynet loss (copied at each fit); None: ``SoftmaxWithLoss()`` on the scores.
    - ``optimizer``: a name of ``anynet.cli.build.OPTIMIZERS`` ("sgd", "adam", ...) or a callable
      ``lr -> optimizer`` (e.g. ``anynet.SGD``); ``lr`` its learning rate.
    - ``epochs``: epochs of ``fit`` (``partial_fit`` runs one); ``batch_size``: None for full batch.
    - ``device``: where to train ("cpu", "torch:cpu", "cuda", ...); None: X's device under
      ``sklearn.set_config(array_api_dispatch=True)``, else the CPU.
    - ``validation_split``: the fraction of the data held out for ``val_loss`` (0: none).
    - ``early_stopping``: patience in epochs without a better ``val_loss`` (needs ``validation_split``);
      the best epoch's weights are kept. None: train every epoch.
    - ``random_state``: seeds the weights, the shuffling and the split (None: a fresh seed each fit).
    - ``verbose``: the Trainer's progress lines (0: silent).
    """

    _default_loss = SoftmaxWithLoss
    _accuracy = True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        tags.classifier_tags.poor_score = True  # a few epochs of a small net: no score is promised
        return tags

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> NetClassifier:
        """One more epoch on ``X``, ``y`` (the first call builds the network; ``classes``: every label
        the data will hold, needed then unless ``y`` holds them all).

        **Returns:** self.
        """
        return self._train(X, y, partial=True, classes=classes)

    def _y_checks(self) -> dict[str, Any]:
        return {}

    def _targets(self, y: Any, first: bool, classes: Any) -> tuple[Any, int]:
        xp = HOST.xp
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            self.classes_ = xp.sort(xp.unique_values(y if classes is None else xp.asarray(to_host(classes))))
        t = xp.searchsorted(self.classes_, y)  # each label's index in classes_, where it is one of them
        known = xp.take(self.classes_, xp.clip(t, max=self.classes_.shape[0] - 1)) == y
        if not xp.all(known):
            unknown = xp.sort(xp.unique_values(y[~known]))
            raise ValueError(f"{type(self).__name__}: y holds labels {unknown[:5].tolist()} outside classes_ "
                             f"{self.classes_[:10].tolist()}")
        return xp.astype(t, xp.int64), self.classes_.shape[0]

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities (N, classes), columns in the order of ``classes_``; in X's float dtype,
        on X's device under array-API dispatch.

        **Returns:** the probabilities.
        """
        scores, dtype, source = self._scores(X, "predict_proba")
        return softmax(self._output(scores, dtype, source))

    def predict(self, X: Any) -> Any:
        """The most probable label of each sample (N,), of ``classes_``.

        **Returns:** the labels.
        """
        scores, _, source = self._scores(X, "predict")
        xp = backend.namespace(scores)
        index = xp.argmax(scores, axis=1)
        if source is None or not HOST.xp.isdtype(self.classes_.dtype, ("bool", "integral", "real floating")):
            return HOST.xp.take(self.classes_, backend.to_numpy(index), axis=0)
        classes = backend.to_device(self.classes_, source)
        return source.xp.take(classes, backend.to_device(index, source), axis=0)


class NetRegressor(RegressorMixin, NetEstimator):
    """An anynet network as a scikit-learn regressor, trained with ``anynet.Trainer``.

    X (N, features) or images (N, C, H, W), targets y (N,) or (N, outputs) -> ``predict`` of y's shape,
    in X's float dtype. Works with ``clone``, ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``;
    under ``sklearn.set_config(array_api_dispatch=True)`` it trains on the device of PyTorch, CuPy,
    JAX or array-api-strict arrays and returns arrays of their library.
    Fitted: those of ``NetClassifier`` but ``classes_``, and ``n_outputs_`` (the columns of y).

    **Arguments:** those of ``NetClassifier``, except that ``loss=None`` is ``MeanSquaredError()``.
    """

    _default_loss = MeanSquaredError
    _accuracy = False

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.regressor_tags.poor_score = True  # a few epochs of a small net: no score is promised
        return tags

    def partial_fit(self, X: Any, y: Any) -> NetRegressor:
        """One more epoch on ``X``, ``y`` (the first call builds the network).

        **Returns:** self.
        """
        return self._train(X, y, partial=True)

    def _y_checks(self) -> dict[str, Any]:
        return {"multi_output": True, "y_numeric": True}

    def _targets(self, y: Any, first: bool, classes: Any) -> tuple[Any, int]:
        if first:
            self.single_output_ = y.ndim == 1
        t = HOST.xp.reshape(HOST.xp.astype(y, HOST.xp.float32), (y.shape[0], -1))
        if first:
            self.n_outputs_ = t.shape[1]
        elif t.shape[1] != self.n_outputs_:
            raise ValueError(f"{type(self).__name__}: y has {t.shape[1]} outputs, the fitted model {self.n_outputs_}")
        return t, t.shape[1]

    def predict(self, X: Any) -> Any:
        """Predicted targets, (N,) when fit saw y (N,), else (N, outputs); in X's float dtype, on X's
        device under array-API dispatch.

        **Returns:** the predictions.
        """
        scores, dtype, source = self._scores(X, "predict")
        out = self._output(scores, dtype, source)
        return backend.namespace(out).reshape(out, (-1,)) if self.single_output_ else out


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The scikit-learn estimator checks that cannot hold for a neural network trained in float32, with
    the reason of each (``parametrize_with_checks(..., expected_failed_checks=expected_failed_checks)``).

    **Arguments:**

    - ``estimator``: a ``NetClassifier`` or ``NetRegressor``.

    **Returns:** {check name: reason}.
    """
    return {"check_methods_subset_invariance": (
        "the network computes in float32, whose matrix products round differently for different batch "
        "sizes (BLAS blocks them differently): outputs on a subset differ from those on the whole by float32 "
        "rounding (about 1e-6 relative), above the check's 1e-7")}
