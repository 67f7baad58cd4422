"""Detectors from torchvision.models.detection, named as AutoGluon (MMDetection) names them or as torchvision does.

MMDetection does not build with this torch, so each of its names maps to the closest maintained architecture
(NAME_MAP, documented in the README). model.mmdet_image.checkpoint_name may also be a local directory holding
`detector.json` ({"architecture": <torchvision name>, optional "min_size" / "max_size" of the detector's resize,
optional "backbone_channels": a small convolutional backbone of these widths instead of the architecture's own})
and optionally `model.safetensors` starting weights."""

from __future__ import annotations

import logging
import os

import torch
from safetensors.torch import load_file
from torch import nn

from ...errors import CheckpointNotFoundError, ConfigError

logger = logging.getLogger("automodal")

KEY = "model.mmdet_image.checkpoint_name"
SPEC_FILE, WEIGHTS_FILE = "detector.json", "model.safetensors"
SCRATCH = "scratch"      # the source of a detector sized from the data, which has no starting weights

# torchvision builder -> family (which decides the logical parts and how a small backbone is attached)
ARCHITECTURES = {
    "ssdlite320_mobilenet_v3_large": "ssd",
    "ssd300_vgg16": "ssd",
    "fasterrcnn_resnet50_fpn": "fasterrcnn",
    "fasterrcnn_resnet50_fpn_v2": "fasterrcnn",
    "fasterrcnn_mobilenet_v3_large_fpn": "fasterrcnn",
    "fasterrcnn_mobilenet_v3_large_320_fpn": "fasterrcnn",
    "fcos_resnet50_fpn": "fcos",
    "retinanet_resnet50_fpn": "retinanet",
    "retinanet_resnet50_fpn_v2": "retinanet",
}

# AutoGluon / MMDetection name -> (torchvision architecture, why it is the closest)
NAME_MAP = {
    "yolov3_mobilenetv2_8xb24-320-300e_coco": ("ssdlite320_mobilenet_v3_large",
                                               "a one-stage detector on a mobile backbone at 320 px"),
    "yolov3_mobilenetv2_320_300e_coco": ("ssdlite320_mobilenet_v3_large",
                                         "a one-stage detector on a mobile backbone at 320 px"),
    "ssdlite_mobilenetv2_scratch_600e_coco": ("ssdlite320_mobilenet_v3_large", "SSDlite on a mobile backbone"),
    "yolox_nano": ("fcos_resnet50_fpn", "an anchor-free one-stage detector with a feature pyramid"),
    "yolox_tiny": ("fcos_resnet50_fpn", "an anchor-free one-stage detector with a feature pyramid"),
    "yolox_s": ("fcos_resnet50_fpn", "an anchor-free one-stage detector with a feature pyramid"),
    "yolox_m": ("fcos_resnet50_fpn", "an anchor-free one-stage detector with a feature pyramid"),
    "yolox_l": ("fcos_resnet50_fpn", "an anchor-free one-stage detector with a feature pyramid"),
    "yolox_x": ("fcos_resnet50_fpn", "an anchor-free one-stage detector with a feature pyramid"),
    "faster_rcnn_r50_fpn_1x_coco": ("fasterrcnn_resnet50_fpn", "the same architecture"),
    "faster_rcnn_r50_fpn_2x_coco": ("fasterrcnn_resnet50_fpn", "the same architecture"),
    "faster-rcnn_r50_fpn_1x_coco": ("fasterrcnn_resnet50_fpn", "the same architecture"),
    "faster-rcnn_r50_fpn_2x_coco": ("fasterrcnn_resnet50_fpn", "the same architecture"),
    "retinanet_r50_fpn_1x_coco": ("retinanet_resnet50_fpn", "the same architecture"),
    "retinanet_r50_fpn_2x_coco": ("retinanet_resnet50_fpn", "the same architecture"),
    "dino-4scale_r50_8xb2-12e_coco": ("fasterrcnn_resnet50_fpn_v2",
                                      "the most accurate ResNet-50 detector torchvision maintains"),
    "dino-5scale_swin-l_8xb2-12e_coco": ("fasterrcnn_resnet50_fpn_v2",
                                         "the most accurate detector torchvision maintains"),
    "dino-5scale_swin-l_8xb2-36e_coco": ("fasterrcnn_resnet50_fpn_v2",
                                         "the most accurate detector torchvision maintains"),
}

