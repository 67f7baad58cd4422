"""FT-Transformer (Gorishniy et al., 2021) backbones: every column becomes a token, a transformer mixes them."""

from __future__ import annotations

import os

import torch
from torch import nn

from ..data.types import CATEGORICAL, NUMERICAL
from ..errors import CheckpointNotFoundError, ConfigError
from .layers import TransformerTrunk
from .registry import register


class NumericalTokenizer(nn.Module):
    """Token j = x_j * W_j + b_j."""

    def __init__(self, num_features: int, token_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_features, token_dim) / token_dim ** 0.5)
        self.bias = nn.Parameter(torch.zeros(num_features, token_dim))

    def forward(self, batch: dict) -> torch.Tensor:
        return batch[NUMERICAL].unsqueeze(-1) * self.weight + self.bias


class CategoricalTokenizer(nn.Module):
    """Token j = embedding of column j's code (one shared table with per-column offsets) + b_j."""

    def __init__(self, num_categories: list, token_dim: int):
        super().__init__()
        offsets = torch.tensor([0] + list(num_categories[:-1])).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.embedding = nn.Embedding(sum(num_categories), token_dim)
        self.bias = nn.Parameter(torch.zeros(len(num_categories), token_dim))

    def forward(self, batch: dict) -> torch.Tensor:
        return self.embedding(batch[CATEGORICAL] + self.offsets) + self.bias


class FTTransformer(nn.Module):
    def __init__(self, tokenizer: nn.Module, token_dim: int, hidden_size: int, num_blocks: int,
                 ffn_hidden_size: int):
        super().__init__()
        if hidden_size % 8:
            raise ConfigError(f"model.ft_transformer.hidden_size must be a multiple of 8 (8 attention heads); "
                              f"got {hidden_size}.")
        self.tokenizer = tokenizer
        self.projection = nn.Linear(token_dim, hidden_size) if token_dim != hidden_size else nn.Identity()
        self.trunk = TransformerTrunk(hidden_size, num_blocks, ffn_hidden_size)
        self.out_features = hidden_size

    def forward(self, batch: dict) -> torch.Tensor:
        return self.trunk(self.projection(self.tokenizer(batch)))

    def layer_groups(self) -> list:
        return [list(self.tokenizer.parameters()) + list(self.projection.parameters())] + self.trunk.layer_groups()


def load_pretrained_trunk(model: FTTransformer, checkpoint: str | None) -> FTTransformer:
    """Load the transformer blocks from a safetensors file; tokenizers depend on the data and stay fresh."""
    if not checkpoint:
        return model
    if "://" in checkpoint:
        raise CheckpointNotFoundError(
            f"model.ft_transformer.checkpoint_name is a URL ({checkpoint}); automodal does not download at run "
            "time. Download the file and set the key to its local path (a .safetensors file).")
    if not os.path.isfile(checkpoint):
        raise CheckpointNotFoundError(f"model.ft_transformer.checkpoint_name: file '{checkpoint}' not found. Set "
                                      "it to a local .safetensors file with FT-Transformer weights, or to null.")
    from safetensors.torch import load_file

    state = load_file(checkpoint)
    own = model.trunk.state_dict()
    usable = {}
    for key, value in state.items():
        key = key.split("trunk.", 1)[-1]
        if key in own and own[key].shape == value.shape:
            usable[key] = value
    if not usable:
        raise ConfigError(f"model.ft_transformer.checkpoint_name '{checkpoint}' holds no transformer weights "
                          "matching model.ft_transformer.num_blocks / hidden_size / ffn_hidden_size.")
    model.trunk.load_state_dict(usable, strict=False)
    return model


def _build(tokenizer, config):
    model = FTTransformer(tokenizer, config["token_dim"], config["hidden_size"], config["num_blocks"],
                          config["ffn_hidden_size"])
    return load_pretrained_trunk(model, config["checkpoint_name"])


@register("numerical_transformer", NUMERICAL, config_group="ft_transformer")
def build_numerical_transformer(config: dict, inputs: dict) -> nn.Module:
    return _build(NumericalTokenizer(inputs["num_numerical"], config["token_dim"]), config)


@register("categorical_transformer", CATEGORICAL, config_group="ft_transformer")
def build_categorical_transformer(config: dict, inputs: dict) -> nn.Module:
    return _build(CategoricalTokenizer(inputs["num_categories"], config["token_dim"]), config)
