"""model.sam.train_transforms, img_transforms and gt_transforms: named steps that turn an image and its mask into
the network's tensors (image float (3, S, S) normalised with the checkpoint's pixel statistics; mask int64 (S, S)),
S being the network's input size (SAM's SamConfig.vision_config.image_size, or the size a U-Net was given).

- resize_to_square (img_transforms): bicubic resize of the image to S x S, whatever its aspect ratio.
- resize_gt_to_square (gt_transforms): nearest-neighbour resize of the mask to S x S, so no new values appear.
- random_horizontal_flip (train_transforms, training only): mirrors image and mask together, with probability 0.5.

The network takes exactly S x S inputs (SAM's encoder by design, a U-Net's batches by being stacked), so an image
that leaves img_transforms at another size is an error. A mask left at its own size (gt_transforms: []) is allowed:
the loss then scales the logits to the mask."""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from ...data.image import as_rgb
from ...errors import ConfigError, DataError

# SAM's documented pixel statistics (ImageNet's), for checkpoints without a preprocessor_config.json
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FLIP_PROBABILITY = 0.5

TRAIN_KEY, IMAGE_KEY, GT_KEY = "model.sam.train_transforms", "model.sam.img_transforms", "model.sam.gt_transforms"
KNOWN = {TRAIN_KEY: ("random_horizontal_flip",), IMAGE_KEY: ("resize_to_square",),
         GT_KEY: ("resize_gt_to_square",)}


def pixel_statistics(checkpoint_dir: str | None) -> tuple[list, list]:
    """(mean, std) per RGB channel on the 0-1 scale, from the checkpoint's preprocessor_config.json when it has
    one (SamProcessor's file), else SAM's documented values."""
    path = os.path.join(checkpoint_dir, "preprocessor_config.json") if checkpoint_dir else ""
    settings = {}
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            settings = json.load(handle)
    mean, std = settings.get("image_mean", IMAGENET_MEAN), settings.get("image_std", IMAGENET_STD)
    if settings.get("do_normalize") is False:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return [float(v) for v in mean], [float(v) for v in std]


def _names(key: str, names) -> tuple:
    if names is None:
        return ()
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if not isinstance(n, str) or n not in KNOWN[key]]
    if unknown:
        raise ConfigError(f"{key}: unknown transform(s) {unknown}; the known names are {list(KNOWN[key])} "
                          "(an empty list applies none).")
    return tuple(names)


def _nearest_indices(source: int, target: int) -> np.ndarray:
    """Source pixel of each target pixel: the one whose centre is nearest (as PIL's NEAREST)."""
    return np.minimum(((np.arange(target) + 0.5) * source / target).astype(np.int64), source - 1)


class SegmentationTransforms:
    """Image (and mask) -> tensors for one image size and normalisation; JSON-able through to_dict()."""

    def __init__(self, image_size: int, mean, std, train=KNOWN[TRAIN_KEY], image=KNOWN[IMAGE_KEY],
                 gt=KNOWN[GT_KEY]):
        self.image_size = int(image_size)
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]
        self.train, self.image, self.gt = _names(TRAIN_KEY, train), _names(IMAGE_KEY, image), _names(GT_KEY, gt)
        self._mean = torch.tensor(self.mean).view(3, 1, 1)
        self._std = torch.tensor(self.std).view(3, 1, 1)

    @classmethod
    def from_config(cls, config, image_size: int, mean, std) -> "SegmentationTransforms":
        return cls(image_size, mean, std, config[TRAIN_KEY], config[IMAGE_KEY], config[GT_KEY])

    def to_dict(self) -> dict:
        return {"image_size": self.image_size, "mean": self.mean, "std": self.std, "train": list(self.train),
                "image": list(self.image), "gt": list(self.gt)}

    @classmethod
    def from_dict(cls, state: dict) -> "SegmentationTransforms":
        return cls(state["image_size"], state["mean"], state["std"], state["train"], state["image"], state["gt"])

    def image_tensor(self, image, path: str = "") -> torch.Tensor:
        """A PIL image or (H, W, 3) uint8 array -> float (3, S, S), normalised."""
        from PIL import Image

        image = as_rgb(Image.fromarray(image) if isinstance(image, np.ndarray) else image)
        size = self.image_size
        if "resize_to_square" in self.image and image.size != (size, size):
            image = image.resize((size, size), Image.BICUBIC)
        if image.size != (size, size):
            raise DataError(f"Image '{path}' is {image.size[0]}x{image.size[1]} pixels after {IMAGE_KEY}, but "
                            f"the network takes exactly {size}x{size}. Keep 'resize_to_square' in {IMAGE_KEY}, "
                            f"or give {size}x{size} images.")
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)
        return (pixels - self._mean) / self._std

    def mask_tensor(self, mask: np.ndarray) -> torch.Tensor:
        """A (H, W) array of class indices -> int64 (S, S) (or (H, W) without resize_gt_to_square)."""
        if "resize_gt_to_square" in self.gt and mask.shape != (self.image_size, self.image_size):
            rows = _nearest_indices(mask.shape[0], self.image_size)
            columns = _nearest_indices(mask.shape[1], self.image_size)
            mask = mask[rows[:, None], columns[None, :]]
        return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64))

    def __call__(self, image, mask: np.ndarray | None = None, training: bool = False, path: str = ""):
        """(image tensor, mask tensor or None); the train transforms apply only when `training`."""
        pixels = self.image_tensor(image, path)
        target = None if mask is None else self.mask_tensor(mask)
        if training and "random_horizontal_flip" in self.train and torch.rand(()) < FLIP_PROBABILITY:
            pixels = pixels.flip(-1)
            target = None if target is None else target.flip(-1)
        return pixels, target
