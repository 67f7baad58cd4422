"""model.numerical_mlp.piecewise_bins: each number's score also as steps over bins of equal training share."""

import torch

from automodal.config import resolve_config
from automodal.models.net import build_net
from automodal.models.tabular import NumericalMLP, PiecewiseLinearEncoding


def test_each_bin_holds_an_equal_share_of_normal_scores_and_the_features_climb_with_the_score():
    encoding = PiecewiseLinearEncoding(num_features=1, bins=8)
    scores = torch.randn(200_000, 1, generator=torch.Generator().manual_seed(0))
    features = encoding(scores)                                  # (rows, 8)
    inside = ((features > 0) & (features < 1)).float().mean(dim=0)
    assert torch.allclose(inside, torch.full((8,), 1 / 8), atol=0.01), inside
    assert bool((features[:, :-1] >= features[:, 1:]).all())     # a bin fills only once those below are full
    low, high = encoding(torch.tensor([[-10.0], [10.0]]))
    assert low.sum() == 0 and high.sum() == 8


def test_the_key_widens_the_numerical_mlp_and_zero_or_absent_builds_the_plain_one():
    def numerical_mlp(**keys):
        architecture = {"backbones": ["numerical_mlp"], "fusion": "fusion_mlp",
                        "inputs": {"num_numerical": 3}, "num_outputs": 2}
        return build_net(architecture, resolve_config(hyperparameters=keys)).backbones["numerical_mlp"]

    plain, stepped = numerical_mlp(**{"model.numerical_mlp.piecewise_bins": 0}), \
        numerical_mlp(**{"model.numerical_mlp.piecewise_bins": 16})
    assert plain.piecewise is None and stepped.piecewise is not None
    assert stepped.blocks[0][0].in_features == plain.blocks[0][0].in_features + 3 * 16
    # the bins are fixed: no weights to save, so a predictor saved before the key loads into the plain network
    assert set(stepped.state_dict()) == set(plain.state_dict())
    assert NumericalMLP(3, 8, 1, 0.0).piecewise is None
