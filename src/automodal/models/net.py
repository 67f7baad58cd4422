"""Choosing the models for the data at hand and assembling them into one network with a prediction head."""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..config import Config
from ..data.types import CATEGORICAL, NUMERICAL, TEXT
from ..errors import ConfigError
from .registry import FUSION, UNAVAILABLE, get_spec

logger = logging.getLogger(__name__)


def text_conversion(column_types: dict, config: Config) -> dict:
    """data.categorical / numerical.convert_to_text: when the data has text for hf_text to read, those columns are
    rendered into its text instead of going to their own models."""
    if TEXT not in column_types.values() or "hf_text" not in config["model.names"]:
        return column_types
    convert = set()
    if config["data.categorical.convert_to_text"]:
        convert.add(CATEGORICAL)
    if config["data.numerical.convert_to_text"]:
        convert.add(NUMERICAL)
    return {c: TEXT if t in convert else t for c, t in column_types.items()}


def select_models(names: list, column_types: dict) -> tuple[list, str | None]:
    """Backbones whose modality is present, and a fusion model when more than one backbone remains."""
    present = set(column_types.values())
    backbones, fusions = [], []
    for name in names:
        if name in UNAVAILABLE:
            modality = UNAVAILABLE[name]
            if modality in present:
                covered = [n for n in names if n not in UNAVAILABLE and get_spec(n).modality == modality]
                if not covered:
                    columns = [c for c, t in column_types.items() if t == modality]
                    raise ConfigError(
                        f"Column(s) {columns} hold {modality} data and model.names offers only '{name}' for it, "
                        f"which this version of automodal cannot build. Add "
                        f"'{'timm_image' if modality == 'image_path' else 'hf_text'}' to model.names, or pass "
                        f"column_types={{'{columns[0]}': 'null'}} to ignore the column.")
                logger.warning("model.names lists '%s', which this version cannot build; %s columns go to %s.",
                               name, modality, ", ".join(covered))
            continue
        spec = get_spec(name)
        if spec.modality == FUSION:
            fusions.append(name)
        elif spec.modality in present:
            backbones.append(name)
    if not backbones:
        raise ConfigError(f"model.names {names} has no model for the column types in the data "
                          f"({sorted(present)}). Add e.g. 'numerical_mlp' or 'categorical_mlp' to model.names.")
    if len(backbones) == 1:
        return backbones, None
    if not fusions:
        raise ConfigError(f"model.names selects several backbones {backbones} but no fusion model; add "
                          "'fusion_mlp' or 'fusion_transformer' to model.names.")
    if len(fusions) > 1:
        raise ConfigError(f"model.names lists more than one fusion model {fusions}; keep one.")
    unused = set(present) - {get_spec(b).modality for b in backbones}
    if unused:
        logger.warning("No model in model.names for column type(s) %s; those columns are not used.", sorted(unused))
    return backbones, fusions[0]


def warn_unused_keys(config: Config, selected: list, column_types: dict):
    """Explicitly set keys that cannot act on this fit get a warning instead of silent acceptance."""
    groups = {get_spec(name).config_group for name in selected}
    for key in sorted(config.explicit):
        parts = key.split(".")
        if parts[0] == "model" and len(parts) > 2 and parts[1] not in groups:
            logger.warning("%s is set, but no model it configures is trained (models: %s); it has no effect.",
                           key, ", ".join(selected))
    if config["data.mixup.turn_on"] and "image_path" not in column_types.values():
        logger.warning("data.mixup.turn_on mixes images; the data has no image columns, so no mixing happens.")


def model_config(config: Config, name: str) -> dict:
    return config.group(f"model.{get_spec(name).config_group}")


class MultimodalNet(nn.Module):
    """Backbones -> (fusion) -> linear head. forward(batch) returns logits, features(batch) the pre-head vector."""

    def __init__(self, backbones: dict, fusion: nn.Module | None, num_outputs: int):
        super().__init__()
        self.backbones = nn.ModuleDict(backbones)
        self.fusion = fusion
        width = fusion.out_features if fusion is not None else next(iter(self.backbones.values())).out_features
        self.head = nn.Linear(width, num_outputs)

    def features(self, batch: dict) -> torch.Tensor:
        outputs = [backbone(batch) for backbone in self.backbones.values()]
        return self.fusion(outputs) if self.fusion is not None else outputs[0]

    def forward(self, batch: dict) -> torch.Tensor:
        return self.head(self.features(batch))

    def layer_depths(self) -> dict:
        """{parameter name: depth}: the head is depth 0, each layer further from it one deeper."""
        depth_of = {id(p): 0 for p in self.head.parameters()}
        start = 1
        if self.fusion is not None:
            groups = self.fusion.layer_groups()
            for offset, group in enumerate(reversed(groups)):
                for p in group:
                    depth_of[id(p)] = start + offset
            start += len(groups)
        for backbone in self.backbones.values():
            for offset, group in enumerate(reversed(backbone.layer_groups())):
                for p in group:
                    depth_of.setdefault(id(p), start + offset)
        return {name: depth_of.get(id(p), start) for name, p in self.named_parameters()}

    def head_parameter_names(self) -> set:
        return {f"head.{n}" for n, _ in self.head.named_parameters()}


def build_net(architecture: dict, config: Config) -> MultimodalNet:
    """architecture: {"backbones": [...], "fusion": name|None, "inputs": {...}, "num_outputs": int}."""
    inputs = architecture["inputs"]
    backbones = {}
    for name in architecture["backbones"]:
        backbones[name] = get_spec(name).builder(model_config(config, name), inputs)
    fusion = None
    if architecture["fusion"]:
        fusion_inputs = dict(inputs, in_features=[b.out_features for b in backbones.values()])
        fusion = get_spec(architecture["fusion"]).builder(model_config(config, architecture["fusion"]), fusion_inputs)
    return MultimodalNet(backbones, fusion, architecture["num_outputs"])
