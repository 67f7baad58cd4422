"""A fixed linear model under a network trained from scratch (model.linear_start): ridge regression, or logistic
regression, on the processed numerical columns, one-hot categories and the hashed n-grams of text read by
hashed_text (classification only: learner.linear_text), fitted on the training rows before the network trains.

The network's head starts at zero, so training starts from exactly the linear model's predictions and the network
learns what the linear model misses. On small, nearly linear tables a network alone stays well behind a ridge
(scikit-learn's diabetes: R² 0.33 against 0.42); with this start it matches it, and elsewhere it loses nothing.
On text read by hashed_text the linear model is the bag-of-n-grams logistic regression that is hard to beat on
short texts (airline tweets: accuracy 0.75 for the network alone, 0.80 for the linear model).
The linear weights are buffers: saved, averaged and loaded with the network's weights, never trained."""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.hashed_text import bucket_matrix
from ..data.types import CATEGORICAL, NUMERICAL

RIDGE_ALPHAS = np.logspace(-2, 3, 21)
MAX_ROWS = 20_000           # the linear model is a starting point: a sample of a large table fits it well enough
MAX_CATEGORIES = 1000       # columns with more categories are left to the network (their one-hot would be huge)


def _design(numerical: np.ndarray | None, codes: np.ndarray | None, cardinalities: list, used: list, text=None):
    """Numbers, the one-hot categories of the `used` columns and the n-gram buckets of `text` as one sparse
    matrix."""
    from scipy import sparse

    parts = []
    if numerical is not None:
        parts.append(sparse.csr_matrix(np.nan_to_num(numerical.astype(np.float64))))
    rows = np.arange(len(codes)) if codes is not None else None
    for j in used:
        parts.append(sparse.csr_matrix((np.ones(len(codes)), (rows, codes[:, j])), shape=(len(codes),
                                                                                          cardinalities[j])))
    if text is not None:
        parts.append(text)
    return sparse.hstack(parts, format="csr")


class LinearStart(nn.Module):
    """logits = numerical @ weight + sum over categorical columns of their category's row + the weighted sum of the
    rows of the text's n-gram buckets + bias."""

    def __init__(self, num_numerical: int, cardinalities: list, outputs: int, text_name: str | None = None,
                 text_buckets: int = 0):
        super().__init__()
        self.cardinalities = list(cardinalities)
        self.text_name = text_name      # the hashed_text model whose "<name>.buckets" / ".weights" inputs are read
        self.register_buffer("text_weight", torch.zeros(text_buckets, outputs) if text_name else None)
        self.register_buffer("numerical_weight", torch.zeros(num_numerical, outputs))
        self.register_buffer("category_weight", torch.zeros(sum(cardinalities), outputs))
        self.register_buffer("category_offsets", torch.tensor(np.cumsum([0] + self.cardinalities[:-1]),
                                                               dtype=torch.long))
        self.register_buffer("bias", torch.zeros(outputs))

    def forward(self, batch: dict) -> torch.Tensor:
        logits = self.bias
        if self.numerical_weight.shape[0]:
            logits = logits + batch[NUMERICAL].to(self.numerical_weight.dtype) @ self.numerical_weight
        if self.cardinalities:
            rows = self.category_weight[batch[CATEGORICAL] + self.category_offsets]     # (batch, columns, outputs)
            logits = logits + rows.sum(dim=1)
        if self.text_weight is not None:
            name = self.text_name
            logits = logits + F.embedding_bag(batch[f"{name}.buckets"], self.text_weight, batch[f"{name}.offsets"],
                                              mode="sum", per_sample_weights=batch[f"{name}.weights"].to(
                                                  self.text_weight.dtype))
        return logits

    def fit(self, arrays: dict, labels: np.ndarray, regression: bool) -> "LinearStart":
        """Ridge (alpha chosen by leave-one-out) on standardised regression labels, else logistic regression."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression, RidgeCV

        numerical = arrays.get(NUMERICAL) if self.numerical_weight.shape[0] else None
        codes = arrays.get(CATEGORICAL) if self.cardinalities else None
        reads_text = self.text_weight is not None
        buckets = arrays[f"{self.text_name}.buckets"] if reads_text else None
        weights = arrays[f"{self.text_name}.weights"] if reads_text else None
        if len(labels) > MAX_ROWS:
            keep = np.sort(np.random.default_rng(0).choice(len(labels), MAX_ROWS, replace=False))
            numerical = None if numerical is None else numerical[keep]
            codes = None if codes is None else codes[keep]
            buckets, weights = (buckets[keep], weights[keep]) if reads_text else (None, None)
            labels = labels[keep]
        used = [j for j, size in enumerate(self.cardinalities) if size <= MAX_CATEGORIES]
        if numerical is None and not used and not reads_text:
            return self         # nothing a linear model can read: the network starts from zero
        text = bucket_matrix(buckets, weights, self.text_weight.shape[0]) if reads_text else None
        features = _design(numerical, codes, self.cardinalities, used, text)
        if regression:
            model = RidgeCV(alphas=RIDGE_ALPHAS).fit(features, labels.astype(np.float64))
            weight, bias = model.coef_.reshape(-1, 1), np.atleast_1d(model.intercept_)
        else:
            with warnings.catch_warnings():
                # a starting point, not the model: scikit-learn's doubts about few rows per class or an unfinished
                # optimisation are no news to the user (the network trains on from here)
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.filterwarnings("ignore", message=".*number of unique classes.*")
                model = LogisticRegression(C=1.0, max_iter=1000).fit(features, labels)
            coef, intercept = model.coef_.T, model.intercept_
            if coef.shape[1] == 1:           # two classes: sklearn gives the second one's logit only
                coef, intercept = np.concatenate([np.zeros_like(coef), coef], 1), np.concatenate([[0.0], intercept])
            # classes absent from the training rows keep a low logit
            weight = np.zeros((features.shape[1], self.bias.shape[0]))
            bias = np.full(self.bias.shape[0], float(intercept.min()) - 10.0)
            weight[:, model.classes_], bias[model.classes_] = coef, intercept
        weight = torch.as_tensor(weight, dtype=torch.float32)
        count = self.numerical_weight.shape[0]
        self.numerical_weight.copy_(weight[:count])
        for j in used:
            start = int(self.category_offsets[j])
            self.category_weight[start:start + self.cardinalities[j]] = weight[count:count + self.cardinalities[j]]
            count += self.cardinalities[j]
        if reads_text:
            self.text_weight.copy_(weight[count:])
        self.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
        return self
