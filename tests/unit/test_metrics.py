"""Metrics by name: metrics of predicted classes are followed through the log loss unless a validation metric is
set; every metric computes from class probabilities or regression values."""

import numpy as np
import pytest

from automodal.errors import ConfigError
from automodal.metrics import METRICS, default_validation_metric, get_metric

CLASS_METRICS = {"accuracy", "balanced_accuracy", "f1", "precision", "recall", "f1_macro", "f1_micro", "f1_weighted",
                 "mcc", "quadratic_kappa"}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_only_metrics_of_predicted_classes_are_validated_through_the_log_loss(name):
    expected = "log_loss" if name in CLASS_METRICS else name
    assert default_validation_metric(METRICS[name]) == expected


def test_metrics_of_classes_read_the_most_probable_class():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6]])     # rows 2 and 3 are wrong
    assert get_metric("accuracy", "binary").fn(y, proba) == 0.5
    assert get_metric("recall", "binary").fn(y, proba) == 0.5
    assert get_metric("roc_auc", "binary").fn(y, proba) == 0.75
    with pytest.raises(ConfigError, match="binary"):
        get_metric("rmse", "binary")
