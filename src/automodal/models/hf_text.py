"""hf_text: any Hugging Face AutoModel encoder over the text columns, pooled to one vector per row.

pooling_mode cls takes the first token's hidden state. CLIP text towers attend causally, so their first token sees
nothing after it; for them cls takes the row's last token, the end token CLIP itself summarises a text with. A
full CLIP checkpoint (image and text) given to hf_text contributes its text tower.
"""

from __future__ import annotations

import inspect
import re

import torch
from torch import nn

from ..data.text import TextProcessor
from ..data.types import TEXT
from .checkpoints import quiet_loading
from .registry import register

LAYER_INDEX = re.compile(r"\.(?:layer|layers|h|block)\.(\d+)\.")
CLIP_TYPES = ("clip", "clip_text_model")


class HFTextBackbone(nn.Module):
    def __init__(self, name: str, checkpoint: str, pretrained: bool, pooling_mode: str, gradient_checkpointing: bool):
        super().__init__()
        from transformers import AutoConfig, AutoModel, CLIPTextModel

        self.name, self.pooling_mode = name, pooling_mode
        config = AutoConfig.from_pretrained(checkpoint)
        self.summary_at_end = config.model_type in CLIP_TYPES
        full_clip = config.model_type == "clip"          # image and text towers: only the text one is used
        if pretrained:
            with quiet_loading(unused_weights_expected=full_clip):
                self.model = (CLIPTextModel if full_clip else AutoModel).from_pretrained(checkpoint)
        else:
            self.model = AutoModel.from_config(config.text_config if full_clip else config)
        if gradient_checkpointing:
            # transformers 5 renamed gradient checkpointing to activation checkpointing
            enable = getattr(self.model, "activation_checkpointing_enable", None) or \
                self.model.gradient_checkpointing_enable
            enable()
        self.uses_token_types = "token_type_ids" in inspect.signature(self.model.forward).parameters
        self.out_features = self.model.config.hidden_size

    def forward(self, batch: dict) -> torch.Tensor:
        mask = batch[f"{self.name}.attention_mask"]
        inputs = {"input_ids": batch[f"{self.name}.input_ids"], "attention_mask": padding_mask(mask)}
        if self.uses_token_types:
            inputs["token_type_ids"] = batch[f"{self.name}.token_type_ids"]
        hidden = self.model(**inputs).last_hidden_state
        if self.pooling_mode == "mean":
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return last_token(hidden, mask) if self.summary_at_end else hidden[:, 0]

    def layer_groups(self) -> list:
        return transformer_layer_groups(self.model)


def last_token(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each row's hidden state at its last real token (sequences are padded on the right)."""
    return hidden[torch.arange(len(hidden), device=hidden.device), mask.sum(dim=1) - 1]


def padding_mask(mask: torch.Tensor) -> torch.Tensor | None:
    """The attention mask, or None when a CPU batch has no padding (one row, or rows of one length): attention
    without a mask takes a faster kernel, about a fifth of a short sequence's forward time on CPU. On GPUs the check
    would cost a device sync, so the mask stays."""
    if mask.device.type == "cpu" and bool(mask.all()):
        return None
    return mask


def transformer_layer_groups(model: nn.Module) -> list:
    """Embeddings (and whatever precedes the first layer), then each transformer layer in order, then whatever
    follows (pooler, final norm, projection)."""
    embeddings, layers, rest = [], {}, []
    for name, param in model.named_parameters():
        match = LAYER_INDEX.search("." + name)
        if match:
            layers.setdefault(int(match.group(1)), []).append(param)
        elif "embed" in name or not layers:
            embeddings.append(param)
        else:
            rest.append(param)
    groups = [embeddings] + [layers[i] for i in sorted(layers)] + [rest]
    return [g for g in groups if g]


@register("hf_text", TEXT, processor=TextProcessor, pretrained=True)
def build_hf_text(config: dict, inputs: dict) -> nn.Module:
    spec = inputs["hf_text"]
    return HFTextBackbone("hf_text", spec["checkpoint"], spec["pretrained"], config["pooling_mode"],
                          config["gradient_checkpointing"])
