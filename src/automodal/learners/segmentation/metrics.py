"""Segmentation metrics on class-index arrays (numpy or CPU tensors), shaped (H, W) or (N, H, W). Pixels whose target
is ignore_index count nowhere.

iou, dice and ber pool the pixels of all images given (as one confusion matrix, which confusion_matrix() lets a
caller accumulate batch by batch); sm is a per-image measure, averaged over the images.

- iou: binary, the foreground's intersection over union; multi-class, the mean over classes that occur in the
  target or the prediction.
- dice: 2|P∩T| / (|P| + |T|), averaged the same way.
- ber: balanced error rate, 1 - the mean over classes in the target of the share of their pixels predicted right;
  for binary that is 1 - (TPR + TNR) / 2. Lower is better. A fraction (AutoGluon reports the same number).
- sm: structure measure (Fan et al., "Structure-measure: A New Way to Evaluate Foreground Maps", ICCV 2017),
  0.5 * object-aware + 0.5 * region-aware similarity. Binary predictions may be foreground probabilities
  instead of labels; multi-class scores each class in the target one-against-the-rest and averages.

An image set where target and prediction are both empty of a class scores that class as perfect."""

from __future__ import annotations

import numpy as np

from .masks import IGNORE_INDEX

EPS = np.finfo(np.float64).eps
SM_ALPHA = 0.5              # weight of the object-aware term


def _arrays(pred, target):
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")
    return pred, target


def confusion_matrix(pred, target, num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """(num_classes, num_classes) pixel counts, rows the target class, columns the predicted class."""
    pred, target = _arrays(pred, target)
    valid = target != ignore_index
    pairs = target[valid].astype(np.int64) * num_classes + pred[valid].astype(np.int64)
    return np.bincount(pairs, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _per_class(matrix: np.ndarray):
    true_positive = np.diag(matrix).astype(np.float64)
    return true_positive, matrix.sum(axis=0) - true_positive, matrix.sum(axis=1) - true_positive


def _ratio_mean(numerator, denominator, binary: bool) -> float:
    if binary:
        return float(numerator[1] / denominator[1]) if denominator[1] > 0 else 1.0
    scored = denominator > 0
    return float(np.mean(numerator[scored] / denominator[scored])) if scored.any() else 1.0


def iou_from_confusion(matrix: np.ndarray) -> float:
    tp, fp, fn = _per_class(matrix)
    return _ratio_mean(tp, tp + fp + fn, len(matrix) == 2)


def dice_from_confusion(matrix: np.ndarray) -> float:
    tp, fp, fn = _per_class(matrix)
    return _ratio_mean(2 * tp, 2 * tp + fp + fn, len(matrix) == 2)


def ber_from_confusion(matrix: np.ndarray) -> float:
    tp, _, fn = _per_class(matrix)
    present = (tp + fn) > 0
    return float(1.0 - np.mean(tp[present] / (tp + fn)[present])) if present.any() else 0.0


def iou(pred, target, num_classes: int = 2, ignore_index: int = IGNORE_INDEX) -> float:
    return iou_from_confusion(confusion_matrix(pred, target, num_classes, ignore_index))


def dice(pred, target, num_classes: int = 2, ignore_index: int = IGNORE_INDEX) -> float:
    return dice_from_confusion(confusion_matrix(pred, target, num_classes, ignore_index))


def ber(pred, target, num_classes: int = 2, ignore_index: int = IGNORE_INDEX) -> float:
    return ber_from_confusion(confusion_matrix(pred, target, num_classes, ignore_index))


def _object_score(values: np.ndarray) -> float:
    """How uniformly high a map is over one object: 2m / (m^2 + 1 + std)."""
    mean = values.mean()
    spread = values.std(ddof=1) if values.size > 1 else 0.0
    return 2.0 * mean / (mean * mean + 1.0 + spread + EPS)


def _ssim(x: np.ndarray, y: np.ndarray) -> float:
    """The single-window structural similarity that the region term uses."""
    n = x.size
    mx, my = x.mean(), y.mean()
    vx = ((x - mx) ** 2).sum() / (n - 1 + EPS)
    vy = ((y - my) ** 2).sum() / (n - 1 + EPS)
    cov = ((x - mx) * (y - my)).sum() / (n - 1 + EPS)
    alpha, beta = 4.0 * mx * my * cov, (mx * mx + my * my) * (vx + vy)
    if alpha != 0:
        return alpha / (beta + EPS)
    return 1.0 if beta == 0 else 0.0


def _region_score(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> float:
    """SSIM of the four quadrants around the foreground's centroid, weighted by their (valid) areas."""
    rows, columns = np.nonzero(truth & valid)
    # the paper's centroid: the 1-based mean position rounded half up; the quadrants before it include it
    split_row, split_column = int(np.floor(rows.mean() + 1.5)), int(np.floor(columns.mean() + 1.5))
    total, score = valid.sum(), 0.0
    for row_part in (slice(0, split_row), slice(split_row, None)):
        for column_part in (slice(0, split_column), slice(split_column, None)):
            inside = valid[row_part, column_part]
            count = inside.sum()
            if count:
                score += count / total * _ssim(pred[row_part, column_part][inside],
                                               truth[row_part, column_part][inside].astype(np.float64))
    return score


def _structure_one(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> float | None:
    """S-measure of one foreground map (floats in [0, 1]) against one binary truth; None with no valid pixel."""
    p, t = pred[valid], truth[valid]
    if p.size == 0:
        return None
    share = t.mean()
    if share == 0:
        return float(1.0 - p.mean())
    if share == 1:
        return float(p.mean())
    objects = share * _object_score(p[t]) + (1 - share) * _object_score(1.0 - p[~t])
    return float(max(0.0, SM_ALPHA * objects + (1 - SM_ALPHA) * _region_score(pred, truth, valid)))


def structure_measure(pred, target, num_classes: int = 2, ignore_index: int = IGNORE_INDEX) -> float:
    pred, target = _arrays(pred, target)
    if target.ndim == 2:
        pred, target = pred[None], target[None]
    scores = []
    for p, t in zip(pred, target):
        valid = t != ignore_index
        if num_classes == 2:
            score = _structure_one(p.astype(np.float64), t == 1, valid)
        else:
            per_class = [_structure_one((p == c).astype(np.float64), t == c, valid)
                         for c in np.unique(t[valid])]
            score = float(np.mean(per_class)) if per_class else None
        if score is not None:
            scores.append(score)
    return float(np.mean(scores)) if scores else 1.0


# name -> (fn(pred, target, num_classes, ignore_index) -> float, greater is better)
SEGMENTATION_METRICS = {
    "iou": (iou, True),
    "ber": (ber, False),
    "sm": (structure_measure, True),
    "dice": (dice, True),
}
