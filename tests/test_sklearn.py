"""anynet.sklearn: NetClassifier and NetRegressor under scikit-learn's own estimator checks, in its
meta-estimators, and under array-API dispatch (the output follows the input's library and device)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

import sklearn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import anynet  # noqa: E402
from anynet.sklearn import NetClassifier, NetRegressor, expected_failed_checks  # noqa: E402
from anynet.testing import resolve_backend  # noqa: E402

# small enough that the whole check run takes seconds: one hidden layer of 8, three epochs
TINY = {"model_args": {"hidden_sizes": [8]}, "epochs": 3, "lr": 0.01, "batch_size": 16}


@parametrize_with_checks([NetClassifier(**TINY), NetRegressor(**TINY)], expected_failed_checks=expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator, check, monkeypatch):
    # scikit-learn runs its array-API checks only where SciPy's array-API mode is declared; our
    # estimators call no SciPy function on the arrays, so declaring it for these checks is honest
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    if "cupy" in str(getattr(check, "keywords", {})):
        resolve_backend("cupy")  # scikit-learn's check errors without a GPU: skipped here with the reason
    check(estimator)


def _blobs(n=60, seed=0):
    X, y = make_classification(n, 6, n_informative=4, n_classes=3, n_clusters_per_class=1, random_state=seed)
    return X, np.array(["cat", "dog", "emu"])[y]


def test_string_labels_in_a_pipeline_grid_search_and_cross_validation():
    X, y = _blobs()
    pipe = make_pipeline(StandardScaler(), NetClassifier(**{**TINY, "epochs": 20}, random_state=0))
    search = GridSearchCV(pipe, {"netclassifier__lr": [0.001, 0.03]}, cv=2).fit(X, y)
    assert search.best_params_ == {"netclassifier__lr": 0.03}
    assert set(search.predict(X)) <= {"cat", "dog", "emu"}
    scores = cross_val_score(clone(pipe), X, y, cv=2)
    assert scores.shape == (2,) and scores.min() > 0.5
    proba = search.predict_proba(X[:4])
    assert proba.shape == (4, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_clone_and_params_carry_no_fitted_state():
    est = NetClassifier(model="simple-convnet", model_args={"filter_num": 2}, epochs=2, random_state=3)
    X, y = _blobs()
    fitted = NetClassifier(**TINY).fit(X, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    assert not hasattr(clone(fitted), "model_")
    assert twin.set_params(lr=0.5, epochs=4) is twin and twin.lr == 0.5 and est.lr == 0.001


def test_the_same_random_state_trains_the_same_net_and_pickling_keeps_it():
    X, y = _blobs()
    a = NetClassifier(**TINY, random_state=7).fit(X, y)
    b = NetClassifier(**TINY, random_state=7).fit(X, y)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    c = pickle.loads(pickle.dumps(a))
    assert np.array_equal(c.predict_proba(X), a.predict_proba(X))
    a.partial_fit(X, y)
    c.partial_fit(X, y)  # the trainer's optimizer state and epoch count came through the pickle
    assert c.trainer_.epoch == 4 and np.array_equal(c.predict_proba(X), a.predict_proba(X))


def test_partial_fit_trains_one_epoch_at_a_time_over_declared_classes():
    X, y = _blobs()
    est = NetClassifier(**TINY, random_state=0)
    est.partial_fit(X[y != "emu"], y[y != "emu"], classes=["cat", "dog", "emu"])
    est.partial_fit(X, y)
    assert est.trainer_.epoch == 2 and len(est.history_["loss"]) == 2
    assert est.classes_.tolist() == ["cat", "dog", "emu"] and est.predict_proba(X).shape == (60, 3)
    with pytest.raises(ValueError, match=r"y holds labels \['fox'\] outside classes_"):
        est.partial_fit(X[:2], np.array(["cat", "fox"]))


def test_images_a_builder_and_early_stopping():
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64)), rng.integers(0, 2, 40)
    conv = NetClassifier("simple-convnet", model_args={"filter_num": 2, "filter_size": 3, "hidden_size": 8},
                         input_shape=(1, 8, 8), epochs=2, random_state=0).fit(X, y)
    assert conv.model_[0].W.shape == (2, 1, 3, 3) and conv.predict(X).shape == (40,)
    built = []

    def builder(input_shape, output_size, width=4):
        built.append((input_shape, output_size, width))
        return anynet.MLP(input_shape[0], [width], output_size)

    # targets of pure noise: the validation loss soon rises, and training stops 2 epochs later
    reg = NetRegressor(builder, model_args={"width": 32}, lr=0.03, epochs=50, validation_split=0.25,
                       early_stopping=2, random_state=0).fit(X, rng.random((40, 2)))
    assert built == [((64,), 2, 32)] and reg.predict(X).shape == (40, 2)
    assert "val_loss" in reg.history_ and len(reg.history_["val_loss"]) < 50


@pytest.mark.parametrize(("params", "message"), [
    ({"model": "resnet"}, "model must be one of"),
    ({"optimizer": "adamax"}, "optimizer must be one of"),
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"validation_split": 1.0}, r"validation_split must be a fraction in \[0, 1\)"),
    ({"early_stopping": 3}, "early_stopping=3 follows the validation loss: give validation_split above 0"),
    ({"model": "lenet5"}, r"model 'lenet5' reads images \(C, H, W\)"),
])
def test_bad_parameters_are_refused_when_fit_starts_and_change_nothing(params, message):
    X, y = _blobs()
    est = NetClassifier(**TINY, random_state=0).fit(X, y)
    before = est.predict_proba(X)
    with pytest.raises(ValueError, match=message):
        est.set_params(**params).fit(X, y)
    assert np.array_equal(est.predict_proba(X), before)


def test_a_fit_refused_on_its_data_leaves_the_fitted_estimator_as_it_was():
    X, y = _blobs()
    est = NetClassifier(**TINY, random_state=0).fit(X, y)
    model, before = est.model_, est.predict_proba(X)
    with pytest.raises(ValueError, match="train_val_split: val=0.5 leaves 0 of 1 samples for validation"):
        est.set_params(validation_split=0.5).fit(X[:1, :4], y[:1])  # refused after the new net was built
    assert est.model_ is model and est.n_features_in_ == 6 and est.classes_.tolist() == ["cat", "dog", "emu"]
    assert np.array_equal(est.set_params(validation_split=0.0).predict_proba(X), before)


@pytest.mark.parametrize("name", ["torch", "jax", "strict", "cupy", "torchcuda"])
def test_array_api_dispatch_trains_on_the_inputs_device_and_returns_its_arrays(name, monkeypatch):
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")  # scikit-learn's dispatch asks for it (see above)
    dev = resolve_backend(name)
    X, y = make_classification(40, 5, random_state=0)
    Xd, yd = anynet.to_device(X, dev), anynet.to_device(y, dev)
    Xr, yr = make_regression(40, 5, n_targets=2, random_state=0)
    # one batch shape and SGD: JAX compiles each operation on first use for each shape (~50 ms each here)
    full = {**TINY, "batch_size": None, "optimizer": "sgd", "lr": 0.1}
    with sklearn.config_context(array_api_dispatch=True):
        clf = NetClassifier(**full, random_state=0).fit(Xd, yd)
        reg = NetRegressor(**full, random_state=0).fit(anynet.to_device(Xr, dev), anynet.to_device(yr, dev))
        proba, labels = clf.predict_proba(Xd), clf.predict(Xd)
        pred = reg.predict(anynet.to_device(Xr, dev))
        score = clf.score(Xd, yd)
        with pytest.raises(anynet.DeviceError, match=r"NetClassifier.predict\(\): X and the fitted model must use "
                                                     "the same namespace and device"):
            clf.predict(X)
    assert clf.model_.device == dev and reg.model_.device == dev
    for out in (proba, labels, pred):
        assert anynet.device_of(out) == dev
    assert str(proba.dtype).endswith(str(Xd.dtype).rsplit(".", 1)[-1]) and tuple(proba.shape) == (40, 2)
    assert tuple(pred.shape) == (40, 2) and isinstance(score, float)
    # the same fit on the host gives the same numbers (the weights are drawn on the host from the seed)
    host = NetClassifier(**full, random_state=0).fit(X, y)
    np.testing.assert_allclose(anynet.to_numpy(proba), host.predict_proba(X), rtol=1e-4, atol=1e-5)
