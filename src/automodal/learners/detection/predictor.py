"""MultiModalPredictor(problem_type="object_detection")."""

from __future__ import annotations

import json
import os

import pandas as pd

from ...errors import AutomodalError
from ..images import IMAGE_COLUMN
from ..predictor import ImageTaskPredictor
from .learner import DetectionLearner


def _bbox(box: list, fmt: str) -> list:
    x1, y1, x2, y2 = box
    return [x1, y1, x2 - x1, y2 - y1] if fmt == "xywh" else [x1, y1, x2, y2]


class DetectionPredictor(ImageTaskPredictor):
    """Data: a COCO json path, or a frame with an `image` column and `rois` ([[x1, y1, x2, y2, class], ...] per
    image). predict() takes the same, or image paths, and returns a frame of `image` and `bboxes`: per image a list
    of {"class", "class_id", "bbox", "score"}, bbox in model.mmdet_image.output_bbox_format."""
    learner_class = DetectionLearner

    def predict(self, data, as_pandas: bool | None = None, as_coco: bool = False, save_results=None):
        """Boxes per image. `as_coco` returns COCO result records ({image_id, category_id, bbox as [x, y, width,
        height], score}); `save_results` (a .json path) also writes them there."""
        return super().predict(data, as_coco=as_coco, save_results=save_results)

    def predict_proba(self, *args, **kwargs):
        raise AutomodalError("object_detection has no class probabilities per row: predict() gives each box's "
                             "class and score.")

    def _predictions(self, frame: pd.DataFrame, outputs: list, as_coco: bool = False, save_results=None):
        classes = self._labels["classes"]
        fmt = self._config["model.mmdet_image.output_bbox_format"]
        boxes = [[{"class": classes[int(c) - 1], "class_id": int(c) - 1,
                   "bbox": _bbox([round(float(v), 2) for v in box], fmt), "score": round(float(s), 4)}
                  for box, c, s in zip(out["boxes"].tolist(), out["labels"].tolist(), out["scores"].tolist())]
                 for out in outputs]
        if save_results is not None or as_coco:
            records = self._coco_records(frame, boxes)
            if save_results is not None:
                if not str(save_results).lower().endswith(".json"):
                    raise AutomodalError(f"save_results takes the path of a .json file, got {save_results!r}.")
                os.makedirs(os.path.dirname(os.path.abspath(save_results)), exist_ok=True)
                with open(save_results, "w", encoding="utf-8") as handle:
                    json.dump(records, handle)
            if as_coco:
                return records
        return pd.DataFrame({IMAGE_COLUMN: frame[IMAGE_COLUMN].tolist(), "bboxes": boxes}, index=frame.index)

    def _coco_records(self, frame: pd.DataFrame, boxes: list) -> list:
        ids = frame["image_id"].tolist() if "image_id" in frame.columns else list(range(len(frame)))
        category_ids = self._labels.get("category_ids") or list(range(len(self._labels["classes"])))
        fmt = self._config["model.mmdet_image.output_bbox_format"]
        records = []
        for image_id, image_boxes in zip(ids, boxes):
            for box in image_boxes:
                x1, y1, a, b = box["bbox"]
                xywh = [x1, y1, a, b] if fmt == "xywh" else [x1, y1, a - x1, b - y1]
                records.append({"image_id": image_id, "category_id": category_ids[box["class_id"]],
                                "bbox": xywh, "score": box["score"]})
        return records
