"""The SAM network from a tiny checkpoint saved to disk: its outputs, its mask tokens, what trains, and rebuilding
it from the architecture alone."""

import json
import logging

import numpy as np
import pytest
import torch
from segmentation_samples import disc_images
from safetensors.torch import load_file, save_file

from automodal.config import Config, default_flat
from automodal.errors import CheckpointNotFoundError, ConfigError
from automodal.learners.segmentation.loss import segmentation_loss
from automodal.learners.segmentation.metrics import iou
from automodal.learners.segmentation.sam import apply_finetune, build_network, sam_architecture, untrained_encoder
from automodal.learners.segmentation.transforms import SegmentationTransforms
from automodal.training.soup import state_to_cpu

TOKENS, FINETUNE = "model.sam.num_mask_tokens", "optimization.efficient_finetune"


def config(checkpoint, **overrides):
    overrides = {k.replace("__", "."): v for k, v in overrides.items()}
    return Config({**default_flat(), "model.sam.checkpoint_name": checkpoint, **overrides}, explicit=overrides)


def network(cfg, num_classes=2):
    architecture = sam_architecture(cfg, num_classes, cfg.chosen(TOKENS), cfg.chosen(FINETUNE))
    net = build_network(architecture, pretrained=True)
    return apply_finetune(net, architecture["efficient_finetune"]), architecture


def batch(architecture, count=4, classes=2, seed=0, training=False):
    transforms = SegmentationTransforms(architecture["image_size"], architecture["image_mean"],
                                        architecture["image_std"])
    images, masks = disc_images(count, architecture["image_size"], classes, seed)
    pairs = [transforms(image, mask, training) for image, mask in zip(images, masks)]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def test_the_decoder_pass_is_sams_own_without_prompts(sam_checkpoint):
    net, architecture = network(config(sam_checkpoint))
    pixels, _ = batch(architecture, 2)
    with torch.no_grad():
        ours = net.decode(net.sam.vision_encoder(pixels).last_hidden_state)
        sams = net.sam(pixel_values=pixels, multimask_output=False).pred_masks[:, 0]
        logits = net(pixels)
    assert torch.allclose(ours, sams, atol=1e-5)
    assert logits.shape == (2, 1, 64, 64)


