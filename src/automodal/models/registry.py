"""The model registry. A family registers its builder with the modality it needs; fusion models need several."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError

FUSION = "fusion"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    modality: str | tuple    # the column type(s) it consumes, or FUSION
    builder: Callable        # builder(config: dict of model.<name>.* or shared keys, inputs: dict) -> nn.Module
    config_group: str        # the model.<group>.* keys it reads
    processor: Callable | None = None  # processor(name, column_types, config) for backbones with their own inputs
    pretrained: bool = False  # starts from pretrained weights (fine-tuned), rather than trained from scratch
    members: bool = False     # carries ensemble members (models.members): a backbone makes them, a fusion keeps them

    @property
    def modalities(self) -> tuple:
        return self.modality if isinstance(self.modality, tuple) else (self.modality,)


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, modality: str, config_group: str | None = None, processor: Callable | None = None,
             pretrained: bool = False, members: bool = False):
    def wrap(builder):
        _REGISTRY[name] = ModelSpec(name, modality, builder, config_group or name, processor, pretrained, members)
        return builder
    return wrap


def _load_families():
    from . import clip, fusion, hashed_text, hf_text, tabular, timm_image  # noqa: F401  (registration happens at import)


def known_names() -> list:
    _load_families()
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    _load_families()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, known_names(), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"model.names has unknown model '{name}'.{hint} Known models: {', '.join(known_names())}.")
    return _REGISTRY[name]
