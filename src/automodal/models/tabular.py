"""MLP backbones for numerical and categorical columns."""

from __future__ import annotations

import torch
from torch import nn

from ..data.types import CATEGORICAL, NUMERICAL
from .layers import mlp_blocks
from .registry import register


def embedding_dim(num_categories: int) -> int:
    return int(min(32, max(4, round(1.6 * num_categories ** 0.56))))


class NumericalMLP(nn.Module):
    def __init__(self, num_features: int, hidden_size: int, num_layers: int, drop_rate: float):
        super().__init__()
        self.blocks = mlp_blocks(num_features, hidden_size, num_layers, drop_rate)
        self.out_features = hidden_size if num_layers else num_features

    def forward(self, batch: dict) -> torch.Tensor:
        x = batch[NUMERICAL]
        for block in self.blocks:
            x = block(x)
        return x

    def layer_groups(self) -> list:
        return [list(b.parameters()) for b in self.blocks]


class CategoricalMLP(nn.Module):
    def __init__(self, num_categories: list, hidden_size: int, num_layers: int, drop_rate: float):
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_dim(n)) for n in num_categories)
        width = sum(e.embedding_dim for e in self.embeddings)
        self.blocks = mlp_blocks(width, hidden_size, num_layers, drop_rate)
        self.out_features = hidden_size if num_layers else width

    def forward(self, batch: dict) -> torch.Tensor:
        codes = batch[CATEGORICAL]
        x = torch.cat([emb(codes[:, j]) for j, emb in enumerate(self.embeddings)], dim=1)
        for block in self.blocks:
            x = block(x)
        return x

    def layer_groups(self) -> list:
        return [list(self.embeddings.parameters())] + [list(b.parameters()) for b in self.blocks]


@register("numerical_mlp", NUMERICAL)
def build_numerical_mlp(config: dict, inputs: dict) -> nn.Module:
    return NumericalMLP(inputs["num_numerical"], config["hidden_size"], config["num_layers"], config["drop_rate"])


@register("categorical_mlp", CATEGORICAL)
def build_categorical_mlp(config: dict, inputs: dict) -> nn.Module:
    return CategoricalMLP(inputs["num_categories"], config["hidden_size"], config["num_layers"], config["drop_rate"])
