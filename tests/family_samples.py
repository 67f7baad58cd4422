"""Tiny generated data and fast settings per problem family, for the test every family must pass
(integration/test_families.py). A family registered in automodal.learners.registry without a sample here fails that
test: registering a family puts it under it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from automodal.demo_scenes import shape_images, small_detector, small_sam
from conftest import FAST


@dataclass
class Sample:
    problem_type: str | None
    label: str
    train: pd.DataFrame
    test: pd.DataFrame
    hyperparameters: dict
    metric: str                                 # a metric of evaluate() that must beat `floor`
    floor: float
    task: dict = field(default_factory=dict)    # the command line's task declaration (create's options)


def tabular(root: str) -> Sample:
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], size=n)})
    frame["label"] = np.where(frame.x1 - frame.x2 + (frame.colour == "red") > 0.3, "yes", "no")
    return Sample(None, "label", frame.iloc[:180], frame.iloc[180:].reset_index(drop=True),
                  dict(FAST, **{"optimization.max_epochs": 4}), "accuracy", 0.7, task={"label": "label"})


def detection(root: str) -> Sample:
    checkpoint = small_detector(os.path.join(root, "fcos"))
    keys = {"env.per_gpu_batch_size": 4, "env.num_workers": 0, "env.num_workers_evaluation": 0,
            "optimization.learning_rate": 2e-3, "optimization.max_epochs": 10,
            "model.mmdet_image.checkpoint_name": checkpoint}
    train = shape_images(os.path.join(root, "train"), 60, seed=0)
    test = shape_images(os.path.join(root, "test"), 12, seed=1)
    # the command line detects boxes from the label column's [[x1, y1, x2, y2, class], ...] lists
    return Sample("object_detection", "rois", train[["image", "rois"]], test[["image", "rois"]], keys, "map_50", 0.3,
                  task={"label": "rois"})


def segmentation(root: str) -> Sample:
    keys = {"env.num_workers": 0, "env.num_workers_evaluation": 0, "optimization.learning_rate": 3e-3,
            "optimization.max_epochs": 4, "model.sam.checkpoint_name": small_sam(os.path.join(root, "sam"))}
    train = shape_images(os.path.join(root, "train"), 40, seed=0)
    test = shape_images(os.path.join(root, "test"), 8, seed=1)
    columns = ["image", "binary_mask"]
    return Sample("semantic_segmentation", "binary_mask", train[columns], test[columns], keys, "iou", 0.3,
                  task={"label": "binary_mask", "problem_type": "semantic_segmentation"})


SAMPLES = {"tabular": tabular, "detection": detection, "segmentation": segmentation}
