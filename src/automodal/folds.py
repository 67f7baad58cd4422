"""How a fit's rows are split: the share held out for tuning, and shuffled k-fold splits by class where the classes
allow it."""

from __future__ import annotations

import numpy as np

from .errors import DataError


def kfold(labels: np.ndarray, folds: int, seed: int, by_class: bool) -> list:
    """[(training rows, held-out rows)] per fold; stratified when by_class and every class has a row in each fold."""
    # scikit-learn's model_selection loads on first use: 2 s that loading a saved predictor to predict does not need
    from sklearn.model_selection import KFold, StratifiedKFold

    if by_class and np.unique(labels, return_counts=True)[1].min() >= folds:
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(labels, labels))
    return list(KFold(folds, shuffle=True, random_state=seed).split(labels))


def checked_holdout(holdout_frac: float | None, rows: int) -> float:
    """holdout_frac, by default a fifth of small data sets and a tenth of larger ones."""
    if holdout_frac is None:
        return 0.2 if rows < 500 else 0.1
    if not 0 < holdout_frac < 1:
        raise DataError(f"holdout_frac must lie in (0, 1), got {holdout_frac}.")
    return holdout_frac
