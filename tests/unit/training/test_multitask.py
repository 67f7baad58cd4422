"""The multitask loss is the pivot weight times the pivot's loss plus each co-task's weight times its loss."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from automodal.data.batches import make_loader
from automodal.training.multitask import CoTask, CoTaskStreams, check_weights
from automodal.training.module import TrainingModule


class FeatureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 4)

    def features(self, batch):
        return self.layer(batch["numerical"])


def streams(weights):
    rng = np.random.default_rng(0)
    arrays = {"numerical": rng.normal(size=(8, 3)).astype(np.float32), "label": rng.integers(0, 2, 8)}
    regression = {"numerical": rng.normal(size=(8, 3)).astype(np.float32),
                  "label": rng.normal(size=8).astype(np.float32)}
    tasks = [CoTask("a", "binary", 2, make_loader(arrays, 8), weights[0]),
             CoTask("b", "regression", 1, make_loader(regression, 8), weights[1])]
    return CoTaskStreams(tasks, width=4), arrays, regression


@pytest.mark.parametrize("weights", [(1.0, 1.0), (0.5, 3.0), (0.0, 2.0)])
def test_the_loss_is_the_weighted_sum(weights):
    torch.manual_seed(0)
    net = FeatureNet()
    co, arrays, regression = streams(weights)
    module = SimpleNamespace(net=net, co_tasks=co, pivot_weight=2.0, device=torch.device("cpu"))
    pivot = torch.tensor(0.7)
    total = TrainingModule.multitask_loss(module, pivot)
    a = F.cross_entropy(co.heads[0](net.features({"numerical": torch.from_numpy(arrays["numerical"])})),
                        torch.from_numpy(arrays["label"]))
    b = F.mse_loss(co.heads[1](net.features({"numerical": torch.from_numpy(regression["numerical"])}))[:, 0],
                   torch.from_numpy(regression["label"]))
    assert total.item() == pytest.approx((2.0 * pivot + weights[0] * a + weights[1] * b).item(), rel=1e-5)
    assert [h["weight"] for h in co.summary()] == list(weights)


def test_task_weights_are_checked():
    assert check_weights(None, 3) == [1.0, 1.0, 1.0]
    for bad in ([1.0], [1.0, -1.0], [0.0, 0.0]):
        with pytest.raises(ValueError, match="task_weights must hold 2"):
            check_weights(bad, 2)
