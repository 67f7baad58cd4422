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


def trials(path: str, frame: pd.DataFrame, parameters: list, metric: str, log_keys: list = ()) -> str:
    """The score against trial number with the best so far, and against each searched key (log_keys, or keys
    whose values span a factor of 100, on a log scale)."""
    plt = _pyplot()
    panels = 1 + len(parameters)
    figure, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3), squeeze=False)
    axes[0, 0].plot(frame["trial"], frame["score"], marker="o", linestyle="", label="trial")
    axes[0, 0].step(frame["trial"], frame["score"].cummax() if frame.attrs.get("greater_is_better", True)
                    else frame["score"].cummin(), where="post", color="grey", label="best so far")
    axes[0, 0].set_xlabel("trial")
    axes[0, 0].set_ylabel(metric)
    axes[0, 0].legend(fontsize=7)
    for axis, parameter in zip(axes[0, 1:], parameters):
        values = frame[parameter]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        axis.plot(values if numeric else values.astype(str), frame["score"], marker="o", linestyle="")
        wide = numeric and (values > 0).all() and values.max() / max(values.min(), 1e-300) > 100
        if numeric and (parameter in log_keys or wide):
            axis.set_xscale("log")
        axis.set_xlabel(parameter)
        axis.set_ylabel(metric)
    return _save(figure, path)


def parallel_trials(path: str, frame: pd.DataFrame, parameters: list, metric: str, log_keys: list = ()) -> str:
    """One line per trial across the searched keys and the score, each axis scaled to its own range (a log scale
    for keys in log_keys; categories evenly spaced), the lines coloured by score, the best trial drawn on top."""
    plt = _pyplot()
    axes_keys = [*parameters, metric]
    columns, ticks = [], []
    for key in parameters:
        values = frame[key]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            scaled = np.log10(values.astype(float)) if key in log_keys else values.astype(float)
            low, high = float(scaled.min()), float(scaled.max())
            columns.append((scaled - low) / (high - low) if high > low else scaled * 0 + 0.5)
            ticks.append((f"{values.min():.3g}", f"{values.max():.3g}"))
        else:
            names = sorted(values.astype(str).unique())
            columns.append(values.astype(str).map({n: i / max(1, len(names) - 1) for i, n in enumerate(names)}))
            ticks.append((names[0], names[-1]) if len(names) > 1 else (names[0], names[0]))
    scores = frame["score"].astype(float)
    low, high = float(scores.min()), float(scores.max())
    columns.append((scores - low) / (high - low) if high > low else scores * 0 + 0.5)
    ticks.append((f"{low:.4g}", f"{high:.4g}"))
    better = scores if frame.attrs.get("greater_is_better", True) else -scores
    shade = (better - better.min()) / (better.max() - better.min()) if better.max() > better.min() else better * 0 + 1
    figure, axis = plt.subplots(figsize=(max(4.5, 2.2 * len(axes_keys)), 3.8))
    colours = plt.get_cmap("viridis")
    points = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    for row in np.argsort(shade.to_numpy()):        # the best last, on top
        axis.plot(range(len(axes_keys)), points[row], color=colours(float(shade.iloc[row])), marker="o",
                  linewidth=2.5 if shade.iloc[row] == 1 else 1.2, alpha=0.9)
        axis.annotate(str(frame["trial"].iloc[row]), (len(axes_keys) - 1, points[row, -1]), fontsize=7,
                      xytext=(4, 0), textcoords="offset points", va="center")
    for x, (bottom, top) in enumerate(ticks):
        axis.axvline(x, color="grey", linewidth=0.8)
        axis.text(x, -0.06, bottom, ha="center", va="top", fontsize=7)
        axis.text(x, 1.06, top, ha="center", va="bottom", fontsize=7)
    axis.set_xticks(range(len(axes_keys)))
    axis.set_xticklabels([k.rsplit(".", 1)[-1] + (" (log)" if k in log_keys else "") for k in axes_keys],
                         fontsize=8)
    axis.set_ylim(-0.2, 1.2)
    axis.set_yticks([])
    axis.set_title(f"trials across the searched keys (colour: {metric}, brighter is better)", fontsize=9)
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


def annotated_images(path: str, cells: dict, per_cell: int = 4) -> str:
    """cells: {title: [(image path, boxes, mask path)]}: per cell a row of images, each with its boxes
    ([x1, y1, x2, y2, class] outlined and named) or its mask (classes as colours over the image)."""
    from matplotlib.patches import Rectangle
    from PIL import Image

    plt = _pyplot()
    figure, axes = plt.subplots(max(1, len(cells)), per_cell, figsize=(2.4 * per_cell, 2.6 * max(1, len(cells))),
                                squeeze=False)
    colours = plt.get_cmap("tab10")
    for r, (title, samples) in enumerate(cells.items()):
        names = sorted({str(b[4]) for _, boxes, _ in samples for b in boxes or []})     # one colour per class
        for c in range(per_cell):
            axis = axes[r, c]
            axis.axis("off")
            if c >= len(samples):
                continue
            image, boxes, mask = samples[c]
            try:
                with Image.open(image) as opened:
                    axis.imshow(opened.convert("RGB"))
            except OSError:
                axis.text(0.5, 0.5, "unreadable", ha="center", fontsize=6)
                continue
            for x1, y1, x2, y2, cls in boxes or []:
                colour = colours(names.index(str(cls)) % 10)
                axis.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.5))
                axis.text(x1, y1, str(cls), color="white", fontsize=6, va="bottom",
                          bbox={"facecolor": colour, "edgecolor": "none", "pad": 0.5})
            if mask is not None:
                with Image.open(mask) as opened:
                    values = np.asarray(opened)
                if values.ndim == 3:
                    values = values[..., 0]
                shown = np.ma.masked_where(values == 0, values)
                axis.imshow(shown, cmap="tab10", alpha=0.5, interpolation="nearest",
                            vmin=0, vmax=max(1, int(values.max())))
            if c == 0:
                axis.set_title(title, fontsize=7, loc="left")
    return _save(figure, path)


def counts_per_fold(path: str, table: pd.DataFrame, ylabel: str, title: str) -> str:
    """A bar per fold, stacked by class: table indexed by fold, a column per class."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.5))
    table.plot.bar(ax=axis, stacked=True)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    return _save(figure, path)
