"""Image files of a detection or segmentation frame: paths checked up front, decoded as RGB with clear errors."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
from PIL import Image

from ...data.image import as_rgb
from ...errors import DataError

IMAGE_COLUMN = "image"
# Images up to this size (the longer side, in pixels) decode in well under a millisecond: dataloader worker
# processes cost more than they save. Measured with a small FCOS on 128-px images, 2 cores shared with other work:
# 137 training images/s without workers, 8 with the default two.
SMALL_IMAGE_PX = 256


def image_column(frame: pd.DataFrame, what: str) -> pd.Series:
    if IMAGE_COLUMN not in frame.columns:
        raise DataError(f"{what} has no '{IMAGE_COLUMN}' column of image paths; its columns are "
                        f"{list(frame.columns)}. Name the column of image paths '{IMAGE_COLUMN}'.")
    return frame[IMAGE_COLUMN]


def absolute_paths(paths: pd.Series, what: str, roots: tuple = ("",), column: str = IMAGE_COLUMN) -> list:
    """Every path made absolute (relative ones tried against each root in turn); missing files are an error."""
    resolved, missing = [], []
    for value in paths:
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            missing.append(repr(value))
            continue
        path = os.path.expanduser(str(value).strip())
        candidates = [path] if os.path.isabs(path) else [os.path.join(root, path) for root in roots]
        found = next((c for c in candidates if os.path.isfile(c)), None)
        if found is None:
            missing.append(path)
        else:
            resolved.append(os.path.abspath(found))
    if missing:
        raise DataError(f"{what}: {len(missing)} file(s) in column '{column}' do not exist, e.g. "
                        f"{', '.join(missing[:3])}. Check the paths (relative ones are read from "
                        f"{' or '.join(repr(os.path.abspath(r)) for r in roots)}).")
    return resolved


def image_size(path: str, what: str) -> tuple[int, int]:
    """(width, height) from the file's header."""
    try:
        with Image.open(path) as image:
            return image.size
    except Exception as exc:  # PIL reports bad files with many types
        raise DataError(f"{what}: cannot read image '{path}' ({type(exc).__name__}); replace or remove it.") from exc


def read_rgb(path: str) -> np.ndarray:
    """The image as an (H, W, 3) uint8 array."""
    try:
        with Image.open(path) as image:
            return np.array(as_rgb(image))
    except Exception as exc:  # PIL reports bad files with many types (truncated data, unknown format)
        raise DataError(f"Cannot decode image '{path}' ({type(exc).__name__}: {exc}); replace or remove it.") from exc


def typical_size(paths, what: str, sample: int = 200) -> tuple[int, int]:
    """The median (width, height) of the images, from the headers of up to `sample` of them spread over the list:
    what a network sized from the data is sized for."""
    paths = list(paths)
    if not paths:
        raise DataError(f"{what} has no images.")
    picked = paths[::max(1, len(paths) // sample)][:sample]
    sizes = np.array([image_size(path, what) for path in picked])
    return int(np.median(sizes[:, 0])), int(np.median(sizes[:, 1]))


FROM_SCRATCH_BATCH = 8
TARGET_STEPS, MIN_EPOCHS, MAX_EPOCHS = 400, 10, 100


def from_scratch_schedule(train_images: int, learning_rate: float, size: tuple, score: str) -> dict:
    """{key: (value, reason)}: how a network made to learn from random weights trains on this many images of the
    median `size`: small batches, about TARGET_STEPS optimizer steps, a validation per epoch, patience a quarter of
    the epochs without a better `score`."""
    batch = FROM_SCRATCH_BATCH
    steps = max(1, math.ceil(train_images / batch))
    epochs = int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps))))
    return {
        "optimization.learning_rate": (learning_rate, "a network trained from random weights needs a larger rate "
                                                      "than fine-tuning"),
        "env.per_gpu_batch_size": (batch, "small batches: more optimizer steps from few images"),
        "env.batch_size": (batch, "one optimizer step per batch, no gradient accumulation"),
        "optimization.max_epochs": (epochs, f"{train_images} training images in batches of {batch} give {steps} "
                                            f"steps per epoch; {epochs} epochs aim at about {TARGET_STEPS} steps, "
                                            f"within [{MIN_EPOCHS}, {MAX_EPOCHS}]"),
        "optimization.val_check_interval": (1.0, "validate once per epoch: epochs are short"),
        "optimization.patience": (max(3, epochs // 4), f"a quarter of the {epochs} epochs without a better "
                                                       f"{score}"),
        **loader_workers(size),
    }


def loader_workers(size: tuple) -> dict:
    """{key: (value, reason)}: no dataloader worker processes for small images (`size`: the median (width,
    height)), for a network sized from the data."""
    if max(size) > SMALL_IMAGE_PX:
        return {}
    reason = (f"the median image is {size[0]}x{size[1]} px: small images decode in well under a millisecond, and "
              "worker processes would compete with training for the cores")
    return {"env.num_workers": (0, reason), "env.num_workers_evaluation": (0, reason)}
