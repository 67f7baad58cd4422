"""Object detection: boxes of known classes in images, trained on torchvision's detectors."""

from __future__ import annotations

import json
import logging
import os

import pandas as pd
import torch

from ...errors import AutomodalError, CheckpointNotFoundError, ConfigError, DataError
from ..contract import Capabilities
from ..image_tasks.base import ImageTaskLearner
from ..image_tasks.images import IMAGE_COLUMN
from . import data, models, scratch
from .coco import coco_results
from .metrics import METRICS, detection_scores
from .onnx import detector_graph

logger = logging.getLogger("automodal")


def _bbox(box: list, fmt: str) -> list:
    x1, y1, x2, y2 = box
    return [x1, y1, x2 - x1, y2 - y1] if fmt == "xywh" else [x1, y1, x2, y2]


class DetectionLearner(ImageTaskLearner):
    """Data: a COCO json path, or a frame with an `image` column and `rois` ([[x1, y1, x2, y2, class], ...] per
    image). predict() takes the same, or image paths, and returns a frame of `image` and `bboxes`: per image a list
    of {"class", "class_id", "bbox", "score"}, bbox in model.mmdet_image.output_bbox_format."""
    family = "detection"
    problem_types = ("object_detection",)
    preset_section = "object_detection"
    capabilities = Capabilities(embeddings=True, export_onnx=True, search=True, devices=True)
    alternatives = dict(ImageTaskLearner.alternatives, predict_proba="it has no class probabilities per row; "
                                                                     "predict() gives each box's class and score.")
    config_group = "mmdet_image"
    default_label = "rois"
    metrics = METRICS
    default_metric = "map"

    def read(self, frame_or_path, what: str, labelled: bool) -> pd.DataFrame:
        frame, categories = data.read_frame(frame_or_path, self.label, what, labelled)
        frame.attrs["categories"] = categories
        return frame

    def fit_labels(self, frame: pd.DataFrame) -> dict:
        categories = frame.attrs.get("categories")
        seen = {str(c): c for row in frame[data.CLASSES] for c in row}
        if categories is None:
            if not seen:
                raise DataError(f"train_data has no boxes in '{self.label}'; a detector needs boxes to learn from.")
            classes = sorted(seen.values(), key=lambda c: (isinstance(c, str), c))
        else:
            classes = list(categories)
            unknown = sorted(set(seen) - {str(c) for c in classes})
            if unknown:
                raise DataError(f"train_data has boxes of classes {unknown[:5]} that are not in its categories.")
        labels = {"classes": classes}
        if "category_ids" in frame.attrs:
            labels["category_ids"] = frame.attrs["category_ids"]
        return labels

    def check_labels(self, frame: pd.DataFrame, labels: dict, what: str):
        known = {str(c) for c in labels["classes"]}
        unknown = sorted({str(c) for row in frame[data.CLASSES] for c in row} - known)
        if unknown:
            raise DataError(f"{what} has boxes of classes the detector was not trained on: {unknown[:5]}. It knows "
                            f"{labels['classes']}.")

    def defaults(self, train_images: int, architecture: dict) -> dict:
        if architecture["spec"]["source"] == models.SCRATCH:
            return scratch.training_defaults(train_images, architecture["spec"])
        # detectors learn from few images per step; accumulating to 128 images would leave small sets a handful
        # of steps
        return {"env.batch_size": (self.config["env.per_gpu_batch_size"],
                                   "detection: one optimizer step per batch, no gradient accumulation")}

    def check_plan(self, plan):
        if plan.accelerator == "cpu" and str(plan.precision).startswith("bf16-true"):
            raise ConfigError("env.precision bf16-true: torchvision's detectors cannot run their non-maximum "
                              "suppression in bfloat16 on the CPU. Use 32, 64 or bf16-mixed here, or train on a GPU.")

    def dataset(self, frame: pd.DataFrame, labels: dict, architecture: dict, training: bool):
        return data.DetectionDataset(frame, labels["classes"] if data.BOXES in frame.columns else None, training)

    collate = staticmethod(data.collate)

    def architecture(self, labels: dict, train: pd.DataFrame) -> dict:
        """The named detector; when the default checkpoint's pretrained weights are not available, a small one sized
        from the data (scratch.design), said once. A checkpoint the user named is never replaced: its missing
        weights are an error."""
        name = self.config[models.KEY]
        spec = models.resolve(name)
        try:
            models.weights_file(spec)
        except CheckpointNotFoundError as missing:
            if models.KEY in self.config.explicit:
                raise
            spec = scratch.design(train, name)
            logger.warning("%s Training a small FCOS sized from the data from random weights instead (its choices "
                           "are in fit_summary()['chosen_defaults']); set %s to fine-tune a pretrained detector.",
                           missing, models.KEY)
        chosen = spec.pop("chosen", {})
        return {"spec": spec, "num_classes": len(labels["classes"]), "chosen": chosen,
                "frozen": models.frozen_prefixes(spec, list(self.config["model.mmdet_image.frozen_layers"]))}

    def build_net(self, architecture: dict, pretrained: bool):
        spec = architecture["spec"]
        net = models.build(spec, architecture["num_classes"])
        path = models.weights_file(spec) if pretrained else None
        if path is not None:
            loaded = models.load_matching(net, models.starting_weights(path))
            logger.info("Started from %d of %d weight tensors of %s.", loaded, len(net.state_dict()),
                        spec["architecture"])
        return net

    def prepare_training(self, net, architecture: dict):
        if architecture["frozen"]:
            models.freeze(net, architecture["frozen"], architecture["spec"])
        return net

    def loss(self, net, batch: dict):
        losses = net(batch["image"], batch["label"])
        return sum(losses.values())

    def predict_batch(self, net, batch: dict) -> list:
        return [{k: v.detach().cpu() for k, v in out.items()} for out in net(batch["image"])]

    def embed_batch(self, net, batch: dict):
        """The backbone's feature maps (every pyramid level) averaged over the image, side by side; the images are
        resized and normalised as the detector sees them."""
        images, _ = net.transform(batch["image"])
        features = net.backbone(images.tensors)
        return torch.cat([level.mean(dim=(2, 3)) for level in features.values()], dim=1)

    def scores(self, outputs: list, targets: list, labels: dict, names: list) -> dict:
        return detection_scores(outputs, targets, names)

    def predict(self, data, as_pandas: bool | None = None, as_coco: bool = False, save_results=None):
        """Boxes per image. `as_coco` returns COCO result records ({image_id, category_id, bbox as [x, y, width,
        height], score}); `save_results` (a .json path) also writes them there."""
        return super().predict(data, as_coco=as_coco, save_results=save_results)

    def onnx_graph(self, data, batch_size: int | None, truncate: bool):
        return detector_graph(self, self.read(data, "data", labelled=False))

    def served(self, frame: pd.DataFrame, kind: str) -> list:
        """Per image, its boxes: [{"class", "class_id", "bbox", "score"}, ...]."""
        return self.predict(frame)["bboxes"].tolist()

    def predictions(self, frame: pd.DataFrame, outputs: list, as_pandas: bool | None = None, as_coco: bool = False,
                    save_results=None):
        classes = self.labels["classes"]
        fmt = self.config["model.mmdet_image.output_bbox_format"]
        boxes = [[{"class": classes[int(c) - 1], "class_id": int(c) - 1,
                   "bbox": _bbox([round(float(v), 2) for v in box], fmt), "score": round(float(s), 4)}
                  for box, c, s in zip(out["boxes"].tolist(), out["labels"].tolist(), out["scores"].tolist())]
                 for out in outputs]
        if save_results is not None or as_coco:
            records = self.coco_records(frame, boxes)
            if save_results is not None:
                if not str(save_results).lower().endswith(".json"):
                    raise AutomodalError(f"save_results takes the path of a .json file, got {save_results!r}.")
                os.makedirs(os.path.dirname(os.path.abspath(save_results)), exist_ok=True)
                with open(save_results, "w", encoding="utf-8") as handle:
                    json.dump(records, handle)
            if as_coco:
                return records
        return pd.DataFrame({IMAGE_COLUMN: frame[IMAGE_COLUMN].tolist(), "bboxes": boxes}, index=frame.index)

    def coco_records(self, frame: pd.DataFrame, boxes: list) -> list:
        ids = frame["image_id"].tolist() if "image_id" in frame.columns else list(range(len(frame)))
        category_ids = self.labels.get("category_ids") or list(range(len(self.labels["classes"])))
        return coco_results(boxes, ids, category_ids, self.config["model.mmdet_image.output_bbox_format"])
