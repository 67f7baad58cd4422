"""model.ensemble_size: members share a network, each with its own input scaling and head; predictions average."""

import torch

from automodal.config import resolve_config
from automodal.models.net import build_net, ensemble_members

INPUTS = {"num_numerical": 3, "num_categories": [4]}


def net(num_outputs, members):
    torch.manual_seed(0)
    architecture = {"backbones": ["numerical_mlp", "categorical_mlp"], "fusion": "fusion_mlp", "inputs": INPUTS,
                    "num_outputs": num_outputs, "members": members}
    return build_net(architecture, resolve_config()).eval()


BATCH = {"numerical": torch.randn(5, 3), "categorical": torch.randint(0, 4, (5, 1))}


def test_members_give_their_own_logits_and_the_prediction_averages_their_probabilities():
    model = net(3, 4)
    members = model(BATCH, members=True)
    assert members.shape == (5, 4, 3)
    assert not torch.allclose(members[:, 0], members[:, 1])          # the members differ
    averaged = torch.softmax(model(BATCH), dim=1)
    assert torch.allclose(averaged, torch.softmax(members, dim=-1).mean(dim=1), atol=1e-6)
    assert model.features(BATCH).shape == (5, model.fusion.out_features)


def test_regression_members_average_their_values():
    model = net(1, 4)
    assert torch.allclose(model(BATCH), model(BATCH, members=True).mean(dim=1), atol=1e-6)


def test_one_member_is_a_plain_network():
    model = net(2, 1)
    assert isinstance(model.head, torch.nn.Linear)
    assert torch.equal(model(BATCH, members=True)[:, 0], model(BATCH))


def test_members_need_a_backbone_that_makes_them_and_a_fusion_that_carries_them():
    config = resolve_config(hyperparameters={"model.ensemble_size": 8})
    assert ensemble_members(config, ["numerical_mlp", "categorical_mlp"], "fusion_mlp") == 8
    assert ensemble_members(config, ["numerical_mlp"], None) == 8
    assert ensemble_members(config, ["numerical_mlp", "hf_text"], "fusion_transformer") == 1
    assert ensemble_members(config, ["numerical_transformer"], None) == 1
    assert ensemble_members(resolve_config(), ["numerical_mlp"], None) == 1     # the default: one network
