"""Object detection: boxes of known classes in images, trained on torchvision's detectors."""

from __future__ import annotations

import logging

import pandas as pd

from ...errors import DataError
from ..base import Learner
from . import data, models
from .metrics import METRICS, detection_scores

logger = logging.getLogger("automodal")


class DetectionLearner(Learner):
    problem_type = "object_detection"
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
        # detectors learn from few images per step; accumulating to 128 images would leave small sets a handful
        # of steps
        return {"env.batch_size": (self.config["env.per_gpu_batch_size"],
                                   "detection: one optimizer step per batch, no gradient accumulation")}

    def dataset(self, frame: pd.DataFrame, labels: dict, architecture: dict, training: bool):
        return data.DetectionDataset(frame, labels["classes"] if data.BOXES in frame.columns else None, training)

    collate = staticmethod(data.collate)

    def architecture(self, labels: dict) -> dict:
        name = self.config[models.KEY]
        spec = models.resolve(name)
        return {"spec": spec, "num_classes": len(labels["classes"]), "user_named": self.config.chosen(models.KEY),
                "frozen": models.frozen_prefixes(spec, list(self.config["model.mmdet_image.frozen_layers"]))}

    def build_net(self, architecture: dict, pretrained: bool):
        spec = architecture["spec"]
        net = models.build(spec, architecture["num_classes"])
        if pretrained:
            state = models.starting_weights(spec, architecture["user_named"])
            if state is not None:
                loaded = models.load_matching(net, state)
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

    def scores(self, outputs: list, targets: list, labels: dict, names: list) -> dict:
        return detection_scores(outputs, targets, names)
