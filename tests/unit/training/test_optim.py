"""Parameter groups, optimisers and learning-rate schedules (automodal.training.optim) on built networks."""

import math

import pytest
import torch
from torch import nn

from automodal.config import resolve_config
from automodal.models.net import build_net
from automodal.training.finetune import apply_efficient_finetune
from automodal.training.optim import build_optimizer, build_scheduler, lr_factor, param_groups

LR = 0.01

# numerical_mlp with 3 blocks and categorical_mlp with 1 block, fused by a 1-block fusion MLP:
#   head: depth 0; fusion block: depth 1;
#   numerical blocks 2, 1, 0: depths 2, 3, 4 (nearest the fusion first), its periodic embedding: depth 5;
#   categorical block 0: depth 2, its embeddings: depth 3.
MIXED = {"backbones": ["categorical_mlp", "numerical_mlp"], "fusion": "fusion_mlp",
         "inputs": {"num_numerical": 3, "num_categories": [4, 5]}, "num_outputs": 2}
EXPECTED_DEPTH = {
    "head.": 0,
    "fusion.blocks.0.": 1,
    "backbones.numerical_mlp.blocks.2.": 2,
    "backbones.numerical_mlp.blocks.1.": 3,
    "backbones.numerical_mlp.blocks.0.": 4,
    "backbones.numerical_mlp.embedding.": 5,
    "backbones.categorical_mlp.blocks.0.": 2,
    "backbones.categorical_mlp.embeddings.": 3,
}


def config(**overrides):
    return resolve_config(hyperparameters={"optimization.learning_rate": LR, "model.numerical_mlp.num_layers": 3,
                                           **overrides})


def mixed_net(cfg):
    torch.manual_seed(0)
    return build_net(MIXED, cfg)


def lr_by_name(groups) -> dict:
    return {name: group["lr"] for group in groups for name in group["names"]}


def weight_decay_by_name(groups) -> dict:
    return {name: group["weight_decay"] for group in groups for name in group["names"]}


def expected_depth(name: str) -> int:
    matches = [depth for prefix, depth in EXPECTED_DEPTH.items() if name.startswith(prefix)]
    assert len(matches) == 1, name
    return matches[0]


def test_groups_cover_every_trainable_parameter_exactly_once():
    cfg = config()
    net = mixed_net(cfg)
    groups = param_groups(net, cfg)
    grouped = [id(p) for group in groups for p in group["params"]]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {id(p) for p in net.parameters()}
    for group in groups:
        named = dict(net.named_parameters())
        assert [id(named[n]) for n in group["names"]] == [id(p) for p in group["params"]]


@pytest.mark.parametrize("lr_decay", [0.5, 0.9])
def test_layerwise_decay_gives_depth_d_the_rate_lr_times_decay_to_the_d(lr_decay):
    cfg = config(**{"optimization.lr_choice": "layerwise_decay", "optimization.lr_decay": lr_decay})
    groups = param_groups(mixed_net(cfg), cfg)
    rates = lr_by_name(groups)
    for name, lr in rates.items():
        assert lr == pytest.approx(LR * lr_decay ** expected_depth(name)), name
    assert rates["head.weight"] == pytest.approx(LR)          # the head gets exactly the learning rate
    assert max(rates.values()) == pytest.approx(LR)
    assert min(rates.values()) == pytest.approx(LR * lr_decay ** 5)
    # Rates differ by depth here, so each group holds one depth.
    for group in groups:
        assert len({expected_depth(n) for n in group["names"]}) == 1


@pytest.mark.parametrize("overrides", [{"optimization.lr_decay": 1}, {"optimization.lr_choice": ""}])
def test_groups_whose_settings_agree_are_merged(overrides):
    """Each group costs the optimiser a pass per step: one rate gives one group with decay and one without."""
    groups = param_groups(mixed_net(config(**overrides)), config(**overrides))
    assert sorted(g["weight_decay"] for g in groups) == [0.0, config()["optimization.weight_decay"]]
    assert {g["lr"] for g in groups} == {LR}


