"""A fixed linear model under a network trained from scratch (model.linear_start): ridge regression, or logistic
regression, on the processed numerical columns, one-hot categories and the hashed n-grams of text read by
hashed_text (classification only: learner.linear_text), fitted on the training rows before the network trains.

The network's head starts at zero, so training starts from exactly the linear model's predictions and the network
learns what the linear model misses. On small, nearly linear tables a network alone stays well behind a ridge
(scikit-learn's diabetes: R² 0.33 against 0.42); with this start it matches it, and elsewhere it loses nothing.
On text read by hashed_text the linear model is the bag-of-n-grams logistic regression that is hard to beat on
short texts (airline tweets: accuracy 0.75 for the network alone, 0.80 for the linear model).
The linear weights are buffers: saved, averaged and loaded with the network's weights, never trained.

Numbers reach the network as normal scores of their ranks (data.numerical.transform: quantile), which suits the
network but bends a straight-line relation: on ISLP's Carseats a logistic regression on the scores reads shelf
location with accuracy 0.70, on the numbers themselves 0.80. So the linear model reads each number either as its
score or on its own scale (centred on the median, scaled by the interquartile range, clipped at 4 deviations),
mapped back from the score through the column's training quantiles, whichever predicts better out of fold on the
training rows."""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.hashed_text import bucket_matrix
from ..data.processors import normal_scores
from ..data.types import CATEGORICAL, NUMERICAL
from ..folds import kfold

RIDGE_ALPHAS = np.logspace(-2, 3, 21)
KNOTS = 32                  # points of the piecewise-linear map from a number's score back to its own scale
CLIP = 4.0                  # numbers on their own scale are clipped at this many (robust) deviations
FOLDS, CV_ROWS = 3, 5_000   # the classification's choice of number scale: folds, and at most this many rows
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


def own_scale_knots(processor, knots: int = KNOTS) -> tuple | None:
    """(scores, values), each (columns, knots): points of the map from each column's normal scores (as the network
    reads them) back to its own values, robustly standardised and clipped; None when the numbers are not read as
    normal scores. A column of at most `knots` distinct values has them all as points (an exact map); a longer one
    has points evenly spaced in score, so the tails, where the map bends most, are followed closely."""
    if processor is None or getattr(processor, "quantiles", None) is None or not processor.quantiles:
        return None
    scores, values = np.zeros((len(processor.quantiles), knots)), np.zeros((len(processor.quantiles), knots))
    for j, quantiles in enumerate(processor.quantiles):
        distinct = np.unique(quantiles)
        grid = normal_scores(distinct, quantiles, processor.quantile_rows[j])
        grid = (grid - (processor.mean[j] if processor.with_mean else 0.0)) / processor.scale[j]
        if len(distinct) > knots:
            at = np.linspace(grid[0], grid[-1], knots)
            grid, distinct = at, np.interp(at, grid, distinct)
        low, median, high = np.interp([0.25, 0.5, 0.75], np.linspace(0.0, 1.0, len(quantiles)), quantiles)
        spread = (high - low) / 1.349 or np.std(quantiles) or 1.0      # the standard deviation, were it normal
        own = np.clip((distinct - median) / spread, -CLIP, CLIP)
        pad = knots - len(grid)       # repeated last points: flat segments that change nothing
        scores[j] = np.concatenate([grid, np.full(pad, grid[-1])])
        values[j] = np.concatenate([own, np.full(pad, own[-1])])
    return scores, values


def _piecewise(x: torch.Tensor, knot_x: torch.Tensor, knot_y: torch.Tensor) -> torch.Tensor:
    """Each column of x (batch, columns) through its own piecewise-linear map, flat beyond the outer knots; min / max
    keep it exportable to ONNX."""
    low, high = knot_x[:, :-1], knot_x[:, 1:]
    slope = (knot_y[:, 1:] - knot_y[:, :-1]) / (high - low).clamp_min(1e-12)     # repeated points: 0 / tiny
    inside = torch.minimum(torch.maximum(x.unsqueeze(-1), low), high) - low
    return knot_y[:, 0] + (inside * slope).sum(dim=-1)


