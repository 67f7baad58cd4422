"""The networks of a k-fold bagged fit (optimization.bag_folds) as one module: each reads the same batch and the
prediction averages them, so prediction, export, int8 layers and serving treat the bag as any other network."""

from __future__ import annotations

import torch
from torch import nn

from .members import average_members


class FoldBag(nn.Module):
    def __init__(self, nets: list):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.regression = nets[0].regression

    def forward(self, batch: dict, members: bool = False) -> torch.Tensor:
        """The mean prediction as logits (a regression's mean value; for classes, the logits of the mean
        probabilities); members=True gives each network's logits, (batch, k, outputs)."""
        logits = torch.stack([net(batch) for net in self.nets], dim=1)
        return logits if members else average_members(logits, self.regression)

    def features(self, batch: dict) -> torch.Tensor:
        """The networks' pre-head vectors side by side: each network learned its own feature space."""
        return torch.cat([net.features(batch) for net in self.nets], dim=1)


def first_network(net: nn.Module) -> nn.Module:
    """A bag's first network, or the network itself: the weights a fit starting from this model takes."""
    return net.nets[0] if isinstance(net, FoldBag) else net
