"""CutMix (Yun et al., 2019): paste one box from a permuted copy of the batch into each image, and mix the targets
(or the loss) by the share of pixels each image keeps.

One object serves three ways: called on a batch in a plain PyTorch loop, as a callback in any Lightning Trainer,
and in automodal's own fit (`fit(..., callbacks=[CutMix(alpha=0.2)])`, where it mixes the image columns of
classification and regression tasks with one forward pass per step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import lightning.pytorch as pl
import numpy as np
import torch

from ..errors import ConfigError


def _is_accessor_pair(key) -> bool:
    return isinstance(key, tuple) and len(key) == 2 and all(callable(k) for k in key)


def batch_get(batch, key):
    if _is_accessor_pair(key):
        return key[0](batch)
    if isinstance(batch, (Mapping, Sequence)) and not isinstance(batch, str):
        try:
            return batch[key]
        except (KeyError, IndexError, TypeError) as error:
            raise ConfigError(f"CutMix could not find key {key!r} in the batch ({type(batch).__name__}); set "
                              "input_key / target_key to the batch's keys, or to a (getter, setter) pair.") from error
    if isinstance(key, str) and hasattr(batch, key):
        return getattr(batch, key)
    raise ConfigError(f"CutMix cannot index a {type(batch).__name__} batch with {key!r}; pass a (getter, setter) "
                      "pair as input_key / target_key.")


def batch_set(batch, key, value):
    """A batch like `batch` with `value` at `key`; the batch passed in is not changed (a setter may change it)."""
    if _is_accessor_pair(key):
        return key[1](batch, value)
    if isinstance(batch, Mapping):
        return {**batch, key: value}
    if isinstance(batch, (list, tuple)):
        items = list(batch)
        items[key] = value
        if isinstance(batch, list):
            return items
        return type(batch)(*items) if hasattr(batch, "_fields") else tuple(items)   # a named tuple keeps its type
    if isinstance(key, str) and hasattr(batch, key):
        setattr(batch, key, value)
        return batch
    raise ConfigError(f"CutMix cannot set {key!r} in a {type(batch).__name__} batch; pass a (getter, setter) pair.")


def sample_box(lam: float, height: int, width: int, uniform_sampling: bool,
               rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a box covering about 1 - lam of the image, clipped to the image.

    The box's sides are sqrt(1 - lam) of the image's. Its centre is drawn over the image (the paper's sampling:
    pixels near an edge are cut less often), or with uniform_sampling over the image widened by half a box on each
    side, so that every pixel is equally likely to be covered."""
    ratio = math.sqrt(max(0.0, 1.0 - lam))
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    if uniform_sampling:
        # the centres whose box covers at least one pixel, each pixel covered by exactly cut_h (cut_w) of them
        low_y, high_y = cut_h // 2 - cut_h + 1, height + cut_h // 2
        low_x, high_x = cut_w // 2 - cut_w + 1, width + cut_w // 2
    else:
        low_y, high_y, low_x, high_x = 0, height, 0, width
    cy, cx = int(rng.integers(low_y, max(low_y + 1, high_y))), int(rng.integers(low_x, max(low_x + 1, high_x)))
    top, bottom = min(max(cy - cut_h // 2, 0), height), min(max(cy + cut_h - cut_h // 2, 0), height)
    left, right = min(max(cx - cut_w // 2, 0), width), min(max(cx + cut_w - cut_w // 2, 0), width)
    return top, bottom, left, right


def scale_box(box: tuple, size: tuple, new_size: tuple) -> tuple:
    """The same box, in the coordinates of an image of new_size (height, width) rather than size."""
    (height, width), (new_height, new_width) = size, new_size
    top, bottom, left, right = box
    return (round(top * new_height / height), round(bottom * new_height / height),
            round(left * new_width / width), round(right * new_width / width))


class CutMix(pl.Callback):
    """CutMix(alpha=1.0, interpolate_loss=False, uniform_sampling=False, input_key=0, target_key=1).

    alpha: pseudocount of the Beta(alpha, alpha) from which each batch's share lam is drawn; the box covers the rest.
    interpolate_loss: keep the targets and interpolate the loss instead, lam * loss(y) + (1 - lam) * loss(y_perm).
    uniform_sampling: every pixel has the same chance of being cut (the box may be clipped at the border).
    input_key / target_key: where input and target sit in a batch: an index, a key, or a (getter, setter) pair
    where setter(batch, value) returns the batch.
    num_classes: needed to mix integer class targets into soft targets (one-hot ones mix as they are).
    After each call, `lam` (the share of pixels kept, from the clipped box), `permutation` and `box` describe
    the mix.
    """

    def __init__(self, alpha: float = 1.0, interpolate_loss: bool = False, uniform_sampling: bool = False,
                 input_key=0, target_key=1, *, num_classes: int | None = None, seed: int | None = None):
        if not alpha > 0:
            raise ConfigError(f"CutMix alpha must be > 0 (the Beta distribution's pseudocount), got {alpha}.")
        self.alpha, self.interpolate_loss, self.uniform_sampling = float(alpha), interpolate_loss, uniform_sampling
        self.input_key, self.target_key, self.num_classes = input_key, target_key, num_classes
        self._generator = np.random.default_rng(seed) if seed is not None else None
        self.lam, self.permutation, self.box = 1.0, None, None
        self._restore = {}

    # ------------------------------------------------------------------ the mix itself
    def _rng(self) -> np.random.Generator:
        # Without a seed, each draw follows torch's global generator, so that seed_everything makes runs repeat.
        if self._generator is None:
            return np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,))))
        return self._generator

    def draw(self, rows: int, height: int, width: int):
        """Draw lam, the permutation and the box for a batch; lam is recomputed from the clipped box's area."""
        rng = self._rng()
        self.box = sample_box(float(rng.beta(self.alpha, self.alpha)), height, width, self.uniform_sampling, rng)
        top, bottom, left, right = self.box
        self.lam = 1.0 - (bottom - top) * (right - left) / float(height * width)
        self.permutation = torch.from_numpy(rng.permutation(rows))
        return self.lam, self.permutation, self.box

    def mix_input(self, images: torch.Tensor, box: tuple | None = None) -> torch.Tensor:
        """A copy of images (rows, ..., H, W) with the drawn box (or `box`) taken from the permuted rows."""
        top, bottom, left, right = box or self.box
        mixed = images.clone()
        mixed[..., top:bottom, left:right] = images[self.permutation][..., top:bottom, left:right]
        return mixed

    def mix_target(self, target: torch.Tensor) -> torch.Tensor:
        """lam * target + (1 - lam) * target[permutation]; integer classes become one-hot first."""
        if not torch.is_floating_point(target):
            if self.num_classes is None:
                raise ConfigError("CutMix mixes integer class targets into soft targets and needs the number of "
                                  "classes: CutMix(..., num_classes=N); or pass one-hot targets, or set "
                                  "interpolate_loss=True.")
            target = torch.nn.functional.one_hot(target.long(), self.num_classes).float()
        return self.lam * target + (1.0 - self.lam) * target[self.permutation.to(target.device)]

    def __call__(self, batch):
        """The batch with its input mixed and (unless interpolate_loss) its target mixed."""
        images = batch_get(batch, self.input_key)
        if images.dim() < 3:
            raise ConfigError(f"CutMix needs images shaped (rows, ..., height, width); the input at "
                              f"{self.input_key!r} has shape {tuple(images.shape)}.")
        self.draw(images.shape[0], images.shape[-2], images.shape[-1])
        self.permutation = self.permutation.to(images.device)
        batch = batch_set(batch, self.input_key, self.mix_input(images))
        if not self.interpolate_loss:
            batch = batch_set(batch, self.target_key, self.mix_target(batch_get(batch, self.target_key)))
        return batch

    def loss(self, loss_fn, outputs, target):
        """With interpolate_loss: lam * loss_fn(outputs, target) + (1 - lam) * loss_fn(outputs, target[perm]);
        otherwise loss_fn(outputs, target) (the target was mixed by the call)."""
        if not self.interpolate_loss:
            return loss_fn(outputs, target)
        permuted = target[self.permutation.to(target.device)]
        return self.lam * loss_fn(outputs, target) + (1.0 - self.lam) * loss_fn(outputs, permuted)

    # ------------------------------------------------------------------ Lightning callback
    def setup(self, trainer, pl_module, stage):
        if stage != "fit":
            return
        if hasattr(pl_module, "attach_cutmix"):   # automodal's own module mixes its image columns itself
            pl_module.attach_cutmix(self)
            return
        transfer = pl_module.on_after_batch_transfer

        def mixed_transfer(batch, dataloader_idx):
            batch = transfer(batch, dataloader_idx)
            return self(batch) if pl_module.trainer.training else batch

        self._restore = {"on_after_batch_transfer": mixed_transfer}
        pl_module.on_after_batch_transfer = mixed_transfer
        if self.interpolate_loss:
            # A generic module's loss is not reachable from outside: the step runs once per target and the two
            # losses are interpolated (two forward passes; automodal's own module needs one).
            step = pl_module.training_step

            def interpolated_step(batch, *args, **kwargs):
                first = step(batch, *args, **kwargs)
                target = batch_get(batch, self.target_key)
                permuted = batch_set(batch, self.target_key, target[self.permutation.to(target.device)])
                second = step(permuted, *args, **kwargs)
                if isinstance(first, Mapping):
                    return {**first, "loss": self.lam * first["loss"] + (1.0 - self.lam) * second["loss"]}
                return self.lam * first + (1.0 - self.lam) * second

            self._restore["training_step"] = interpolated_step
            pl_module.training_step = interpolated_step

    def teardown(self, trainer, pl_module, stage):
        for name in self._restore:
            pl_module.__dict__.pop(name, None)
        self._restore = {}

