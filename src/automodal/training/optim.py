"""Parameter groups (per-layer learning rates, no weight decay on biases and norms), optimiser and schedules."""

from __future__ import annotations

import math

import torch

from ..config import Config


def _no_decay(name: str, param) -> bool:
    return param.ndim <= 1 or name.endswith(".bias") or "norm" in name.lower()


def param_groups(net, config: Config) -> list:
    """One group per distinct (learning rate, weight decay): groups whose settings agree are merged, since each
    group costs the optimiser a separate pass per step. Each group records its parameter names."""
    lr = config["optimization.learning_rate"]
    weight_decay = config["optimization.weight_decay"]
    choice = config["optimization.lr_choice"]
    depths = net.layer_depths()
    head = net.head_parameter_names()
    groups: dict = {}
    for name, param in net.named_parameters():
        if not param.requires_grad:
            continue
        depth = depths[name]
        if choice == "layerwise_decay":
            group_lr = lr * config["optimization.lr_decay"] ** depth
        elif choice == "two_stages":
            group_lr = lr * config["optimization.lr_mult"] if name in head else lr
        else:
            group_lr = lr
        decay = 0.0 if _no_decay(name, param) else weight_decay
        group = groups.setdefault((group_lr, decay), {"params": [], "names": [], "lr": group_lr,
                                                      "weight_decay": decay})
        group["params"].append(param)
        group["names"].append(name)
    return list(groups.values())


def uniform_groups(net, config: Config) -> list:
    """One learning rate for every trainable parameter, without weight decay on biases and norms: for networks
    without layer depths (detectors, segmenters)."""
    groups: dict = {}
    for name, param in net.named_parameters():
        if param.requires_grad:
            decay = 0.0 if _no_decay(name, param) else config["optimization.weight_decay"]
            group = groups.setdefault(decay, {"params": [], "names": [], "lr": config["optimization.learning_rate"],
                                              "weight_decay": decay})
            group["params"].append(param)
            group["names"].append(name)
    return list(groups.values())


HALF_PRECISION_EPS = 1e-4


def build_optimizer(groups: list, config: Config) -> torch.optim.Optimizer:
    kind = config["optimization.optim_type"]
    lr = config["optimization.learning_rate"]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    # Adam's default eps (1e-8) is zero in float16 (env.precision 16-true): a parameter whose gradient is zero
    # (an unused category's embedding) would then step by 0 / 0 = NaN.
    half = any(p.dtype == torch.float16 for group in groups for p in group["params"])
    eps = HALF_PRECISION_EPS if half else 1e-8
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr, eps=eps)
    return torch.optim.AdamW(groups, lr=lr, eps=eps)


def lr_factor(step: int, total_steps: int, warmup_fraction: float, schedule: str) -> float:
    """Multiplier of each group's learning rate at an optimizer step."""
    warmup = int(round(warmup_fraction * total_steps))
    if step < warmup:
        return step / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    if schedule == "cosine_decay":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "polynomial_decay":
        return (1.0 - progress) ** 2
    return 1.0 - progress


def build_scheduler(optimizer, total_steps: int, config: Config):
    warmup = config["optimization.warmup_steps"]
    schedule = config["optimization.lr_schedule"]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, warmup, schedule))
