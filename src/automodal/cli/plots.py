"""PNG figures of the info mode, drawn with matplotlib's file backend."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    _pyplot().close(figure)
    return path


def label_distribution(path: str, labels: pd.Series, folds: np.ndarray, classification: bool, title: str) -> str:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.5))
    if classification:
        table = pd.crosstab(pd.Series(folds, name="fold"), labels.astype(str).reset_index(drop=True))
        table.plot.bar(ax=axis, stacked=True)
        axis.set_ylabel("rows")
    else:
        for fold in sorted(set(folds)):
            axis.hist(labels[folds == fold], bins=20, alpha=0.5, label=f"fold {fold}")
        axis.legend(fontsize=7)
        axis.set_xlabel("label")
    axis.set_title(title)
    return _save(figure, path)


def trials(path: str, frame: pd.DataFrame, parameters: list, metric: str) -> str:
    """Score against trial number, and against each searched parameter."""
    plt = _pyplot()
    panels = 1 + len(parameters)
    figure, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3), squeeze=False)
    axes[0, 0].plot(frame["trial"], frame["score"], marker="o", linestyle="")
    axes[0, 0].plot(frame["trial"], frame["score"].cummax() if frame.attrs.get("greater_is_better", True)
                    else frame["score"].cummin(), color="grey")
    axes[0, 0].set_xlabel("trial")
    axes[0, 0].set_ylabel(metric)
    for axis, parameter in zip(axes[0, 1:], parameters):
        values = frame[parameter]
        numeric = pd.api.types.is_numeric_dtype(values)
        axis.plot(values if numeric else values.astype(str), frame["score"], marker="o", linestyle="")
        if numeric and (values > 0).all() and values.max() / max(values.min(), 1e-300) > 100:
            axis.set_xscale("log")
        axis.set_xlabel(parameter)
    return _save(figure, path)


def image_grid(path: str, cells: dict, per_class: int = 4) -> str:
    """cells: {title: {class: [image paths]}}: per cell, a row of images for each class."""
    from PIL import Image

    plt = _pyplot()
    columns = max(1, math.ceil(math.sqrt(len(cells))))
    rows = math.ceil(len(cells) / columns)
    figure = plt.figure(figsize=(3.2 * columns * per_class / 2, 3.2 * rows))
    outer = figure.add_gridspec(rows, columns)
    for index, (title, classes) in enumerate(cells.items()):
        inner = outer[index // columns, index % columns].subgridspec(max(1, len(classes)), per_class)
        for r, (label, paths) in enumerate(classes.items()):
            for c in range(per_class):
                axis = figure.add_subplot(inner[r, c])
                axis.axis("off")
                if c < len(paths):
                    try:
                        with Image.open(paths[c]) as image:
                            axis.imshow(image.convert("RGB"))
                    except OSError:
                        axis.text(0.5, 0.5, "unreadable", ha="center", fontsize=6)
                if c == 0:
                    axis.set_title(f"{title}: {label}" if r == 0 else str(label), fontsize=7, loc="left")
    return _save(figure, path)


def learning_curves(path: str, logs: dict, title: str) -> str:
    """logs: {model: training_log frame}: validation score against step."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for name, log in logs.items():
        scores = log.dropna(subset=["val_score"])
        axis.plot(scores["step"], scores["val_score"], label=name)
    axis.set_xlabel("step")
    axis.set_ylabel("validation score")
    axis.set_title(title)
    axis.legend(fontsize=7)
    return _save(figure, path)
