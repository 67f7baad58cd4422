"""Metrics and loss against hand-computed examples; ignored pixels change neither."""

import numpy as np
import pytest
import torch

from automodal.learners.segmentation.loss import segmentation_loss
from automodal.learners.segmentation.masks import IGNORE_INDEX
from automodal.learners.segmentation.metrics import (SEGMENTATION_METRICS, ber, confusion_matrix, dice,
                                                     iou_from_confusion, iou, structure_measure)

TARGET = np.array([[1, 1, 0, 0], [1, 0, 0, 0]])
PRED = np.array([[1, 0, 1, 0], [1, 0, 0, 0]])        # TP 2, FP 1, FN 1, TN 4


def test_binary_metrics_by_hand():
    assert iou(PRED, TARGET) == pytest.approx(2 / 4)
    assert dice(PRED, TARGET) == pytest.approx(4 / 6)
    assert ber(PRED, TARGET) == pytest.approx(1 - (2 / 3 + 4 / 5) / 2)
    assert SEGMENTATION_METRICS["ber"][1] is False and SEGMENTATION_METRICS["iou"][1] is True


def test_multiclass_metrics_by_hand():
    target, pred = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 1, 2, 0])
    assert iou(pred, target, 3) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert dice(pred, target, 3) == pytest.approx((2 / 4 + 4 / 5 + 2 / 3) / 3)
    assert ber(pred, target, 3) == pytest.approx(1 - (1 / 2 + 1 + 1 / 2) / 3)


def test_confusion_matrices_accumulate_over_batches():
    total = confusion_matrix(PRED[:1], TARGET[:1], 2) + confusion_matrix(PRED[1:], TARGET[1:], 2)
    assert iou_from_confusion(total) == iou(PRED, TARGET)


def test_structure_measure():
    truth = np.zeros((4, 4), np.int64)
    truth[:, :2] = 1
    assert structure_measure(truth, truth) == pytest.approx(1.0)
    half = np.zeros((4, 4))
    half[:, 0] = 1.0
    # object term 0.5 * 2(0.5)/(0.25 + 1 + sqrt(2/7)) + 0.5 * 1; region term (quadrants split after row 3,
    # column 2): 6/16 * 0 + 6/16 * 1 + 2/16 * 0 + 2/16 * 1
    expected = 0.5 * (0.5 / (1.25 + np.sqrt(2 / 7)) + 0.5) + 0.5 * 0.5
    assert structure_measure(half, truth) == pytest.approx(expected)
    rows, columns = np.mgrid[:32, :32]
    disc = ((rows - 16) ** 2 + (columns - 16) ** 2 <= 64).astype(np.int64)
    assert structure_measure(np.zeros_like(disc), disc) < 0.5
    assert structure_measure(np.full((32, 32), 0.1), np.zeros_like(disc)) == pytest.approx(0.9)
    assert structure_measure(disc * 0.9, disc) > structure_measure(np.roll(disc, 4, axis=1) * 0.9, disc)
    three = np.where(disc == 1, 2, truth.repeat(8, 0).repeat(8, 1))
    assert structure_measure(three, three, 3) == pytest.approx(1.0)


@pytest.mark.parametrize("classes", [2, 3])
def test_ignored_pixels_change_neither_metrics_nor_loss(classes):
    rng = np.random.default_rng(0)
    target = rng.integers(0, classes, (2, 12, 12))
    target[:, :4] = IGNORE_INDEX
    pred = rng.integers(0, classes, (2, 12, 12))
    changed = pred.copy()
    changed[:, :4] = rng.integers(0, classes, (2, 4, 12))
    for name, (metric, _) in SEGMENTATION_METRICS.items():
        assert metric(changed, target, classes) == metric(pred, target, classes), name
    channels = 1 if classes == 2 else classes
    logits = torch.randn(2, channels, 12, 12)
    other = logits.clone()
    other[:, :, :4] = torch.randn(2, channels, 4, 12) * 10
    labels = torch.from_numpy(target)
    assert torch.allclose(segmentation_loss(logits, labels), segmentation_loss(other, labels))
    assert not torch.allclose(segmentation_loss(logits, labels), segmentation_loss(other, torch.zeros_like(labels)))


def test_loss_by_hand_and_at_another_size():
    target = torch.tensor([[[1, 0], [IGNORE_INDEX, 0]]])
    logits = torch.tensor([[[[2.0, -1.0], [5.0, 0.0]]]])
    p = torch.sigmoid(torch.tensor([2.0, -1.0, 0.0]))
    cross_entropy = -(torch.log(p[0]) + torch.log(1 - p[1]) + torch.log(1 - p[2])) / 3
    dice_loss = 1 - (2 * p[0] + 1) / (p.sum() + 1 + 1)
    assert segmentation_loss(logits, target) == pytest.approx(float(cross_entropy + dice_loss), rel=1e-5)
    # logits at a quarter of the mask's size are scaled up to it
    assert segmentation_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 16, 16, dtype=torch.long)).isfinite()
    everything_ignored = torch.full((1, 2, 2), IGNORE_INDEX)
    assert segmentation_loss(logits.requires_grad_(), everything_ignored).item() == 0.0