# logical part -> parameter-name prefixes, per family; "small" is the small convolutional backbone
PARTS = {
    "fasterrcnn": {"backbone": ("backbone.body",), "neck": ("backbone.fpn",), "head": ("rpn", "roi_heads")},
    "fcos": {"backbone": ("backbone.body",), "neck": ("backbone.fpn",), "head": ("head",)},
    "retinanet": {"backbone": ("backbone.body",), "neck": ("backbone.fpn",), "head": ("head",)},
    "ssd": {"backbone": ("backbone.features",), "neck": ("backbone.extra",), "head": ("head",)},
    "small": {"backbone": ("backbone.body",), "neck": ("backbone.neck",), "head": ("head", "rpn", "roi_heads")},
}


def resolve(name: str) -> dict:
    """The detector spec for a checkpoint name: {"architecture", "source", and the local directory's settings}."""
    local = os.path.expanduser(name)
    if os.path.isdir(local):
        path = os.path.join(local, SPEC_FILE)
        if not os.path.isfile(path):
            raise CheckpointNotFoundError(f"{KEY}: directory '{name}' has no {SPEC_FILE}. Write one naming the "
                                          f"architecture, e.g. {{\"architecture\": \"fcos_resnet50_fpn\"}}, with "
                                          f"optional starting weights in {WEIGHTS_FILE}.")
        import json

        with open(path, encoding="utf-8") as handle:
            spec = json.load(handle)
        if spec.get("architecture") not in ARCHITECTURES:
            raise ConfigError(f"{path}: architecture {spec.get('architecture')!r} is not one of "
                              f"{', '.join(ARCHITECTURES)}.")
        return dict(spec, source=os.path.abspath(local))
    if name in NAME_MAP:
        architecture, why = NAME_MAP[name]
        logger.info("%s '%s' is an MMDetection model; it maps to torchvision's %s (%s).", KEY, name, architecture,
                    why)
        return {"architecture": architecture, "source": "torchvision"}
    if name in ARCHITECTURES:
        return {"architecture": name, "source": "torchvision"}
    import difflib

    close = difflib.get_close_matches(name, list(NAME_MAP) + list(ARCHITECTURES), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"{KEY} '{name}' is not a known detector nor a local directory.{hint} Known: "
                      f"{', '.join(list(NAME_MAP) + list(ARCHITECTURES))}.")


def family(spec: dict) -> str:
    return "small" if spec.get("backbone_channels") else ARCHITECTURES[spec["architecture"]]


class SmallBackbone(nn.Module):
    """Stride-2 convolution stages (body) and 1x1 projections of the last two (neck) to feature maps at strides
    2^(n-1) and 2^n: a detector for small images that trains quickly on a CPU."""

    def __init__(self, channels: list, out_channels: int = 64):
        super().__init__()
        stages, width = [], 3
        for c in channels:
            stages.append(nn.Sequential(nn.Conv2d(width, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                        nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()))
            width = c
        self.body = nn.ModuleList(stages)
        self.neck = nn.ModuleList([nn.Conv2d(c, out_channels, 1) for c in channels[-2:]])
        self.out_channels = out_channels

    def forward(self, x):
        features = []
        for stage in self.body:
            x = stage(x)
            features.append(x)
        from collections import OrderedDict

        return OrderedDict((str(i), proj(f)) for i, (proj, f) in enumerate(zip(self.neck, features[-2:])))


def _small_detector(spec: dict, num_classes: int, sizes: dict):
    from torchvision.models import detection
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    channels = list(spec["backbone_channels"])
    backbone = SmallBackbone(channels)
    stride = 2 ** (len(channels) - 1)
    kind = ARCHITECTURES[spec["architecture"]]
    if kind == "fasterrcnn":
        anchors = AnchorGenerator(((stride * 2,), (stride * 4,)), ((0.5, 1.0, 2.0),) * 2)
        return detection.FasterRCNN(backbone, num_classes, rpn_anchor_generator=anchors, **sizes)
    if kind == "retinanet":
        anchors = AnchorGenerator(((stride * 2,), (stride * 4,)), ((0.5, 1.0, 2.0),) * 2)
        return detection.RetinaNet(backbone, num_classes, anchor_generator=anchors, **sizes)
    if kind == "fcos":
        anchors = AnchorGenerator(((stride * 2,), (stride * 4,)), ((1.0,),) * 2)
        return detection.FCOS(backbone, num_classes, anchor_generator=anchors, **sizes)
    raise ConfigError(f"backbone_channels (a small backbone) works with faster R-CNN, RetinaNet and FCOS "
                      f"architectures, not {spec['architecture']}.")


def build(spec: dict, num_classes: int) -> nn.Module:
    """A randomly initialised detector for num_classes classes plus background."""
    from torchvision.models import detection

    sizes = {k: spec[k] for k in ("min_size", "max_size") if k in spec}
    if spec.get("backbone_channels"):
        return _small_detector(spec, num_classes + 1, sizes)
    builder = getattr(detection, spec["architecture"])
    return builder(weights=None, weights_backbone=None, num_classes=num_classes + 1, **sizes)


def _torchvision_weights_file(architecture: str) -> str:
    from torchvision.models import get_model_weights

    url = get_model_weights(architecture).DEFAULT.url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url)), url


