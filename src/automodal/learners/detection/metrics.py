"""COCO's detection metrics, computed by torchmetrics on the faster-coco-eval backend."""

from __future__ import annotations

import importlib.util

import torch

from ...errors import AutomodalError

# mean average precision (over IoU 0.5:0.95, at 0.5, at 0.75, by object size) and mean average recall (at 1, 10,
# 100 detections per image, by size): all greater-is-better
METRICS = {name: True for name in ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1",
                                   "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large")}


def detection_scores(outputs: list, targets: list, names: list) -> dict:
    """{metric: value} of predicted boxes ({boxes, labels, scores} per image) against true ones ({boxes, labels});
    a metric without boxes to measure (no large objects, say) is 0."""
    if importlib.util.find_spec("faster_coco_eval") is None:
        raise AutomodalError("Object detection metrics need faster-coco-eval: pip install 'automodal[detection]'")
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="faster_coco_eval")
    metric.update([{"boxes": o["boxes"].float(), "scores": o["scores"].float(), "labels": o["labels"]}
                   for o in outputs],
                  [{"boxes": t["boxes"].float(), "labels": t["labels"]} for t in targets])
    with torch.no_grad():
        result = metric.compute()
    return {name: max(0.0, float(result[name])) for name in names}    # COCO's -1 means "no such boxes"
