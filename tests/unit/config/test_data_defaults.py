"""Data-aware defaults: a learning-rate key someone set acts, or is refused naming the key that rules it out."""

import pytest

from automodal.config import resolve_config
from automodal.config.data_defaults import choose_defaults
from automodal.errors import ConfigError
from automodal.training.optim import param_groups


def chosen(keys: dict, from_scratch: bool = True):
    return choose_defaults(resolve_config(None, keys), 300, from_scratch, in_memory=True)[0]


def test_a_from_scratch_network_gets_one_rate_unless_lr_decay_or_lr_mult_is_set():
    assert chosen({})["optimization.lr_choice"] == ""
    assert chosen({"optimization.lr_decay": 0.5})["optimization.lr_choice"] == "layerwise_decay"
    assert chosen({"optimization.lr_mult": 10})["optimization.lr_choice"] == "two_stages"
    # a pretrained backbone's documented layerwise_decay reads lr_decay; lr_mult needs two_stages there too
    assert chosen({"optimization.lr_mult": 10}, from_scratch=False)["optimization.lr_choice"] == "two_stages"


def test_the_chosen_rule_gives_the_head_lr_mult_times_the_rate():
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)

        def layer_depths(self):
            return {name: 0 if name.startswith("head.") else 1 for name, _ in self.named_parameters()}

        def head_parameter_names(self):
            return {"head.weight", "head.bias"}

    config = chosen({"optimization.lr_mult": 10, "optimization.learning_rate": 1e-3})
    rates = sorted({group["lr"] for group in param_groups(Net(), config)})
    assert rates == pytest.approx([1e-3, 1e-2])


@pytest.mark.parametrize("keys, named", [
    ({"optimization.lr_mult": 10, "optimization.lr_choice": "layerwise_decay"}, "optimization.lr_mult acts under"),
    ({"optimization.lr_decay": 0.5, "optimization.lr_choice": ""}, "optimization.lr_decay acts under"),
    ({"optimization.lr_decay": 0.5, "optimization.lr_mult": 10}, "set optimization.lr_choice"),
])
def test_a_rate_key_another_setting_rules_out_is_refused(keys, named):
    with pytest.raises(ConfigError, match=named):
        chosen(keys)


def test_a_classification_reads_its_numbers_also_as_steps_and_a_regression_does_not():
    def bins(keys, classification):
        config, applied = choose_defaults(resolve_config(None, keys), 300, True, in_memory=True,
                                          classification=classification)
        return config["model.numerical_mlp.piecewise_bins"], "model.numerical_mlp.piecewise_bins" in applied

    assert bins({}, classification=True) == (48, True)
    assert bins({}, classification=False) == (0, False)
    assert bins({"model.numerical_mlp.piecewise_bins": 16}, classification=True) == (16, False)
    assert bins({"model.numerical_mlp.piecewise_bins": 16}, classification=False) == (16, False)
    # a configuration that a classification's fit chose for does not carry its steps into a regression's fit
    config, _ = choose_defaults(resolve_config(None, {}), 300, True, in_memory=True, classification=True)
    assert choose_defaults(config, 300, True, in_memory=True)[0]["model.numerical_mlp.piecewise_bins"] == 0
