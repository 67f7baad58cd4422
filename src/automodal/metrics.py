"""Evaluation metrics by name, computed with scikit-learn on whole prediction sets (the same code in and after training)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .data.types import BINARY, MULTICLASS, REGRESSION
from .errors import ConfigError, DataError

DEFAULT_METRICS = {BINARY: "roc_auc", MULTICLASS: "accuracy", REGRESSION: "rmse"}


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable               # fn(y_true, outputs) -> float; outputs: class probabilities or regression values
    greater_is_better: bool
    problem_types: tuple


def _labels(proba):
    return np.asarray(proba).argmax(axis=1)


def _sk(name):
    import sklearn.metrics as skm

    return getattr(skm, name)


def _roc_auc(y, proba):
    proba = np.asarray(proba)
    if proba.shape[1] == 2:
        return _sk("roc_auc_score")(y, proba[:, 1])
    return _sk("roc_auc_score")(y, proba, multi_class="ovr", labels=list(range(proba.shape[1])))


def _log_loss(y, proba):
    proba = np.asarray(proba)
    return _sk("log_loss")(y, proba, labels=list(range(proba.shape[1])))


def _corr(kind):
    def fn(y, pred):
        import scipy.stats

        return float(getattr(scipy.stats, kind)(y, np.ravel(pred))[0])
    return fn


CLS = (BINARY, MULTICLASS)
_METRICS = [
    Metric("accuracy", lambda y, p: _sk("accuracy_score")(y, _labels(p)), True, CLS),
    Metric("balanced_accuracy", lambda y, p: _sk("balanced_accuracy_score")(y, _labels(p)), True, CLS),
    Metric("roc_auc", _roc_auc, True, CLS),
    Metric("log_loss", _log_loss, False, CLS),
    Metric("f1", lambda y, p: _sk("f1_score")(y, _labels(p), pos_label=1), True, (BINARY,)),
    Metric("precision", lambda y, p: _sk("precision_score")(y, _labels(p), pos_label=1, zero_division=0), True, (BINARY,)),
    Metric("recall", lambda y, p: _sk("recall_score")(y, _labels(p), pos_label=1), True, (BINARY,)),
    Metric("average_precision", lambda y, p: _sk("average_precision_score")(y, np.asarray(p)[:, 1]), True, (BINARY,)),
    Metric("f1_macro", lambda y, p: _sk("f1_score")(y, _labels(p), average="macro"), True, CLS),
    Metric("f1_micro", lambda y, p: _sk("f1_score")(y, _labels(p), average="micro"), True, CLS),
    Metric("f1_weighted", lambda y, p: _sk("f1_score")(y, _labels(p), average="weighted"), True, CLS),
    Metric("mcc", lambda y, p: _sk("matthews_corrcoef")(y, _labels(p)), True, CLS),
    Metric("quadratic_kappa", lambda y, p: _sk("cohen_kappa_score")(y, _labels(p), weights="quadratic"), True, CLS),
    Metric("rmse", lambda y, p: float(np.sqrt(_sk("mean_squared_error")(y, p))), False, (REGRESSION,)),
    Metric("mse", lambda y, p: _sk("mean_squared_error")(y, p), False, (REGRESSION,)),
    Metric("mae", lambda y, p: _sk("mean_absolute_error")(y, p), False, (REGRESSION,)),
    Metric("r2", lambda y, p: _sk("r2_score")(y, p), True, (REGRESSION,)),
    Metric("median_absolute_error", lambda y, p: _sk("median_absolute_error")(y, p), False, (REGRESSION,)),
    Metric("pearsonr", _corr("pearsonr"), True, (REGRESSION,)),
    Metric("spearmanr", _corr("spearmanr"), True, (REGRESSION,)),
]
METRICS = {m.name: m for m in _METRICS}
ALIASES = {"acc": "accuracy", "auc": "roc_auc", "root_mean_squared_error": "rmse", "mean_squared_error": "mse",
           "mean_absolute_error": "mae", "cross_entropy": "log_loss", "nll": "log_loss"}


def get_metric(name: str, problem_type: str) -> Metric:
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in METRICS:
        close = difflib.get_close_matches(key, list(METRICS) + list(ALIASES), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"Unknown eval_metric '{name}'.{hint} Known metrics: {', '.join(METRICS)}.")
    metric = METRICS[key]
    if problem_type not in metric.problem_types:
        usable = [m for m, spec in METRICS.items() if problem_type in spec.problem_types]
        raise ConfigError(f"Metric '{name}' does not apply to a {problem_type} task; use one of {', '.join(usable)}.")
    return metric


def score(metric: Metric, y_true, outputs) -> float:
    try:
        return float(metric.fn(y_true, outputs))
    except ValueError as exc:  # e.g. roc_auc on data holding a single class
        raise DataError(f"Metric '{metric.name}' cannot be computed on this data: {exc}") from exc


def signed(metric: Metric, value: float) -> float:
    """Higher is better for every metric after this (used for model selection)."""
    return value if metric.greater_is_better else -value
