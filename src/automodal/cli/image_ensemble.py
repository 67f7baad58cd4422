"""Ensembles of image-task models: weighted box fusion of detectors' boxes, and weighted means of segmentation
models' per-pixel class probabilities (with the member sets and weights chosen as for tables, on sampled pixels).

Weighted box fusion (Solovyev, Wang and Gabruseva, "Weighted boxes fusion: combining boxes for object detection
models", Image and Vision Computing 2021): per image and class, the boxes of every model, highest score first, join
the first cluster whose fused box they overlap by more than `iou_threshold`, else start one; a cluster's box is the
score-weighted mean of its boxes and its score their mean score, scaled down by min(boxes, models) / models, so a
box that only some models found counts for less. Unlike non-maximum suppression it averages the boxes the models
agree on instead of keeping one of them."""

from __future__ import annotations

import numpy as np

from .calibration import EPS

IOU_THRESHOLD = 0.55
SKIP_SCORE = 0.0


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, EPS)


def fuse_boxes(members: list, weights, iou_threshold: float = IOU_THRESHOLD, skip_score: float = SKIP_SCORE) -> list:
    """members: per model, one image's boxes as [(x1, y1, x2, y2), score, class_id]; weights: one per model.
    Returns the fused boxes [(box, score, class_id)], highest score first."""
    weights = np.asarray(weights, dtype=np.float64)
    weights = weights * len(weights) / weights.sum()          # mean weight 1: scores stay on their scale
    models = len(members)
    entries = [(np.asarray(box, dtype=np.float64), float(score) * weights[m], int(cls))
               for m, boxes in enumerate(members) for box, score, cls in boxes if score >= skip_score]
    fused = []
    for cls in sorted({e[2] for e in entries}):
        ranked = sorted((e for e in entries if e[2] == cls), key=lambda e: -e[1])
        clusters, centres = [], np.zeros((0, 4))
        for box, score, _ in ranked:
            match = -1
            if len(centres):
                overlaps = _iou(box, centres)
                best = int(overlaps.argmax())
                if overlaps[best] > iou_threshold:
                    match = best
            if match < 0:
                clusters.append([(box, score)])
                centres = np.vstack([centres, box])
                continue
            clusters[match].append((box, score))
            scores = np.array([s for _, s in clusters[match]])
            centres[match] = (np.stack([b for b, _ in clusters[match]]) * scores[:, None]).sum(0) / \
                max(scores.sum(), EPS)
        for cluster, centre in zip(clusters, centres):
            scores = np.array([s for _, s in cluster])
            fused.append((centre.tolist(), float(scores.mean() * min(len(cluster), models) / models), cls))
    return sorted(fused, key=lambda f: -f[1])


def pixel_sample(truth: list, per_image: int, seed: int) -> list:
    """Per image, the flat indices of up to `per_image` labelled pixels (ignored ones left out), drawn seeded."""
    rng = np.random.default_rng(seed)
    picks = []
    for target in truth:
        labelled = np.flatnonzero(target.ravel() >= 0)
        picks.append(labelled if len(labelled) <= per_image else np.sort(rng.choice(labelled, per_image,
                                                                                   replace=False)))
    return picks


def sampled(proba: list, picks: list) -> np.ndarray:
    """(pixels, classes) of the chosen pixels of each image's (classes, H, W) probabilities, images in order."""
    return np.concatenate([p.reshape(p.shape[0], -1)[:, pick].T for p, pick in zip(proba, picks)])


def mean_probabilities(members: list, weights) -> list:
    """Per image, the weighted mean of the members' (classes, H, W) probabilities."""
    weights = np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()
    return [sum(w * member[i] for w, member in zip(weights, members)).astype(np.float32)
            for i in range(len(members[0]))]
