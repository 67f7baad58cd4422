"""data.mixup.*: Mixup / CutMix of the image inputs of a batch, with the labels mixed the same way (timm's Mixup).

Each row's images move together: a row's N images are stacked along channels, so the permutation and the CutMix
box are shared by all images of a row. Other modalities are not mixed. Classification only.
"""

from __future__ import annotations

import torch

from ..config import Config

IMAGE_SUFFIX = ".images"


class BatchMixer:
    def __init__(self, config: Config, num_classes: int):
        from timm.data import Mixup

        self.turn_off_epoch = config["data.mixup.turn_off_epoch"]
        self.mode = config["data.mixup.mode"]
        self.mixup = Mixup(mixup_alpha=config["data.mixup.mixup_alpha"], cutmix_alpha=config["data.mixup.cutmix_alpha"],
                           prob=config["data.mixup.prob"], switch_prob=config["data.mixup.switch_prob"],
                           mode=self.mode, label_smoothing=config["data.mixup.label_smoothing"],
                           num_classes=num_classes)

    def applies(self, batch: dict, epoch: int) -> bool:
        keys = [k for k in batch if k.endswith(IMAGE_SUFFIX)]
        # pair / elem modes need an even batch; an odd last batch trains unmixed
        return bool(keys) and epoch < self.turn_off_epoch and (self.mode == "batch" or len(batch["label"]) % 2 == 0)

    def __call__(self, batch: dict) -> tuple[dict, torch.Tensor]:
        """A copy of the batch with mixed images, and the soft targets."""
        key = next(k for k in batch if k.endswith(IMAGE_SUFFIX))
        images = batch[key]
        rows, count, channels, height, width = images.shape
        stacked = images.reshape(rows, count * channels, height, width).clone()
        stacked, targets = self.mixup(stacked, batch["label"])
        return dict(batch, **{key: stacked.reshape(rows, count, channels, height, width)}), targets


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * torch.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
