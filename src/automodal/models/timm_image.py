"""timm image backbones: one pooled feature vector per image, averaged over the images of a row."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..data.image import ImageProcessor
from ..data.types import IMAGE
from ..errors import DataError
from .registry import register

NAME = "timm_image"


def create_timm_model(source: dict) -> nn.Module:
    """The timm model without its classifier, from ImageProcessor.model_inputs(): with the resolved checkpoint's
    weights at fit time, randomly initialised when a saved predictor is loaded (its own weights follow)."""
    import timm
    from timm.models import PretrainedCfg

    architecture, weights = source["architecture"], source.get("weights")
    model_args = dict(source.get("model_args") or {})
    if not weights:
        return timm.create_model(architecture, pretrained=False, num_classes=0, **model_args)
    # timm loads a local file through pretrained_cfg["file"]; the checkpoint's own cfg tells it which layers are
    # the classifier (dropped for num_classes=0) and how to adapt the weights (its filter functions).
    fields = {f.name for f in dataclasses.fields(PretrainedCfg)}
    overlay = {k: v for k, v in source["pretrained_cfg"].items() if k in fields}
    overlay.update(file=weights, source=None)
    try:
        return timm.create_model(architecture, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay,
                                 **model_args)
    except (RuntimeError, OSError, ValueError, KeyError) as error:
        raise DataError(f"model.timm_image.checkpoint_name: the weights in '{weights}' cannot be loaded into timm "
                        f"architecture '{architecture}' ({type(error).__name__}: {error}). Check that the "
                        "checkpoint's config.json matches its weights.") from error


def mean_image_features(encode, batch: dict, prefix: str) -> torch.Tensor:
    """Each row's mean feature over its images; encode maps (M, 3, H, W) images to (M, D) features."""
    images = batch[f"{prefix}.images"]             # (B, N, 3, H, W)
    mask = batch[f"{prefix}.image_mask"]           # (B, N): False where a row has fewer than N images
    features = encode(images[mask])                # the padding slots are never computed
    per_slot = features.new_zeros(*mask.shape, features.shape[-1])
    per_slot[mask] = features
    weights = mask.unsqueeze(-1).to(features.dtype)
    return (per_slot * weights).sum(1) / weights.sum(1).clamp(min=1)


class TimmImage(nn.Module):
    def __init__(self, model: nn.Module, prefix: str = NAME):
        super().__init__()
        self.model = model
        self.prefix = prefix        # the processor's name, which prefixes its batch keys
        # Some models (MobileNetV3, ...) pool into a wider pre-logits layer than their last feature map.
        self.out_features = getattr(model, "head_hidden_size", None) or model.num_features

    def forward(self, batch: dict) -> torch.Tensor:
        return mean_image_features(self.model, batch, self.prefix)

    def layer_groups(self) -> list:
        """Stem, then each block in order, then the final norm: timm's grouping (the one its layer-decay optimiser
        uses), except that the final norm gets a group of its own instead of joining the last block."""
        matcher = getattr(self.model, "group_matcher", None)
        if matcher is None:
            return [list(c.parameters()) for c in self.model.children() if any(True for _ in c.parameters())]
        from timm.models import group_parameters

        groups = group_parameters(self.model, _final_norm_apart(matcher(coarse=False)), return_values=True)
        return [groups[k] for k in sorted(groups)]


def _final_norm_apart(matcher):
    """timm marks the layers after the last block (final norm, head conv) with MATCH_PREV_GROUP = (99999,) to merge
    them into the last block's group; an ordinal just below it sorts after every block but opens a new group."""
    if not isinstance(matcher, dict):
        return matcher
    apart = {}
    for name, spec in matcher.items():
        if isinstance(spec, (list, tuple)):
            spec = [(regex, (99998,) if suffix == (99999,) else suffix) for regex, suffix in spec]
        apart[name] = spec
    return apart


@register(NAME, IMAGE, processor=ImageProcessor, pretrained=True)
def build_timm_image(config: dict, inputs: dict) -> nn.Module:
    # config's checkpoint_name was resolved by the processor; inputs carry the result (or the saved config).
    return TimmImage(create_timm_model(inputs[NAME]), NAME)
