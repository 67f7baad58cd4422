"""COCO files and result records, without torch (the command line reads and writes them before any model loads)."""

from __future__ import annotations

import os

from ..contract import json_value


def is_coco(data) -> bool:
    return isinstance(data, (str, os.PathLike)) and os.fspath(data).lower().endswith(".json")


def coco_results(boxes: list, image_ids: list, category_ids: list, fmt: str) -> list:
    """COCO result records ({image_id, category_id, bbox as [x, y, width, height], score}) of predict()'s boxes per
    image, whose bbox is in `fmt` (xyxy or xywh); category_ids[class_id] is each class's COCO id."""
    records = []
    for image_id, image_boxes in zip(image_ids, boxes):
        image_id = json_value(image_id)
        for box in image_boxes:
            x1, y1, a, b = box["bbox"]
            records.append({"image_id": image_id, "category_id": category_ids[box["class_id"]],
                            "bbox": [x1, y1, a, b] if fmt == "xywh" else [x1, y1, a - x1, b - y1],
                            "score": box["score"]})
    return records