class LinearStart(nn.Module):
    """logits = numerical @ weight + sum over categorical columns of their category's row + the weighted sum of the
    rows of the text's n-gram buckets + bias."""

    def __init__(self, num_numerical: int, cardinalities: list, outputs: int, text_name: str | None = None,
                 text_buckets: int = 0, knots: int = 0):
        super().__init__()
        # with knots, numbers are read on their own scale: each score through its column's map (own_scale_knots)
        self.register_buffer("knot_x", torch.zeros(num_numerical, knots) if knots and num_numerical else None)
        self.register_buffer("knot_y", torch.zeros(num_numerical, knots) if knots and num_numerical else None)
        self.cardinalities = list(cardinalities)
        self.text_name = text_name      # the hashed_text model whose "<name>.buckets" / ".weights" inputs are read
        self.register_buffer("text_weight", torch.zeros(text_buckets, outputs) if text_name else None)
        self.register_buffer("numerical_weight", torch.zeros(num_numerical, outputs))
        self.register_buffer("category_weight", torch.zeros(sum(cardinalities), outputs))
        self.register_buffer("category_offsets", torch.tensor(np.cumsum([0] + self.cardinalities[:-1]),
                                                               dtype=torch.long))
        self.register_buffer("bias", torch.zeros(outputs))

    @property
    def knots(self) -> int:
        """Knots of the map to the numbers' own scale; 0 when the numbers are read as the network reads them."""
        return 0 if self.knot_x is None else int(self.knot_x.shape[1])

    def _numbers(self, numerical: torch.Tensor) -> torch.Tensor:
        numerical = numerical.to(self.numerical_weight.dtype)
        return numerical if self.knot_x is None else _piecewise(numerical, self.knot_x, self.knot_y)

    def forward(self, batch: dict) -> torch.Tensor:
        logits = self.bias
        if self.numerical_weight.shape[0]:
            logits = logits + self._numbers(batch[NUMERICAL]) @ self.numerical_weight
        if self.cardinalities:
            rows = self.category_weight[batch[CATEGORICAL] + self.category_offsets]     # (batch, columns, outputs)
            logits = logits + rows.sum(dim=1)
        if self.text_weight is not None:
            name = self.text_name
            logits = logits + F.embedding_bag(batch[f"{name}.buckets"], self.text_weight, batch[f"{name}.offsets"],
                                              mode="sum", per_sample_weights=batch[f"{name}.weights"].to(
                                                  self.text_weight.dtype))
        return logits

    def fit(self, arrays: dict, labels: np.ndarray, regression: bool, knots: tuple | None = None) -> "LinearStart":
        """Ridge (alpha chosen by leave-one-out) on standardised regression labels, else logistic regression.
        knots (own_scale_knots): the numbers are read on their own scale when that predicts better out of fold."""
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
        own = None
        if knots is not None and numerical is not None and self.knot_x is not None:
            self.knot_x.copy_(torch.as_tensor(knots[0]))
            self.knot_y.copy_(torch.as_tensor(knots[1]))
            own = self._numbers(torch.as_tensor(numerical)).numpy()
        if regression:
            model = _ridge(_design(numerical, codes, self.cardinalities, used), labels)
            if own is not None:
                other = _ridge(_design(own, codes, self.cardinalities, used), labels)
                model, numerical = (other, own) if other.best_score_ > model.best_score_ else (model, numerical)
            weight, bias = model.coef_.reshape(-1, 1), np.atleast_1d(model.intercept_)
        else:
            if own is not None and _out_of_fold_log_loss(_design(own, codes, self.cardinalities, used), labels) < \
                    _out_of_fold_log_loss(_design(numerical, codes, self.cardinalities, used), labels):
                numerical = own
            model = _logistic(_design(numerical, codes, self.cardinalities, used, text), labels)
            coef, intercept = model.coef_.T, model.intercept_
            if coef.shape[1] == 1:           # two classes: sklearn gives the second one's logit only
                coef, intercept = np.concatenate([np.zeros_like(coef), coef], 1), np.concatenate([[0.0], intercept])
            # classes absent from the training rows keep a low logit
            weight = np.zeros((coef.shape[0], self.bias.shape[0]))
            bias = np.full(self.bias.shape[0], float(intercept.min()) - 10.0)
            weight[:, model.classes_], bias[model.classes_] = coef, intercept
        if numerical is not own:
            self.knot_x = self.knot_y = None      # the scores predicted better: read them as the network does
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


def _ridge(features, labels: np.ndarray):
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=RIDGE_ALPHAS).fit(features, labels.astype(np.float64))


def _logistic(features, labels: np.ndarray):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        # a starting point, not the model: scikit-learn's doubts about few rows per class or an unfinished
        # optimisation are no news to the user (the network trains on from here)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*number of unique classes.*")
        return LogisticRegression(C=1.0, max_iter=1000).fit(features, labels)


def _out_of_fold_log_loss(features, labels: np.ndarray) -> float:
    """The logistic regression's log loss on held-out folds of (at most CV_ROWS of) the training rows."""
    if len(labels) > CV_ROWS:
        keep = np.sort(np.random.default_rng(0).choice(len(labels), CV_ROWS, replace=False))
        features, labels = features[keep], labels[keep]
    classes = np.unique(labels)
    total = 0.0
    for train, held in kfold(labels, FOLDS, 0, by_class=True):
        if len(np.unique(labels[train])) < 2:
            return np.inf       # too few rows of a class to tell: the scores stay
        model = _logistic(features[train], labels[train])
        proba = np.full((len(held), len(classes)), 1e-15)
        proba[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(features[held])
        picked = proba[np.arange(len(held)), np.searchsorted(classes, labels[held])]
        total -= np.log(np.clip(picked, 1e-15, 1.0)).sum()
    return total / len(labels)
