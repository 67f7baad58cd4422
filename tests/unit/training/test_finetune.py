"""LoRA / IA3 on a network with no layer to adapt is refused instead of training the head alone."""

import pytest
from torch import nn

from automodal.errors import ConfigError
from automodal.training.finetune import apply_efficient_finetune, check_adapters


class Net(nn.Module):
    def __init__(self, backbone: nn.Module, width: int = 8):
        super().__init__()
        self.backbone, self.head = backbone, nn.Linear(width, 2)


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


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_adapters_of_transformer_layers_act_when_predicting(method):
    import torch

    from automodal.models.layers import TransformerTrunk

    torch.manual_seed(0)
    net = apply_efficient_finetune(Net(TransformerTrunk(16, 2, 32, num_heads=2, drop_rate=0.0), 16), method)
    for name, parameter in net.named_parameters():
        if "lora_B" in name or "ia3_" in name:
            torch.nn.init.normal_(parameter)            # adapters that change the outputs
    tokens = torch.randn(3, 5, 16)
    trained = net.head(net.train().backbone(tokens))     # training mode: every adapter is called
    with torch.inference_mode():                         # eval mode without gradients: the encoder's fast path
        predicted = net.head(net.eval().backbone(tokens))
    assert torch.allclose(trained, predicted, atol=1e-5)
