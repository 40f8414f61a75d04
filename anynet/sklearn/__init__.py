"""anynet networks as scikit-learn estimators (the extra ``sklearn``): ``NetClassifier`` and
``NetRegressor`` train with ``anynet.Trainer`` and work in ``Pipeline``, ``GridSearchCV`` and
``cross_val_score``; under ``sklearn.set_config(array_api_dispatch=True)`` the output follows the input's
library and device."""

from ._base import NetEstimator
from .estimators import NetClassifier, NetRegressor, expected_failed_checks

__all__ = ["NetClassifier", "NetEstimator", "NetRegressor", "expected_failed_checks"]
