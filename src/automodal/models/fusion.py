"""Fusion models: combine the features of several backbones into one."""

from __future__ import annotations

import torch
from torch import nn

from . import ft_transformer  # noqa: F401  (registers the FT-Transformer backbones with the tabular ones)
from .layers import TransformerTrunk, mlp_blocks
from .members import spread
from .registry import FUSION, register


class FusionMLP(nn.Module):
    def __init__(self, in_features: list, hidden_size: int, num_layers: int, drop_rate: float, members: int = 1):
        super().__init__()
        self.members = members
        self.blocks = mlp_blocks(sum(in_features), hidden_size, num_layers, drop_rate)
        self.out_features = hidden_size if num_layers else sum(in_features)

    def forward(self, features: list) -> torch.Tensor:
        x = torch.cat(spread(features, self.members), dim=-1)
        for block in self.blocks:
            x = block(x)
        return x

    def layer_groups(self) -> list:
        return [list(b.parameters()) for b in self.blocks]


class FusionTransformer(nn.Module):
    """Each backbone's feature vector is projected to one token; a transformer mixes the tokens."""

    def __init__(self, in_features: list, hidden_size: int, num_blocks: int, ffn_hidden_size: int):
        super().__init__()
        self.projections = nn.ModuleList(nn.Linear(n, hidden_size) for n in in_features)
        self.trunk = TransformerTrunk(hidden_size, num_blocks, ffn_hidden_size)
        self.out_features = hidden_size

    def forward(self, features: list) -> torch.Tensor:
        tokens = torch.stack([proj(f) for proj, f in zip(self.projections, features)], dim=1)
        return self.trunk(tokens)

    def layer_groups(self) -> list:
        return [list(self.projections.parameters())] + self.trunk.layer_groups()


@register("fusion_mlp", FUSION, members=True)
def build_fusion_mlp(config: dict, inputs: dict) -> nn.Module:
    return FusionMLP(inputs["in_features"], config["hidden_size"], config["num_layers"], config["drop_rate"],
                     inputs.get("members", 1))


@register("fusion_transformer", FUSION, config_group="ft_transformer")
def build_fusion_transformer(config: dict, inputs: dict) -> nn.Module:
    return FusionTransformer(inputs["in_features"], config["hidden_size"], config["num_blocks"],
                             config["ffn_hidden_size"])
