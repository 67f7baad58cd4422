"""Semantic segmentation: a class per pixel, learned by fine-tuning Segment Anything (transformers' SamModel), or by
a U-Net trained from scratch when no SAM checkpoint is available."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ...data.frames import read_frame
from ...errors import CheckpointNotFoundError, DataError
from ...hpo.space import loguniform
from ..contract import Capabilities
from ..image_tasks.base import ImageTaskLearner
from ..image_tasks.images import IMAGE_COLUMN, absolute_paths, image_column, image_size, read_rgb
from . import masks, metrics, sam, unet
from .loss import segmentation_loss
from .transforms import SegmentationTransforms

logger = logging.getLogger("automodal")

# the network module of each architecture's "network" (predictors saved before the U-Net have SAM's and no name)
NETWORKS = {sam.NETWORK: sam, unet.NETWORK: unet}

# AutoGluon's settings for fine-tuning SAM, for the keys nobody set
SAM_DEFAULTS = {
    "optimization.learning_rate": 1e-4, "optimization.weight_decay": 1e-4,
    "optimization.lr_schedule": "polynomial_decay", "optimization.warmup_steps": 0.0,
    "optimization.lr_choice": "", "optimization.max_epochs": 30, "optimization.patience": 10,
    "optimization.top_k_average_method": "best", "env.per_gpu_batch_size": 4, "env.batch_size": 4,
}


def _network(architecture: dict):
    return NETWORKS[architecture.get("network", sam.NETWORK)]


class SegmentationDataset(torch.utils.data.Dataset):
    def __init__(self, frame: pd.DataFrame, label: str, labels: dict, transforms: SegmentationTransforms,
                 training: bool):
        self.images = frame[IMAGE_COLUMN].tolist()
        self.masks = frame[label].tolist() if label in frame.columns else None
        self.label, self.labels, self.transforms, self.training = label, labels, transforms, training

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        pixels = read_rgb(self.images[i])
        target = None
        if self.masks is not None:
            values = masks.read_mask(self.masks[i], self.label)
            target = masks.encode_mask(values, self.labels, self.masks[i], self.label)
        image, target = self.transforms(pixels, target, self.training, self.images[i])
        return image, target, pixels.shape[:2]


def collate(items: list) -> dict:
    images, targets, sizes = zip(*items)
    if targets[0] is not None and len({tuple(t.shape) for t in targets}) > 1:
        raise DataError(f"Masks of different sizes ({sorted({tuple(t.shape) for t in targets})}) meet in one batch: "
                        "with model.sam.gt_transforms empty they keep their own size. Keep resize_gt_to_square "
                        "in model.sam.gt_transforms, or give all images one size.")
    return {"image": torch.stack(images), "label": None if targets[0] is None else torch.stack(targets),
            "size": list(sizes)}


class SegmentationLearner(ImageTaskLearner):
    """Data: a frame with an `image` column of image paths and a label column (default `label`) of mask paths:
    binary masks (mode "1", values {0, 255} or {0, 1}) or class-index masks, the size of their image. predict()
    gives one mask per image at the image's own size, in the training masks' values."""
    family = "segmentation"
    problem_types = ("semantic_segmentation",)
    preset_section = "semantic_segmentation"
    capabilities = Capabilities(predict_proba=True, embeddings=True, search=True, devices=True)
    alternatives = dict(ImageTaskLearner.alternatives, export_onnx="Segment Anything is not exported; predict and "
                                                                   "predict_proba in Python, or serve the saved "
                                                                   "predictor with `automodal serve`.")
    config_group = "sam"
    default_label = "label"
    metrics = {name: greater for name, (_, greater) in metrics.SEGMENTATION_METRICS.items()}
    default_metric = "iou"
    unused_keys = tuple(key for key in ImageTaskLearner.unused_keys if key != "optimization.efficient_finetune")

    @classmethod
    def search_space(cls) -> dict:
        """A searching preset's space: AdamW's learning rate and weight decay around AutoGluon's SAM fine-tuning
        settings (1e-4 each), which the first trial tries."""
        cls.require("search", "a searching preset")
        return {"optimization.learning_rate": loguniform(1e-5, 1e-3),
                "optimization.weight_decay": loguniform(1e-5, 1e-2)}

    def read(self, data, what: str, labelled: bool) -> pd.DataFrame:
        if isinstance(data, (list, tuple)):
            frame = pd.DataFrame({IMAGE_COLUMN: list(data)})
        elif isinstance(data, str) and not data.lower().endswith((".csv", ".parquet", ".pq")):
            frame = pd.DataFrame({IMAGE_COLUMN: [data]})          # one image file
        else:
            frame = read_frame(data, what).copy()
        frame[IMAGE_COLUMN] = absolute_paths(image_column(frame, what), what)
        if not labelled:
            return frame
        if self.label not in frame.columns:
            raise DataError(f"{what} has no label column '{self.label}' of mask files; its columns are "
                            f"{list(frame.columns)}. Pass label=<the column of mask paths> to the predictor.")
        frame[self.label] = absolute_paths(frame[self.label], what, column=self.label)
        for image, mask in zip(frame[IMAGE_COLUMN], frame[self.label]):
            masks.check_mask_size(mask, image_size(mask, what)[::-1], image, image_size(image, what), self.label)
        return frame

    def fit_labels(self, frame: pd.DataFrame) -> dict:
        info = masks.mask_label_info(frame[self.label], self.label, self.config["model.sam.ignore_label"])
        return dict(info, classes=info["values"])

    def check_labels(self, frame: pd.DataFrame, labels: dict, what: str):
        for path in frame[self.label]:
            masks.encode_mask(masks.read_mask(path, self.label), labels, path, self.label)

    def defaults(self, train_images: int, architecture: dict) -> dict:
        if _network(architecture) is unet:
            return unet.training_defaults(train_images, architecture)
        return {key: (value, "AutoGluon's setting for fine-tuning SAM") for key, value in SAM_DEFAULTS.items()}

    def architecture(self, labels: dict, train: pd.DataFrame) -> dict:
        """Segment Anything from its checkpoint; when the default checkpoint is not available, a U-Net sized from
        the data (unet.unet_architecture), said once. A checkpoint the user named is never replaced: if it is
        missing, that is the error."""
        config = self.config
        try:
            architecture = sam.sam_architecture(config, labels["num_classes"], config.chosen(sam.TOKENS_KEY),
                                                config.chosen(sam.FINETUNE_KEY))
        except CheckpointNotFoundError as missing:
            if sam.CHECKPOINT_KEY in config.explicit:
                raise
            logger.warning("%s Training a U-Net sized from the data from random weights instead (its choices are in "
                           "fit_summary()['chosen_defaults']).", missing)
            architecture = unet.unet_architecture(train, labels["num_classes"], config[sam.CHECKPOINT_KEY])
        transforms = SegmentationTransforms.from_config(config, architecture["image_size"],
                                                        architecture["image_mean"], architecture["image_std"])
        return dict(architecture, transforms=transforms.to_dict())

    def build_net(self, architecture: dict, pretrained: bool):
        return _network(architecture).build_network(architecture, pretrained)

    def prepare_training(self, net, architecture: dict):
        return _network(architecture).prepare(net, architecture)

    def dataset(self, frame: pd.DataFrame, labels: dict, architecture: dict, training: bool):
        transforms = SegmentationTransforms.from_dict(architecture["transforms"])
        return SegmentationDataset(frame, self.label, labels, transforms, training)

    collate = staticmethod(collate)

    def loss(self, net, batch: dict):
        return segmentation_loss(net(batch["image"]), batch["label"])

    def embed_batch(self, net, batch: dict):
        """The image encoder's features averaged over the image (SAM's image embedding, or the U-Net's coarsest
        map)."""
        return net.embed(batch["image"])

    def predict_batch(self, net, batch: dict) -> list:
        """Per image, class probabilities (classes, H, W): at the label's size when the batch has labels (what
        the metrics compare), else at the image's own size."""
        logits = net(batch["image"]).float()
        labels = batch.get("label")
        outputs = []
        for i, row in enumerate(logits):
            size = tuple(labels[i].shape) if labels is not None else tuple(int(v) for v in batch["size"][i])
            row = F.interpolate(row[None], size=size, mode="bilinear", align_corners=False)[0]
            if row.shape[0] == 1:
                foreground = torch.sigmoid(row)
                row = torch.cat([1 - foreground, foreground])
            else:
                row = torch.softmax(row, dim=0)
            outputs.append(row.cpu())
        return outputs

    def scores(self, outputs: list, targets: list, labels: dict, names: list) -> dict:
        classes = labels["num_classes"]
        result = {}
        predicted = [p.argmax(0).numpy() for p in outputs]
        truth = [t.numpy() for t in targets]
        matrix = sum(metrics.confusion_matrix(p, t, classes) for p, t in zip(predicted, truth))
        for name in names:
            if name == "sm":
                maps = [p[1].numpy() if classes == 2 else c for p, c in zip(outputs, predicted)]
                result[name] = float(np.mean([metrics.structure_measure(m, t, classes) for m, t in zip(maps, truth)]))
            else:
                result[name] = getattr(metrics, f"{name}_from_confusion")(matrix)
        return result

    def serving_refusal(self, kind: str) -> str | None:
        if kind == "predict_proba":
            return ("per-pixel probabilities are not served (a map per class and pixel); /predict gives each image's "
                    "mask, and predict_proba in Python gives the probabilities.")
        return None

    def served(self, frame: pd.DataFrame, kind: str) -> list:
        """Per image, its mask as run lengths: {"size": [height, width], "values": [...], "counts": [...]}."""
        return [masks.run_lengths(mask) for mask in self.predict(frame, as_pandas=False)]

    def predictions(self, frame: pd.DataFrame, outputs: list, as_pandas: bool | None = None):
        masks_ = [masks.decode_labels(p.argmax(0).numpy(), self.labels) for p in outputs]
        return self._shaped(frame, masks_, as_pandas)

    def _shaped(self, frame: pd.DataFrame, rows: list, as_pandas: bool | None):
        """A Series (one array per image, indexed as the frame) or a list of arrays."""
        return pd.Series(rows, index=frame.index, name=self.label) if as_pandas else rows

    def predict(self, data, as_pandas: bool | None = None):
        """A mask per image (an array of the training masks' values, the image's height x width); a Series when
        data is a DataFrame (or as_pandas), else a list."""
        as_pandas = isinstance(data, pd.DataFrame) if as_pandas is None else as_pandas
        return super().predict(data, as_pandas=as_pandas)

    def predict_proba(self, data, as_pandas: bool | None = None, as_multiclass: bool = True):
        """Per-pixel class probabilities per image, (classes, height, width) in the order of class_labels; for a
        binary task with as_multiclass=False the foreground's (height, width) alone."""
        frame, outputs, _ = self.run(data, labelled=False)
        binary = self.labels["num_classes"] == 2
        rows = [p[1].numpy() if binary and not as_multiclass else p.numpy() for p in outputs]
        rows = [np.ascontiguousarray(r, dtype=np.float32) for r in rows]
        return self._shaped(frame, rows, isinstance(data, pd.DataFrame) if as_pandas is None else as_pandas)
