"""Choosing the models for the data at hand and assembling them into one network with a prediction head."""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..config import Config
from ..data.types import CATEGORICAL, NUMERICAL, TEXT
from ..errors import ConfigError
from .fold_bag import FoldBag
from .linear_start import LinearStart
from .members import MemberHeads, average_members
from .registry import FUSION, get_spec

logger = logging.getLogger(__name__)


def text_conversion(column_types: dict, config: Config, names: list | None = None) -> dict:
    """data.categorical / numerical.convert_to_text: when the data has text for a text model to read (hf_text,
    clip's text tower, or the offline hashed_text), those columns are rendered into its text instead of going to
    their own models. names: the models in use (model.names unless given)."""
    names = config["model.names"] if names is None else names
    # any model that reads text decides, the offline hashed_text too: clip listed beside it (untrained there) does not
    if TEXT not in column_types.values() or not any(TEXT in get_spec(name).modalities for name in names):
        return column_types
    convert = set()
    if config["data.categorical.convert_to_text"]:
        convert.add(CATEGORICAL)
    if config["data.numerical.convert_to_text"]:
        convert.add(NUMERICAL)
    return {c: TEXT if t in convert else t for c, t in column_types.items()}


def select_models(names: list, column_types: dict, names_given: bool = True) -> tuple[dict, str | None]:
    """{backbone: the column types it reads} for the backbones whose modality is present, and a fusion model when
    more than one backbone remains. A backbone of several modalities (clip: images and text) reads those that no
    single-modality backbone in model.names reads, and is left out when none remain; that is logged when the user
    gave model.names (names_given), since with the default names it is the expected outcome."""
    present = set(column_types.values())
    specs = [get_spec(name) for name in dict.fromkeys(names)]
    single = {s.modality for s in specs if s.modality != FUSION and len(s.modalities) == 1}
    reads, fusions = {}, []
    for spec in specs:
        if spec.modality == FUSION:
            fusions.append(spec.name)
            continue
        shared = len(spec.modalities) > 1
        modalities = tuple(m for m in spec.modalities if m in present and not (shared and m in single))
        if modalities:
            reads[spec.name] = modalities
        elif shared and present & set(spec.modalities):
            others = [s.name for s in specs if s.modality in present & set(spec.modalities)]
            logger.log(logging.INFO if names_given else logging.DEBUG,
                       "'%s' is not trained: %s read its column types. Remove them from model.names to train "
                       "'%s' instead.", spec.name, ", ".join(others), spec.name)
    if not reads:
        raise ConfigError(f"model.names {names} has no model for the column types in the data "
                          f"({sorted(present)}). Add e.g. 'numerical_mlp' or 'categorical_mlp' to model.names.")
    unused = present - {m for modalities in reads.values() for m in modalities}
    if unused:
        logger.warning("No model in model.names for column type(s) %s; those columns are not used.", sorted(unused))
    if len(reads) == 1:
        return reads, None
    if not fusions:
        raise ConfigError(f"model.names selects several backbones {list(reads)} but no fusion model; add "
                          "'fusion_mlp' or 'fusion_transformer' to model.names.")
    if len(fusions) > 1:
        raise ConfigError(f"model.names lists more than one fusion model {fusions}; keep one.")
    return reads, fusions[0]


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


def ensemble_members(config: Config, backbones: list, fusion: str | None) -> int:
    """model.ensemble_size when a backbone can make members and the fusion (if any) can carry them, else 1."""
    size = config["model.ensemble_size"]
    makers = [name for name in backbones if get_spec(name).members]
    if size <= 1 or not makers:
        return 1
    if fusion is not None and not get_spec(fusion).members:
        logger.log(logging.INFO if "model.ensemble_size" in config.explicit else logging.DEBUG,
                   "model.ensemble_size %d needs a fusion model that carries members (fusion_mlp); %s trains one "
                   "network.", size, fusion)
        return 1
    return size


class MultimodalNet(nn.Module):
    """Backbones -> (fusion) -> linear head. forward(batch) returns logits, features(batch) the pre-head vector.

    With members > 1 (models.members) the head is one per member: forward(batch, members=True) gives each
    member's logits (batch, k, outputs), forward(batch) their average prediction as logits."""

    def __init__(self, backbones: dict, fusion: nn.Module | None, num_outputs: int, members: int = 1,
                 linear_start: nn.Module | None = None):
        super().__init__()
        self.linear_start = linear_start        # models.linear_start: a fixed linear model the network adds to
        self.backbones = nn.ModuleDict(backbones)
        self.fusion = fusion
        self.members = members
        self.regression = num_outputs == 1
        width = fusion.out_features if fusion is not None else next(iter(self.backbones.values())).out_features
        self.feature_width = width
        self.head = MemberHeads(members, width, num_outputs) if members > 1 else nn.Linear(width, num_outputs)

    def _fused(self, batch: dict) -> torch.Tensor:
        outputs = [backbone(batch) for backbone in self.backbones.values()]
        return self.fusion(outputs) if self.fusion is not None else outputs[0]

    def features(self, batch: dict) -> torch.Tensor:
        """(batch, width): with members, the mean of the members' features."""
        fused = self._fused(batch)
        return fused.mean(dim=1) if fused.dim() == 3 else fused

    def forward(self, batch: dict, members: bool = False) -> torch.Tensor:
        logits = self.head(self._fused(batch))
        if self.linear_start is not None:
            start = self.linear_start(batch)
            logits = logits + (start.unsqueeze(1) if self.members > 1 else start)
        if self.members <= 1:
            return logits.unsqueeze(1) if members else logits
        return logits if members else average_members(logits, self.regression)

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


def build_net(architecture: dict, config: Config) -> nn.Module:
    """architecture: {"backbones": [...], "fusion": name|None, "inputs": {...}, "num_outputs": int, "members": int,
    "linear_start": bool, "linear_text": the hashed-text model the linear start reads, or None, "linear_knots": the
    knots of the map that gives the linear start numbers on their own scale, 0 for none, "target_encoding": the
    categorical columns read as their categories' mean labels, {"columns", "width"} or None} (members absent in
    predictors saved before ensembles: one network; linear_start / linear_text / linear_knots / target_encoding
    absent in those saved before them: none), and "folds": [{"linear_knots": ...} per network] for a k-fold bag
    (bagging), else absent."""
    if architecture.get("folds"):       # a k-fold bag: one network per fold, each with its own linear start map
        return FoldBag([build_net(dict(architecture, folds=None, **fold), config)
                        for fold in architecture["folds"]])
    members = architecture.get("members", 1)
    inputs = dict(architecture["inputs"], members=members, target_encoding=architecture.get("target_encoding"))
    backbones = {}
    for name in architecture["backbones"]:
        backbones[name] = get_spec(name).builder(model_config(config, name), inputs)
    fusion = None
    if architecture["fusion"]:
        fusion_inputs = dict(inputs, in_features=[b.out_features for b in backbones.values()])
        fusion = get_spec(architecture["fusion"]).builder(model_config(config, architecture["fusion"]), fusion_inputs)
    linear = None
    if architecture.get("linear_start"):
        text = architecture.get("linear_text")
        linear = LinearStart(inputs["num_numerical"], inputs["num_categories"], architecture["num_outputs"], text,
                             inputs[text]["num_buckets"] if text else 0, architecture.get("linear_knots", 0))
    return MultimodalNet(backbones, fusion, architecture["num_outputs"], members, linear)
