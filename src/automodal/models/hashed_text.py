"""hashed_text: a text model that needs no download. A row's hashed n-grams (data.hashed_text) are summed as an
embedding bag, which is a learned linear map of the row's n-gram counts, as fastText reads text.

It reads text when the default pretrained checkpoint of hf_text is not available offline, and can be listed in
model.names directly.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..data.hashed_text import HashedTextProcessor
from ..data.types import TEXT
from ..errors import CheckpointNotFoundError
from .checkpoints import resolve_hf_checkpoint
from .registry import register

logger = logging.getLogger(__name__)
NAME = "hashed_text"


class HashedTextBackbone(nn.Module):
    def __init__(self, name: str, num_buckets: int, dim: int):
        super().__init__()
        self.name = name
        self.bag = nn.EmbeddingBag(num_buckets, dim, mode="sum")
        nn.init.normal_(self.bag.weight, std=dim ** -0.5)
        self.out_features = dim

    def forward(self, batch: dict) -> torch.Tensor:
        return self.bag(batch[f"{self.name}.buckets"], batch[f"{self.name}.offsets"],
                        per_sample_weights=batch[f"{self.name}.weights"])

    def layer_groups(self) -> list:
        return [[self.bag.weight]]


@register(NAME, TEXT, processor=HashedTextProcessor)
def build_hashed_text(config: dict, inputs: dict) -> nn.Module:
    return HashedTextBackbone(NAME, inputs[NAME]["num_buckets"], config["embedding_dim"])


def offline_text_fallback(names: list, column_types: dict, config) -> list:
    """model.names with hf_text replaced by hashed_text when the data has text, nobody named the hf_text checkpoint,
    and that checkpoint is neither local nor downloadable; said once, at warning level, since the text is then
    read by a much simpler model."""
    key = "model.hf_text.checkpoint_name"
    if "hf_text" not in names or TEXT not in column_types.values() or key in config.explicit:
        return names
    try:
        resolve_hf_checkpoint(config[key], key)
        return names
    except CheckpointNotFoundError:
        logger.warning("The default text checkpoint '%s' is not available offline; text columns are read by the "
                       "built-in hashed_text model (hashed word and character n-grams) instead. Set %s to a local "
                       "checkpoint directory for a pretrained text model.", config[key], key)
    return [NAME if name == "hf_text" else name for name in names if name != NAME]
