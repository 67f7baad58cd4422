"""Building blocks shared by the model families."""

from __future__ import annotations

import torch
from torch import nn


def mlp_blocks(in_features: int, hidden_size: int, num_layers: int, drop_rate: float) -> nn.ModuleList:
    """Linear -> LayerNorm -> GELU -> Dropout, `num_layers` times."""
    blocks = nn.ModuleList()
    width = in_features
    for _ in range(num_layers):
        blocks.append(nn.Sequential(nn.Linear(width, hidden_size), nn.LayerNorm(hidden_size), nn.GELU(),
                                    nn.Dropout(drop_rate)))
        width = hidden_size
    return blocks


class TransformerTrunk(nn.Module):
    """Pre-norm transformer blocks over a sequence of tokens with a learned CLS token; returns the CLS feature."""

    def __init__(self, hidden_size: int, num_blocks: int, ffn_hidden_size: int, num_heads: int = 8,
                 drop_rate: float = 0.1):
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, hidden_size) * 0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(hidden_size, num_heads, ffn_hidden_size, dropout=drop_rate,
                                       activation="gelu", batch_first=True, norm_first=True)
            for _ in range(num_blocks))
        self.final_norm = nn.LayerNorm(hidden_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x[:, 0])

    def layer_groups(self) -> list:
        return [[self.cls_token]] + [list(b.parameters()) for b in self.blocks] + [list(self.final_norm.parameters())]
