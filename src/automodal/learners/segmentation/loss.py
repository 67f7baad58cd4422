"""The training loss of per-pixel logits against class-index masks; ignored pixels (IGNORE_INDEX) add nothing.

Binary (logits (B, 1, H, W)): binary cross-entropy plus soft Dice. Multi-class (logits (B, C, H, W)): cross-entropy
plus soft Dice per class. Cross-entropy alone lets a small foreground drown in background pixels; the Dice term
scores the overlap of each mask whatever its size. Dice is computed per image (and class) and averaged, with a
smoothing of 1 so that an image without foreground asks for an empty prediction instead of dividing by zero."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .masks import IGNORE_INDEX

SMOOTH = 1.0


def _soft_dice_loss(probabilities: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """1 - Dice, per image (and class): tensors (B, [C,] H, W) that are zero at ignored pixels."""
    overlap = (probabilities * truth).sum(dim=(-2, -1))
    total = probabilities.sum(dim=(-2, -1)) + truth.sum(dim=(-2, -1))
    return (1.0 - (2.0 * overlap + SMOOTH) / (total + SMOOTH)).mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """logits (B, 1 or C, h, w) and target (B, H, W) int64 class indices; logits of another size are scaled
    (bilinear) to the target's."""
    if logits.shape[-2:] != target.shape[-2:]:
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    valid = target != ignore_index
    if not valid.any():
        return logits.sum() * 0.0       # a batch of ignored pixels only: no signal, but a graph for backward
    weight = valid.to(logits.dtype)
    if logits.shape[1] == 1:
        scores = logits[:, 0]
        truth = (target == 1).to(logits.dtype)
        cross_entropy = F.binary_cross_entropy_with_logits(scores, truth, weight=weight, reduction="sum")
        cross_entropy = cross_entropy / weight.sum()
        return cross_entropy + _soft_dice_loss(torch.sigmoid(scores) * weight, truth * weight)
    cross_entropy = F.cross_entropy(logits, target, ignore_index=ignore_index)
    truth = F.one_hot(torch.where(valid, target, 0), logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
    weight = weight.unsqueeze(1)
    return cross_entropy + _soft_dice_loss(torch.softmax(logits, dim=1) * weight, truth * weight)
