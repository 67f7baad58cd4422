"""Several networks in one (the idea of TabM, Gorishniy et al., 2024): k members share every weight except a
per-member scaling of the tabular inputs and a head each. Rows travel as (batch, k, width) from the tabular MLPs
through the fusion MLP to the heads; each member is trained on its own loss and predictions average the members,
which gives much of an ensemble's gain in accuracy and stability at the cost of one wider network.

Backbones that do not know about members (pretrained text and image models, FT-Transformers) give (batch, width)
features, which are shared by all members.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MemberScaling(nn.Module):
    """x (batch, width) -> (batch, k, width), member i seeing x * r_i; r starts as random signs, so members differ
    from the first step (a shared start would make them identical)."""

    def __init__(self, members: int, width: int):
        super().__init__()
        self.scale = nn.Parameter(torch.randint(0, 2, (members, width)).float() * 2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) * self.scale


def spread(features: list, members: int) -> list:
    """Features of shape (batch, width) repeated per member, when others carry members."""
    if members <= 1 or all(f.dim() == 2 for f in features):
        return features
    return [f.unsqueeze(1).expand(-1, members, -1) if f.dim() == 2 else f for f in features]


class MemberHeads(nn.Module):
    """A linear head per member: (batch, k, width) -> (batch, k, outputs); shared features are spread first."""

    def __init__(self, members: int, width: int, outputs: int):
        super().__init__()
        bound = 1 / math.sqrt(width)
        self.weight = nn.Parameter(torch.empty(members, width, outputs).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, outputs).uniform_(-bound, bound))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() == 2:
            features = features.unsqueeze(1).expand(-1, self.weight.shape[0], -1)
        return torch.einsum("bkw,kwo->bko", features, self.weight) + self.bias


def average_members(logits: torch.Tensor, regression: bool) -> torch.Tensor:
    """(batch, k, outputs) -> (batch, outputs): the mean prediction for regression; for classes the logits of the
    members' mean probabilities."""
    if regression:
        return logits.mean(dim=1)
    return torch.logsumexp(torch.log_softmax(logits.float(), dim=-1), dim=1) - math.log(logits.shape[1])
