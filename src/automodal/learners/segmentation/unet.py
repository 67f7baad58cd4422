"""The segmentation network a fit trains when no Segment Anything checkpoint is available: a small U-Net
(Ronneberger et al., 2015) from random weights, sized from the training images, with training settings for a
network that learns from scratch.

A random SAM encoder is no substitute: a ViT trained from nothing on a few hundred images learns slowly and, at
SAM's 1024-px input, trains at seconds per image on a CPU. A U-Net's convolutions see edges and shapes from the
first epochs, and its skip connections give masks at the input's full resolution.

- Input size: the images' median longer side, a multiple of 2^depth within [MIN_INPUT, MAX_INPUT].
- Depth: down-sampling steps until the coarsest map is about BOTTOM_PX pixels across (its cells see whole objects),
  within [MIN_DEPTH, MAX_DEPTH].
- Widths: BASE_WIDTH channels doubling per level up to MAX_WIDTH, twice as wide from LARGE_SET training images on.
- Training: AdamW at LEARNING_RATE, on image_tasks.images.from_scratch_schedule: small batches, epochs for about
  400 optimizer steps, one validation per epoch, early stopping after a quarter of the epochs without progress."""

from __future__ import annotations

import math

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..image_tasks.images import IMAGE_COLUMN, from_scratch_schedule, typical_size
from .transforms import pixel_statistics

NETWORK = "unet"
MIN_INPUT, MAX_INPUT = 32, 256
BOTTOM_PX, MIN_DEPTH, MAX_DEPTH = 8, 2, 5
BASE_WIDTH, MAX_WIDTH, LARGE_SET = 16, 256, 2000
# with 3e-3 the U-Net sat at the all-background answer for about 60 steps on 32-px scenes (held-out IoU 0.31 after
# 60 steps, 0.98 after 80); with 1e-2 it reached 0.86 after 20 and 1.0 on 128-px scenes, as with 3e-3
LEARNING_RATE = 1e-2


def unet_architecture(train: pd.DataFrame, num_classes: int, replaces: str) -> dict:
    """Everything build_network needs, as JSON data, sized from the training frame, with "chosen": {name: [value,
    reason]} for fit_summary()["chosen_defaults"]; `replaces` is the SAM checkpoint that is not available."""
    width, height = typical_size(train[IMAGE_COLUMN], "train_data")
    longer = max(width, height)
    depth = int(min(MAX_DEPTH, max(MIN_DEPTH, round(math.log2(max(longer, 1) / BOTTOM_PX)))))
    step = 2 ** depth
    size = int(min(MAX_INPUT, max(MIN_INPUT, step * round(longer / step))))
    base = BASE_WIDTH * (2 if len(train) >= LARGE_SET else 1)
    widths = [min(MAX_WIDTH, base * 2 ** i) for i in range(depth + 1)]
    mean, std = pixel_statistics(None)
    chosen = {
        "segmenter.architecture": ("U-Net, from random weights",
                                   f"no Segment Anything checkpoint '{replaces}' is available: a small "
                                   "convolutional network learns masks from few images quickly, a random SAM "
                                   "encoder does not"),
        "segmenter.input_size": (size, f"the median image is {width}x{height} px; its longer side, a multiple of "
                                       f"{step} within [{MIN_INPUT}, {MAX_INPUT}], and images are resized to a "
                                       "square of that side (model.sam.img_transforms)"),
        "segmenter.widths": (widths, f"{depth} down-sampling steps leave a {size // step}-px map at the bottom "
                                     f"(about {BOTTOM_PX}); {base} channels doubling up to {MAX_WIDTH} for "
                                     f"{len(train)} training images"),
    }
    return {"network": NETWORK, "widths": widths, "num_classes": int(num_classes), "image_size": size,
            "image_mean": mean, "image_std": std, "median_image": [width, height], "replaces": replaces,
            "chosen": chosen}


def training_defaults(train_images: int, architecture: dict) -> dict:
    """{key: (value, reason)} for the U-Net on this many training images."""
    return from_scratch_schedule(train_images, LEARNING_RATE, architecture["median_image"], "validation score")


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(),
                         nn.Conv2d(outputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU())


class UNet(nn.Module):
    """Convolution blocks at each of len(widths) scales (max-pooled by 2 on the way down), bilinear up-sampling
    joined to the same scale's features on the way up; per-pixel logits at the input's size: (B, 1, H, W) for two
    classes, (B, C, H, W) for C."""

    def __init__(self, widths: list, num_classes: int):
        super().__init__()
        self.num_classes = int(num_classes)
        self.down = nn.ModuleList()
        previous = 3
        for width in widths:
            self.down.append(_block(previous, width))
            previous = width
        self.up = nn.ModuleList(_block(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(len(widths) - 1)))
        self.head = nn.Conv2d(widths[0], 1 if self.num_classes <= 2 else self.num_classes, 1)

    def encode(self, pixel_values: torch.Tensor) -> list:
        """The feature maps of every scale, finest first."""
        features, x = [], pixel_values
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            features.append(x)
        return features

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The coarsest features averaged over the image: (B, widths[-1])."""
        return self.encode(pixel_values)[-1].mean(dim=(2, 3))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.encode(pixel_values)
        x = features.pop()
        for block in self.up:
            skip = features.pop()
            # sizes that 2^depth does not divide round down on the way down; up-sampling goes back to the skip's
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


def build_network(architecture: dict, pretrained: bool) -> UNet:
    """The U-Net of an architecture dict; it has no pretrained weights, so `pretrained` changes nothing."""
    return UNet(architecture["widths"], architecture["num_classes"])


def prepare(net: UNet, architecture: dict) -> UNet:
    """Everything trains."""
    return net
