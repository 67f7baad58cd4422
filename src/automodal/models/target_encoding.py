"""Target encoding of categorical columns with many categories (model.categorical_mlp.target_encoding).

An embedding learns one vector per category from that category's rows alone: with thousands of categories (the
students and lecturers of a ratings table) most have a few dozen rows, too few to learn from, and the network
stops early before they are learnt. What gradient boosting gains from such a column is mostly the mean label per
category. So each such column also reaches the categorical MLP as that mean: shrunk towards the overall mean by
how few rows the category has (an empirical-Bayes weight, the same for every category of a column), one value per
output (a classification's class frequencies; the positive class's for a binary label; a regression's mean
standardised label).

Training rows get the means of the other folds' rows (out of fold), so that the network never reads a row's own
label through its category; every other row (validation, prediction) reads the means of all training rows, kept
as a buffer that is saved and loaded with the weights. On lme4's InstEval with named ids (55,000 ratings, 2,972
students and 1,128 lecturers) accuracy went from 0.288 to 0.295 (LightGBM: 0.295), and 0.287 to 0.292 on a
second split; on tables whose categorical columns have fewer categories than the threshold nothing changes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..folds import kfold

TARGET_MEANS = "categorical_target_means"   # the training batches' out-of-fold means, (rows, columns * width)
FOLDS = 5


def encoded_columns(num_categories: list, min_categories: int | None) -> list:
    """The categorical columns (indices) encoded: those with at least min_categories categories (num_categories
    counts code 0, for missing and unseen values, too); none for None."""
    if min_categories is None:
        return []
    return [j for j, n in enumerate(num_categories) if n - 1 >= min_categories]


def target_width(num_outputs: int) -> int:
    """Values per category: one for a regression or a binary label, one per class otherwise."""
    return num_outputs if num_outputs > 2 else 1


def label_targets(labels: np.ndarray, num_outputs: int) -> np.ndarray:
    """(rows, width): a regression's standardised label, a binary label's positive indicator, else one-hot
    classes."""
    if num_outputs == 1:
        return labels.astype(np.float64).reshape(-1, 1)
    if num_outputs == 2:
        return (labels == 1).astype(np.float64).reshape(-1, 1)
    return np.eye(num_outputs)[labels.astype(np.int64)]


def category_means(codes: np.ndarray, targets: np.ndarray, categories: int) -> np.ndarray:
    """(categories, width): each category's mean target, shrunk towards the overall mean with the weight
    n / (n + m), where m is the ratio of the variance within categories to the variance of the categories' true
    means (estimated from the spread of their observed means); categories without rows get the overall mean."""
    overall = targets.mean(axis=0)
    counts = np.bincount(codes, minlength=categories).astype(np.float64)
    sums = np.stack([np.bincount(codes, weights=targets[:, k], minlength=categories)
                     for k in range(targets.shape[1])], axis=1)
    seen = counts > 0
    means = np.where(seen[:, None], sums / np.maximum(counts, 1)[:, None], overall)
    within = ((targets - means[codes]) ** 2).sum(axis=0) / max(1, len(codes) - seen.sum())
    between = np.average((means[seen] - overall) ** 2, axis=0, weights=counts[seen]) - within * seen.sum() / len(codes)
    prior_rows = np.clip(within / np.maximum(between, 1e-12), 1.0, 1e4)
    weight = counts[:, None] / (counts[:, None] + prior_rows)
    return weight * means + (1 - weight) * overall


class TargetEncoding(nn.Module):
    """The mean label of each encoded column's categories: looked up by category code, except in training
    batches, which carry their rows' out-of-fold means (TARGET_MEANS)."""

    def __init__(self, num_categories: list, columns: list, width: int):
        super().__init__()
        self.columns, self.width = list(columns), width
        self.sizes = [num_categories[j] for j in self.columns]     # each encoded column's categories, code 0 too
        self.register_buffer("offsets", torch.tensor([0, *np.cumsum(self.sizes)[:-1].tolist()], dtype=torch.long))
        self.register_buffer("means", torch.zeros(int(sum(self.sizes)), width))
        self.out_features = len(self.columns) * width

    def forward(self, batch: dict, codes: torch.Tensor) -> torch.Tensor:
        given = batch.get(TARGET_MEANS)
        if given is not None:
            return given.to(self.means.dtype)
        return self.means[codes[:, self.columns] + self.offsets].flatten(1)

    def fit(self, codes: np.ndarray, labels: np.ndarray, num_outputs: int, seed: int) -> np.ndarray:
        """Fill the means from the training rows; returns those rows' out-of-fold means, (rows, out_features)."""
        targets = label_targets(labels, num_outputs)
        tables = [category_means(codes[:, j], targets, n) for j, n in zip(self.columns, self.sizes)]
        with torch.no_grad():
            self.means.copy_(torch.from_numpy(np.concatenate(tables)).to(self.means.dtype))
        out_of_fold = np.zeros((len(codes), self.out_features), dtype=np.float32)
        by_class = num_outputs > 1
        for train_rows, held_rows in kfold(labels, min(FOLDS, len(codes)), seed, by_class=by_class):
            for i, (j, n) in enumerate(zip(self.columns, self.sizes)):
                table = category_means(codes[train_rows, j], targets[train_rows], n)
                out_of_fold[held_rows, i * self.width:(i + 1) * self.width] = table[codes[held_rows, j]]
        return out_of_fold
