"""Calibration of class probabilities: an affine map of the logits, softmax(T * z + b + log(prior)), with one
temperature T and one bias per class, fitted by L-BFGS on held-out predictions whose losses are weighted by
prior / observed class share (with a pull towards the identity map worth one row); and the measures and plot that
show its effect."""

from __future__ import annotations

import numpy as np

EPS = 1e-7


def logits_of(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(proba, EPS, 1.0))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], EPS, 1.0))))


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by the rows in each."""
    confidence, predicted = proba.max(axis=1), proba.argmax(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs((predicted[inside] == y[inside]).mean() - confidence[inside].mean())
    return float(total)


def class_shares(y: np.ndarray, classes: int) -> np.ndarray:
    return np.bincount(y, minlength=classes) / max(1, len(y))


def check_prior(prior, classes: int) -> np.ndarray:
    """A prior given as a list: one positive share per class, normalised to sum to 1."""
    values = np.asarray(list(prior), dtype=np.float64)
    if values.shape != (classes,) or not np.all(values > 0):
        raise ValueError(f"mode.prior must list {classes} positive class shares (one per class), got "
                         f"{list(prior)}.")
    return values / values.sum()


def quantify(val_proba: np.ndarray, val_y: np.ndarray, unlabeled_proba: np.ndarray) -> np.ndarray:
    """Adjusted Classify & Count: the class shares of the unlabeled rows from their predicted classes, corrected by
    the confusion rates P(predicted | true) measured on labelled rows (least squares, clipped, renormalised)."""
    classes = val_proba.shape[1]
    predicted = val_proba.argmax(axis=1)
    rates = np.zeros((classes, classes))
    for true in range(classes):
        rows = val_y == true
        if rows.any():
            rates[:, true] = np.bincount(predicted[rows], minlength=classes) / rows.sum()
        else:
            rates[true, true] = 1.0
    observed = class_shares(unlabeled_proba.argmax(axis=1), classes)
    estimate = np.linalg.lstsq(rates, observed, rcond=None)[0]
    estimate = np.clip(estimate, EPS, None)
    return estimate / estimate.sum()


def fit_affine(proba: np.ndarray, y: np.ndarray, prior: np.ndarray) -> tuple[float, np.ndarray]:
    """(T, b) minimising the prior-weighted log loss of softmax(T * log(proba) + b + log(prior)) on (proba, y)."""
    import torch

    classes = proba.shape[1]
    observed = class_shares(y, classes)
    weights = np.where(observed[y] > 0, prior[y] / np.maximum(observed[y], EPS), 0.0)
    z = torch.tensor(logits_of(proba), dtype=torch.float64)
    target = torch.tensor(y, dtype=torch.long)
    w = torch.tensor(weights / weights.sum(), dtype=torch.float64)
    log_prior = torch.tensor(np.log(prior), dtype=torch.float64)
    temperature = torch.ones(1, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([temperature, bias], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    # A small pull towards the identity map (T = 1, b = 0), worth one row: on a tuning split the model separates
    # perfectly, the likelihood alone would send T to infinity and ruin the test probabilities.
    strength = 1.0 / len(y)

    def closure():
        optimizer.zero_grad()
        scores = temperature * z + bias + log_prior
        loss = -(w * torch.log_softmax(scores, dim=1)[torch.arange(len(target)), target]).sum()
        loss = loss + strength * ((temperature - 1) ** 2 + (bias ** 2).sum()).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(temperature.detach()), bias.detach().numpy()


def apply_affine(proba: np.ndarray, temperature: float, bias: np.ndarray, prior: np.ndarray) -> np.ndarray:
    return softmax(temperature * logits_of(proba) + bias + np.log(prior))


def reliability_diagram(path: str, curves: dict, bins: int = 10):
    """Accuracy against confidence per bin, one line per {name: (proba, y)}; written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    edges = np.linspace(0, 1, bins + 1)
    for name, (proba, y) in curves.items():
        confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y
        centres, accuracy = [], []
        for low, high in zip(edges[:-1], edges[1:]):
            inside = (confidence > low) & (confidence <= high)
            if inside.any():
                centres.append(confidence[inside].mean())
                accuracy.append(correct[inside].mean())
        axis.plot(centres, accuracy, marker="o", label=name)
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
