"""optimization.efficient_finetune: train only biases, norms, LoRA or IA3 adapters (through peft), and the head."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError

ADAPTER_MARKERS = ("lora_", "ia3_")


def _adapter_targets(net) -> list:
    """Names of the Linear layers of the backbones and fusion model (never the head).

    nn.MultiheadAttention's out_proj is left out: attention reads its weight directly instead of calling it, so an
    adapter wrapped around it would never be used and never trained."""
    bypassed = {id(m.out_proj) for m in net.modules() if isinstance(m, nn.MultiheadAttention)}
    return [name for name, module in net.named_modules()
            if isinstance(module, nn.Linear) and id(module) not in bypassed and not name.startswith("head")
            and not any(m in name for m in ADAPTER_MARKERS)]


def _adapters_read_here(module, args):
    """A no-op forward pre-hook: see _keep_adapters_in_use."""


def _keep_adapters_in_use(net):
    """nn.TransformerEncoderLayer's fast path (eval mode without gradients: validation, checkpoint soups,
    prediction) reads its Linear layers' weights directly and so skips their adapters; a forward pre-hook is one of
    the conditions that turns it off, so every encoder layer holding adapters gets one that does nothing."""
    for module in net.modules():
        if isinstance(module, nn.TransformerEncoderLayer) and any(
                marker in name for name, _ in module.named_parameters() for marker in ADAPTER_MARKERS):
            module.register_forward_pre_hook(_adapters_read_here)


def check_adapters(net, method: str | None):
    """Refuse LoRA / IA3 for a network with no layer to adapt: only the head would train, silently."""
    if method and method.startswith(("lora", "ia3")) and not _adapter_targets(net):
        raise ConfigError(f"optimization.efficient_finetune '{method}' puts adapters on the Linear layers of the "
                          "backbones and the fusion model, and this network has none (its backbones are "
                          "convolutional, or it is a head alone): only the head would train. Use bit_fit or "
                          "norm_fit, or null to train the whole network.")


def is_norm(module) -> bool:
    return isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or isinstance(module, nn.modules.batchnorm._BatchNorm)


def apply_efficient_finetune(net, method: str | None):
    """Insert adapters if the method asks for them, then freeze every parameter the method does not train."""
    if not method:
        return net
    if method.startswith(("lora", "ia3")):
        targets = _adapter_targets(net)
        if targets:
            from peft import IA3Config, LoraConfig, inject_adapter_in_model

            if method.startswith("lora"):
                adapter = LoraConfig(r=8, lora_alpha=8, target_modules=targets, lora_dropout=0.0)
            else:
                adapter = IA3Config(target_modules=targets, feedforward_modules=[])
            net = inject_adapter_in_model(adapter, net)
            _keep_adapters_in_use(net)
    train_bias = method in ("bit_fit", "norm_fit", "lora_bias", "lora_norm", "ia3_bias", "ia3_norm")
    train_norm = method in ("norm_fit", "lora_norm", "ia3_norm")
    norm_params = {id(p) for m in net.modules() if is_norm(m) for p in m.parameters()}
    for name, param in net.named_parameters():
        param.requires_grad = (
            name.startswith("head.")
            or any(m in name for m in ADAPTER_MARKERS)
            or (train_bias and name.endswith("bias"))
            or (train_norm and id(param) in norm_params)
        )
    return net