def test_layerwise_decay_on_a_single_backbone_counts_layers_from_the_head():
    """Layer i of n gets lr * lr_decay^(n - i): the first of three blocks is three layers from the head."""
    cfg = config(**{"optimization.lr_decay": 0.5})
    arch = {"backbones": ["numerical_mlp"], "fusion": None, "inputs": {"num_numerical": 3, "num_categories": []},
            "num_outputs": 1}
    rates = lr_by_name(param_groups(build_net(arch, cfg), cfg))
    n = 3
    for i in range(n):   # block i (0-based) is layer i + 1 of n
        assert rates[f"backbones.numerical_mlp.blocks.{i}.0.weight"] == pytest.approx(LR * 0.5 ** (n - i))
    assert rates["head.weight"] == rates["head.bias"] == pytest.approx(LR)


def test_layerwise_decay_of_one_is_uniform():
    cfg = config(**{"optimization.lr_decay": 1})
    rates = lr_by_name(param_groups(mixed_net(cfg), cfg)).values()
    assert all(lr == pytest.approx(LR) for lr in rates)


def test_layerwise_decay_on_ft_transformer_is_monotone_in_depth():
    cfg = config(**{"optimization.lr_decay": 0.8, "model.ft_transformer.num_blocks": 2,
                    "model.ft_transformer.token_dim": 8, "model.ft_transformer.hidden_size": 16,
                    "model.ft_transformer.ffn_hidden_size": 16})
    arch = {"backbones": ["numerical_transformer"], "fusion": None,
            "inputs": {"num_numerical": 3, "num_categories": []}, "num_outputs": 2}
    rates = lr_by_name(param_groups(build_net(arch, cfg), cfg))
    trunk = "backbones.numerical_transformer.trunk."
    head = rates["head.weight"]
    final_norm = rates[trunk + "final_norm.weight"]
    last_block = rates[trunk + "blocks.1.linear1.weight"]
    first_block = rates[trunk + "blocks.0.linear1.weight"]
    tokenizer = rates["backbones.numerical_transformer.tokenizer.weight"]
    assert head == pytest.approx(LR)
    assert final_norm == pytest.approx(LR * 0.8)
    assert last_block == pytest.approx(LR * 0.8 ** 2)
    assert first_block == pytest.approx(LR * 0.8 ** 3)
    assert head > final_norm > last_block > first_block > tokenizer


@pytest.mark.parametrize("lr_mult", [1, 10])
def test_two_stages_gives_the_head_lr_times_lr_mult_and_the_rest_lr(lr_mult):
    cfg = config(**{"optimization.lr_choice": "two_stages", "optimization.lr_mult": lr_mult})
    rates = lr_by_name(param_groups(mixed_net(cfg), cfg))
    for name, lr in rates.items():
        expected = LR * lr_mult if name.startswith("head.") else LR
        assert lr == pytest.approx(expected), name


def test_empty_lr_choice_gives_one_rate():
    cfg = config(**{"optimization.lr_choice": "", "optimization.lr_decay": 0.5, "optimization.lr_mult": 10})
    groups = param_groups(mixed_net(cfg), cfg)
    assert {group["lr"] for group in groups} == {LR}


def test_biases_and_norms_get_no_weight_decay_and_weights_get_it():
    cfg = config(**{"optimization.weight_decay": 0.05})
    net = mixed_net(cfg)
    decays = weight_decay_by_name(param_groups(net, cfg))
    norm_params = {f"{module_name}.{param_name}" for module_name, module in net.named_modules()
                   if isinstance(module, nn.LayerNorm) for param_name, _ in module.named_parameters()}
    linear_weights = {f"{module_name}.weight" for module_name, module in net.named_modules()
                      if isinstance(module, nn.Linear)}
    assert norm_params and linear_weights
    for name, decay in decays.items():
        if name.endswith("bias") or name in norm_params:
            assert decay == 0.0, name
        else:
            assert decay == 0.05, name
    assert all(decays[name] == 0.05 for name in linear_weights)
    assert all(decays[name] == 0.05 for name in decays if "embeddings" in name)


def test_frozen_parameters_are_left_out_of_the_groups():
    cfg = config()
    net = apply_efficient_finetune(mixed_net(cfg), "bit_fit")
    names = set(lr_by_name(param_groups(net, cfg)))
    assert names == {n for n, p in net.named_parameters() if p.requires_grad}
    assert all(n.endswith("bias") or n.startswith("head.") for n in names)
    assert "fusion.blocks.0.0.weight" not in names


