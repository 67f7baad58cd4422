"""LoRA / IA3 on a network with no layer to adapt is refused instead of training the head alone."""

import pytest
from torch import nn

from automodal.errors import ConfigError
from automodal.training.finetune import apply_efficient_finetune, check_adapters


class Net(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, nn.Linear(8, 2)


@pytest.mark.parametrize("method", ["lora", "ia3", "lora_bias"])
def test_adapters_without_a_linear_layer_to_adapt_are_refused(method):
    with pytest.raises(ConfigError, match=f"efficient_finetune '{method}'.*only the head would train"):
        check_adapters(Net(nn.Conv2d(3, 8, 3)), method)


def test_adapters_with_linear_layers_and_other_methods_pass():
    check_adapters(Net(nn.Conv2d(3, 8, 3)), "bit_fit")
    check_adapters(Net(nn.Conv2d(3, 8, 3)), None)
    net = Net(nn.Sequential(nn.Linear(4, 8)))
    check_adapters(net, "lora")
    adapted = apply_efficient_finetune(net, "lora")
    assert any("lora_" in name for name, p in adapted.named_parameters() if p.requires_grad)
