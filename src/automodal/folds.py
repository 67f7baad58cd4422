"""Shuffled k-fold splits of a fit's rows, by class where the classes allow it."""

from __future__ import annotations

import numpy as np


def kfold(labels: np.ndarray, folds: int, seed: int, by_class: bool) -> list:
    """[(training rows, held-out rows)] per fold; stratified when by_class and every class has a row in each fold."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if by_class and np.unique(labels, return_counts=True)[1].min() >= folds:
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(labels, labels))
    return list(KFold(folds, shuffle=True, random_state=seed).split(labels))