@pytest.mark.parametrize("optim_type, cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                                             ("adamw", torch.optim.AdamW)])
def test_optim_type_builds_that_optimizer_and_keeps_group_rates(optim_type, cls):
    cfg = config(**{"optimization.optim_type": optim_type, "optimization.lr_decay": 0.5,
                    "optimization.weight_decay": 0.01})
    groups = param_groups(mixed_net(cfg), cfg)
    optimizer = build_optimizer(groups, cfg)
    assert type(optimizer) is cls          # AdamW subclasses Adam: check the exact class
    assert [g["lr"] for g in optimizer.param_groups] == [g["lr"] for g in groups]
    assert [g["weight_decay"] for g in optimizer.param_groups] == [g["weight_decay"] for g in groups]
    if optim_type == "sgd":
        assert optimizer.param_groups[0]["momentum"] == 0.9


# ---------------------------------------------------------------- schedules

SCHEDULES = ("cosine_decay", "polynomial_decay", "linear_decay")
TOTAL = 200


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_warmup_rises_linearly_then_decays_to_zero(schedule):
    warmup = int(0.1 * TOTAL)
    factors = [lr_factor(step, TOTAL, 0.1, schedule) for step in range(TOTAL + 1)]
    rising = factors[:warmup + 1]
    assert factors[0] == 0.0  # the seed: warm up from 0
    assert all(b > a for a, b in zip(rising, rising[1:]))
    steps = [b - a for a, b in zip(rising, rising[1:])]
    assert max(steps) == pytest.approx(min(steps))        # linear
    assert factors[warmup] == pytest.approx(1.0)         # the peak is the full learning rate
    decaying = factors[warmup:]
    assert all(b <= a for a, b in zip(decaying, decaying[1:]))
    assert factors[TOTAL - 1] < 0.02
    assert factors[TOTAL] == pytest.approx(0.0, abs=1e-12)
    assert all(0.0 <= f <= 1.0 for f in factors)


def test_no_warmup_starts_at_the_full_rate():
    for schedule in SCHEDULES:
        assert lr_factor(0, TOTAL, 0.0, schedule) == 1.0


def test_the_three_schedules_follow_their_curves_after_warmup():
    warmup = int(0.1 * TOTAL)

    def at(progress, schedule):
        return lr_factor(warmup + int(progress * (TOTAL - warmup)), TOTAL, 0.1, schedule)

    # Midpoint: cosine and linear both sit at 0.5 by construction; the polynomial (squared) curve is at 0.25.
    assert at(0.5, "cosine_decay") == pytest.approx(0.5)
    assert at(0.5, "linear_decay") == pytest.approx(0.5)
    assert at(0.5, "polynomial_decay") == pytest.approx(0.25)
    # Quarter points separate all three.
    for progress in (0.25, 0.75):
        cosine = at(progress, "cosine_decay")
        linear = at(progress, "linear_decay")
        poly = at(progress, "polynomial_decay")
        assert cosine == pytest.approx(0.5 * (1 + math.cos(math.pi * progress)))
        assert linear == pytest.approx(1 - progress)
        assert poly == pytest.approx((1 - progress) ** 2)
        assert len({round(cosine, 6), round(linear, 6), round(poly, 6)}) == 3
    assert at(0.25, "cosine_decay") > at(0.25, "linear_decay") > at(0.25, "polynomial_decay")
    assert at(0.75, "linear_decay") > at(0.75, "cosine_decay") > at(0.75, "polynomial_decay")


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_scheduler_scales_every_group_and_keeps_their_ratios(schedule):
    cfg = config(**{"optimization.lr_schedule": schedule, "optimization.warmup_steps": 0.2,
                    "optimization.lr_decay": 0.5, "optimization.optim_type": "sgd"})
    net = mixed_net(cfg)
    groups = param_groups(net, cfg)
    base = [g["lr"] for g in groups]
    optimizer = build_optimizer(groups, cfg)
    total = 50
    scheduler = build_scheduler(optimizer, total, cfg)
    seen = []
    for step in range(total):
        current = [g["lr"] for g in optimizer.param_groups]
        factor = lr_factor(step, total, 0.2, schedule)
        assert current == pytest.approx([b * factor for b in base])
        seen.append(current[0] / base[0])
        optimizer.step()
        scheduler.step()
    peak = seen.index(max(seen))
    assert peak == 10                                   # the warmup takes 20% of the 50 steps
    assert seen[0] < seen[5] < seen[peak]
    assert seen[-1] < 0.05
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.0] * len(base), abs=1e-12)