def test_lora_adapts_encoder_qkv_plus_the_decoder_and_it_learns_a_disc(sam_checkpoint):
    torch.manual_seed(0)
    net, architecture = network(config(sam_checkpoint, optimization__efficient_finetune="lora"))
    assert architecture["efficient_finetune"] == "lora"
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("sam.mask_decoder.") or ".attn.qkv.lora_" in name for name in trainable)
    assert not any("iou_prediction_head" in name for name in trainable)
    assert {p.shape[0] for n, p in net.named_parameters() if "lora_A" in n} == {3}
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    steps = 200
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    for step in range(steps):
        pixels, masks = batch(architecture, seed=100 + step, training=True)
        loss = segmentation_loss(net(pixels), masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    pixels, masks = batch(architecture, 16, seed=1)
    with torch.no_grad():
        predicted = (net(pixels)[:, 0] > 0).long()
    assert iou(predicted.numpy(), masks.numpy()) >= 0.9
    for name, p in net.named_parameters():
        if name in trainable and ("lora_B" in name or "output_hypernetworks" in name):
            assert not torch.equal(p, before[name]), name
        elif name not in trainable:
            assert torch.equal(p, before[name]), name


def test_an_encoder_without_trained_weights_trains_whole_unless_the_user_chose(sam_checkpoint, tmp_path, caplog):
    assert untrained_encoder(sam_checkpoint)
    with caplog.at_level(logging.WARNING, logger="automodal"):
        net, architecture = network(config(sam_checkpoint))
    assert architecture["efficient_finetune"] is None
    assert architecture["chosen"][FINETUNE][0] is None and "no trained weights" in architecture["chosen"][FINETUNE][1]
    assert [r.levelname for r in caplog.records].count("WARNING") == 1 and "whole network trains" in caplog.text
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    assert any(name.startswith("sam.vision_encoder.") for name in trainable)
    assert not any("lora_" in name for name, _ in net.named_parameters())
    _, chosen = network(config(sam_checkpoint, optimization__efficient_finetune="lora"))
    assert chosen["efficient_finetune"] == "lora" and not chosen["chosen"]
    # an encoder whose normalisation layers moved in training keeps AutoGluon's default
    trained = tmp_path / "trained"
    trained.mkdir()
    state = load_file(f"{sam_checkpoint}/model.safetensors")
    state["vision_encoder.layers.0.layer_norm1.weight"] = state["vision_encoder.layers.0.layer_norm1.weight"] * 1.1
    save_file(state, str(trained / "model.safetensors"))
    (trained / "config.json").write_text(open(f"{sam_checkpoint}/config.json").read())
    assert not untrained_encoder(str(trained))
    assert network(config(str(trained)))[1]["efficient_finetune"] == "lora"


def test_num_mask_tokens_sets_the_decoders_tokens(sam_checkpoint, caplog):
    from transformers import SamModel

    pretrained_tokens = SamModel.from_pretrained(sam_checkpoint).mask_decoder.mask_tokens.weight
    with caplog.at_level(logging.INFO, logger="automodal"):
        net, _ = network(config(sam_checkpoint))
    assert net.sam.mask_decoder.mask_tokens.weight.shape[0] == 1 and net.class_head is None
    assert torch.equal(net.sam.mask_decoder.mask_tokens.weight[0], pretrained_tokens[0])  # kept, not re-drawn
    assert "gets 1 mask token(s) instead of the checkpoint's 4" in caplog.text
    net, architecture = network(config(sam_checkpoint, model__sam__num_mask_tokens=3))
    assert net.sam.mask_decoder.num_mask_tokens == 3 and len(net.sam.mask_decoder.output_hypernetworks_mlps) == 3
    assert architecture["sam_config"]["mask_decoder_config"]["num_multimask_outputs"] == 2
    pixels, _ = batch(architecture, 2)
    assert net(pixels).shape == (2, 1, 64, 64)


def test_three_classes_train_end_to_end(sam_checkpoint, caplog):
    with caplog.at_level(logging.INFO, logger="automodal"):
        net, architecture = network(config(sam_checkpoint), num_classes=3)
    assert architecture["num_mask_tokens"] == 3 and "3 mask tokens, one per class, instead of 1" in caplog.text
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for step in range(15):
        pixels, masks = batch(architecture, classes=3, seed=step, training=True)
        logits = net(pixels)
        assert logits.shape == (4, 3, 64, 64)
        loss = segmentation_loss(logits, masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    with caplog.at_level(logging.WARNING, logger="automodal"):
        fewer, _ = network(config(sam_checkpoint, model__sam__num_mask_tokens=2), num_classes=3)
    assert "fewer than the 3 classes" in caplog.text
    assert fewer(pixels).shape == (4, 3, 64, 64)


def test_an_explicit_efficient_finetune_is_respected(sam_checkpoint):
    def trainable(**overrides):
        net, architecture = network(config(sam_checkpoint, **overrides))
        return {name for name, p in net.named_parameters() if p.requires_grad}, architecture

    everything, architecture = trainable(optimization__efficient_finetune=None)
    assert architecture["efficient_finetune"] is None
    assert any(name.startswith("sam.vision_encoder.layers.0.attn.qkv") for name in everything)
    assert not any("lora_" in name or "iou_prediction_head" in name for name in everything)
    assert "sam.prompt_encoder.no_mask_embed.weight" in everything
    biases, _ = trainable(optimization__efficient_finetune="bit_fit")
    encoder = [name for name in biases if name.startswith("sam.vision_encoder.")]
    assert encoder and all(name.endswith("bias") for name in encoder)
    scales, _ = trainable(optimization__efficient_finetune="ia3")
    assert all(".attn.qkv.ia3_l" in name for name in scales if name.startswith("sam.vision_encoder."))
    norms, _ = trainable(optimization__efficient_finetune="lora_norm")
    assert any("layer_norm1.weight" in name for name in norms) and any("lora_A" in name for name in norms)


def test_the_network_is_rebuilt_from_its_architecture_without_the_checkpoint(sam_checkpoint, tmp_path):
    net, architecture = network(config(sam_checkpoint, model__sam__num_mask_tokens=2), num_classes=3)
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.add_(0.01)            # trained weights differ from the checkpoint's
    save_file(state_to_cpu(net), str(tmp_path / "model.safetensors"))
    saved = json.loads(json.dumps(architecture))
    saved["checkpoint_name"] = str(tmp_path / "gone")   # never read
    again = apply_finetune(build_network(saved, pretrained=False), saved["efficient_finetune"])
    again.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    pixels, _ = batch(architecture, 2, classes=3)
    with torch.no_grad():
        assert torch.allclose(net.eval()(pixels), again.eval()(pixels), atol=1e-6)


def test_a_checkpoint_missing_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointNotFoundError, match=r"model\.sam\.checkpoint_name.*sam-vit-tiny-missing"):
        sam_architecture(config("facebook/sam-vit-tiny-missing"), 2, False, False)


def test_a_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37).save_pretrained(
        str(tmp_path))
    with pytest.raises(ConfigError, match=r"model\.sam\.checkpoint_name.*not a Segment Anything.*'bert'"):
        sam_architecture(config(str(tmp_path)), 2, False, False)