def weights_file(spec: dict) -> str | None:
    """The starting weights on disk: the local directory's model.safetensors (None when it has none), or
    torchvision's COCO weights in the torch hub cache, downloaded there when the network allows. A network sized
    from the data (source "scratch") has none. Raises CheckpointNotFoundError, saying which file to copy where,
    when torchvision's weights are neither cached nor downloadable."""
    if spec["source"] == SCRATCH:
        return None
    if spec["source"] != "torchvision":
        path = os.path.join(spec["source"], WEIGHTS_FILE)
        return path if os.path.isfile(path) else None
    path, url = _torchvision_weights_file(spec["architecture"])
    if os.path.isfile(path):
        return path
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.hub.download_url_to_file(url, path, progress=False)    # to a temporary file, moved when complete
    except Exception as exc:  # offline: urllib's errors, or a partial download
        raise CheckpointNotFoundError(f"{KEY}: the COCO weights of {spec['architecture']} are not in the torch hub "
                                      f"cache and could not be downloaded ({type(exc).__name__}). Download {url} on "
                                      f"a machine with network access and copy it to {path}.") from exc
    return path


def starting_weights(path: str) -> dict:
    """The tensors of a weights file (safetensors, or torchvision's pickled state dict read as tensors only)."""
    if path.endswith(".safetensors"):
        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def load_matching(net: nn.Module, state: dict) -> int:
    """Load the tensors whose names and shapes match (class-specific layers of another label set do not)."""
    own = net.state_dict()
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    net.load_state_dict(matching, strict=False)
    return len(matching)


def frozen_prefixes(spec: dict, frozen: list) -> list:
    """Parameter-name prefixes of model.mmdet_image.frozen_layers: logical parts, else name prefixes."""
    parts = PARTS[family(spec)]
    prefixes = []
    for entry in frozen:
        prefixes.extend(parts.get(entry, (entry,)))
    return prefixes


def freeze(net: nn.Module, prefixes: list, spec: dict):
    """Freeze the parameters under these prefixes, with their batch norms' statistics."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    names = [name for name, _ in net.named_parameters()]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in names):
            raise ConfigError(f"model.mmdet_image.frozen_layers: '{prefix}' names no part of "
                              f"{spec['architecture']}; use {', '.join(PARTS[family(spec)])} or a parameter-name "
                              "prefix such as 'backbone.body'.")
    for name, param in net.named_parameters():
        if any(name.startswith(prefix) for prefix in prefixes):
            param.requires_grad = False
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.BatchNorm2d) and any(name.startswith(prefix) for prefix in prefixes):
            frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
            frozen.weight.copy_(module.weight.detach())
            frozen.bias.copy_(module.bias.detach())
            frozen.running_mean.copy_(module.running_mean)
            frozen.running_var.copy_(module.running_var)
            parent_name, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent_name) if parent_name else net, child, frozen)
    return net
