"""The detector a fit trains when the default checkpoint's pretrained weights are not available: FCOS on a small
convolutional backbone (models.SmallBackbone), sized from the training data, with training settings for a network
that learns from random weights.

The default's own architecture (SSDlite on MobileNetV3 at 320 px) from random weights learns next to nothing from a
few hundred images: mAP@50 0.003 on 200 generated 128-px scenes after 15 epochs (20 minutes on 2 cores). This
network, sized by the rules below, reaches mAP@50 1.0 on the same scenes in about a minute.

- Input size: the images' median size, scaled down so that the small boxes (the 10th percentile of their shorter
  side) keep about MIN_OBJECT_PX pixels, the longer side a multiple of SIZE_STEP within [MIN_INPUT, MAX_INPUT].
  Small inputs are what makes training from scratch fast on a CPU.
- Depth: FCOS predicts from the backbone's last two stages; the finer one's stride is about the median box side
  over CELLS_PER_OBJECT at the input size, so each box covers a few cells of it, within [MIN_STAGES, MAX_STAGES]
  stages of stride 2.
- Widths: BASE_WIDTH channels doubling per stage up to MAX_WIDTH, twice as wide from LARGE_SET training images on.
- Training: AdamW at LEARNING_RATE, on image_tasks.images.from_scratch_schedule: small batches, epochs for about
  400 optimizer steps, one validation per epoch, early stopping after a quarter of the epochs without progress."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..image_tasks.images import IMAGE_COLUMN, from_scratch_schedule, typical_size
from .data import BOXES
from .models import SCRATCH

ARCHITECTURE = "fcos_resnet50_fpn"      # its head and losses; the backbone is replaced by backbone_channels
MIN_OBJECT_PX = 16
SIZE_STEP, MIN_INPUT, MAX_INPUT = 32, 64, 640
CELLS_PER_OBJECT = 5
MIN_STAGES, MAX_STAGES = 3, 6
BASE_WIDTH, MAX_WIDTH, LARGE_SET = 16, 128, 2000
LEARNING_RATE = 2e-3


def design(train: pd.DataFrame, replaces: str) -> dict:
    """The detector spec (as models.resolve gives one) for the training frame, with "chosen": {name: [value,
    reason]} for fit_summary()["chosen_defaults"]; `replaces` is the checkpoint whose weights are missing."""
    width, height = typical_size(train[IMAGE_COLUMN], "train_data")
    boxes = np.concatenate([b for b in train[BOXES] if len(b)] or [np.zeros((0, 4), np.float32)])
    sides = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    long_side = max(width, height)
    small = float(np.percentile(sides.min(axis=1), 10)) if len(sides) else long_side / 4
    scale = min(1.0, MIN_OBJECT_PX / max(small, 1.0))
    input_long = int(min(MAX_INPUT, max(MIN_INPUT, SIZE_STEP * round(long_side * scale / SIZE_STEP))))
    input_short = int(round(input_long * min(width, height) / long_side))
    resize = input_long / long_side
    typical = float(np.median(np.sqrt(sides[:, 0] * sides[:, 1]))) if len(sides) else long_side / 4
    stride = max(1.0, typical * resize / CELLS_PER_OBJECT)
    stages = int(min(MAX_STAGES, max(MIN_STAGES, round(math.log2(stride)) + 1)))
    base = BASE_WIDTH * (2 if len(train) >= LARGE_SET else 1)
    channels = [min(MAX_WIDTH, base * 2 ** i) for i in range(stages)]
    input_size = [input_long, input_short] if width >= height else [input_short, input_long]
    chosen = {
        "detector.architecture": ("FCOS on a small convolutional backbone, from random weights",
                                  f"the pretrained weights of {replaces} are not available: a large detector from "
                                  "random weights learns next to nothing from few images, a small one learns fast"),
        "detector.input_size": (input_size, f"width x height: the median image is {width}x{height} px and the "
                                            f"small boxes (10th percentile of their shorter side) {small:.0f} px; "
                                            f"scaled by {resize:.2f} so that they keep about {MIN_OBJECT_PX} px, "
                                            f"the longer side a multiple of {SIZE_STEP} within [{MIN_INPUT}, "
                                            f"{MAX_INPUT}]"),
        "detector.backbone_channels": (channels, f"{stages} stride-2 stages: the finer of the two levels FCOS "
                                                 f"predicts from has stride {2 ** (stages - 1)}, about 1/"
                                                 f"{CELLS_PER_OBJECT} of the median box ({typical * resize:.0f} "
                                                 f"px at the input size); {base} channels doubling up to "
                                                 f"{MAX_WIDTH} for {len(train)} training images"),
    }
    return {"architecture": ARCHITECTURE, "backbone_channels": channels, "min_size": input_short,
            "max_size": input_long, "source": SCRATCH, "replaces": replaces, "image_size": [width, height],
            "chosen": chosen}


def training_defaults(train_images: int, spec: dict) -> dict:
    """{key: (value, reason)} for a detector trained from random weights on this many images (the spec design()
    gave)."""
    return from_scratch_schedule(train_images, LEARNING_RATE, spec["image_size"], "validation mAP")