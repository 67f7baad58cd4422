"""The segmentation network: transformers' SamModel run without prompts, its mask decoder turned into a per-pixel
classifier, and which of its parameters train.

Without prompts, SAM's mask decoder attends from its output tokens (one IoU token, num_mask_tokens mask tokens) to
the image embedding plus the prompt encoder's "no mask" embedding; each mask token yields one mask at 4x the
embedding's resolution (S/4 for 16-pixel patches), which is scaled up to S x S here.

Each mask token stands for one output channel, as the class embeddings of Segmenter (Strudel et al., 2021):
binary with 1 token returns that mask's logits (B, 1, S, S); C classes with C tokens return (B, C, S, S), token c
scoring class c. Unless the user sets model.sam.num_mask_tokens, a multi-class fit gets one token per class.
With another number of tokens, a 1x1 convolution (class_head, starting as the identity on the first tokens)
mixes the token masks into the output channels.

A MaskFormer-style head (each token's output -> class probabilities, pixel score of class c = sum over tokens of
p_token(c) * sigmoid(mask)) was measured first: trained on these per-pixel scores without MaskFormer's bipartite
matching, all tokens start alike and stay alike, and 3-class discs never left the all-background prediction
(mean IoU 0.25 after 200 steps), while one token per class reached 0.88 on the same steps.

The decoder pass is written out here (from the decoder's own modules) because SamMaskDecoder.forward returns
either the first mask or all the others, never all of them."""

from __future__ import annotations

import glob
import logging
import os

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from ...errors import ConfigError
from ...models.checkpoints import quiet_loading, resolve_hf_checkpoint
from ...training.finetune import ADAPTER_MARKERS, is_norm
from .transforms import pixel_statistics

logger = logging.getLogger("automodal")

NETWORK = "sam"
CHECKPOINT_KEY, TOKENS_KEY, FINETUNE_KEY = ("model.sam.checkpoint_name", "model.sam.num_mask_tokens",
                                            "optimization.efficient_finetune")
# AutoGluon's SAM fine-tuning: LoRA (rank 3, alpha 32) on the encoder's attention qkv projections, the mask decoder
# trained, the prompt encoder and IoU head frozen
DEFAULT_FINETUNE = "lora"
LORA_RANK, LORA_ALPHA = 3, 32
ADAPTED = "attn.qkv"                 # the encoder modules that get adapters
TRAINED = ("sam.mask_decoder.", "class_head.")
# never used without prompts, so never given a gradient (a DDP run would stop at them): always frozen
UNUSED = ("sam.prompt_encoder.", "sam.mask_decoder.iou_prediction_head.")
USED_PROMPT = "sam.prompt_encoder.no_mask_embed."


def resolve_finetune(method: str | None, user_set: bool, untrained: bool = False) -> str | None:
    """optimization.efficient_finetune for a segmentation fit: AutoGluon's default (LoRA) unless the user chose, or
    None (everything trains) for an encoder without trained weights: it has nothing pretrained to keep, and
    low-rank adapters at a fine-tuning learning rate leave its features close to random."""
    if user_set:
        return method
    return None if untrained else DEFAULT_FINETUNE


def _encoder_norms(directory: str):
    """(name, tensor) of the image encoder's normalisation weights and biases in the checkpoint's weight files,
    reading only those tensors."""
    for path in sorted(glob.glob(os.path.join(directory, "*.safetensors"))):
        with safe_open(path, "pt") as weights:
            for name in weights.keys():
                if _is_encoder_norm(name):
                    yield name, weights.get_tensor(name)
    for path in sorted(glob.glob(os.path.join(directory, "*.bin"))):
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        yield from ((name, value) for name, value in state.items() if _is_encoder_norm(name))


def _is_encoder_norm(name: str) -> bool:
    parts = name.split(".")
    return "vision_encoder" in parts and len(parts) > 1 and "norm" in parts[-2] and parts[-1] in ("weight", "bias")


def untrained_encoder(directory: str) -> bool:
    """Whether the checkpoint's image encoder holds no trained weights: every normalisation layer at its initial
    values (weights 1, biases 0), as a randomly initialised SamModel saves them. Training moves them, so a
    pretrained encoder never passes; a checkpoint whose weights this cannot read counts as trained."""
    found = False
    for name, value in _encoder_norms(directory):
        found = True
        if not torch.all(value == (1.0 if name.endswith("weight") else 0.0)):
            return False
    return found


def resolve_mask_tokens(value: int, num_classes: int, user_set: bool) -> int:
    """model.sam.num_mask_tokens for this data: one token per class for multi-class unless the user chose."""
    if num_classes <= 2:
        return int(value)
    if not user_set:
        if value < num_classes:
            logger.info("%s: %d mask tokens, one per class, instead of %d; set the key to choose.", TOKENS_KEY,
                        num_classes, value)
        return max(int(value), num_classes)
    if value < num_classes:
        logger.warning("%s=%d is fewer than the %d classes: each class's logits are then a mix of the %d token "
                       "masks, which separates the classes less well than one token per class.", TOKENS_KEY, value,
                       num_classes, value)
    return int(value)


def sam_architecture(config, num_classes: int, tokens_user_set: bool, finetune_user_set: bool) -> dict:
    """Everything build_network needs, as JSON data: the checkpoint's SamConfig (read from its config.json only)
    with the decoder's token count applied, the classes, the fine-tuning method and the pixel statistics; "chosen"
    says why everything trains when the encoder has no trained weights."""
    from transformers import SamConfig

    name = config[CHECKPOINT_KEY]
    directory = resolve_hf_checkpoint(name, CHECKPOINT_KEY)
    found = SamConfig.get_config_dict(directory)[0].get("model_type")
    if found != "sam":
        raise ConfigError(f"{CHECKPOINT_KEY}: '{name}' is not a Segment Anything checkpoint (its config.json says "
                          f"model_type {found!r}, not 'sam'). Set it to a SAM checkpoint such as "
                          "facebook/sam-vit-base, or a directory that SamModel.save_pretrained() wrote.")
    sam_config = SamConfig.from_pretrained(directory).to_dict()
    tokens = resolve_mask_tokens(config[TOKENS_KEY], num_classes, tokens_user_set)
    sam_config["mask_decoder_config"]["num_multimask_outputs"] = tokens - 1
    mean, std = pixel_statistics(directory)
    image_size = sam_config["vision_config"]["image_size"]
    untrained = not finetune_user_set and untrained_encoder(directory)
    chosen = {}
    if untrained:
        reason = (f"the image encoder of '{name}' holds no trained weights (its normalisation layers hold their "
                  f"initial values): it has nothing pretrained for {DEFAULT_FINETUNE} adapters to keep, so the whole "
                  "network trains")
        logger.warning("%s: %s. Set %s to choose.", CHECKPOINT_KEY, reason, FINETUNE_KEY)
        chosen[FINETUNE_KEY] = (None, reason)
    return {"network": NETWORK, "checkpoint_name": name, "sam_config": sam_config, "num_classes": int(num_classes),
            "num_mask_tokens": tokens,
            "efficient_finetune": resolve_finetune(config[FINETUNE_KEY], finetune_user_set, untrained),
            "image_size": int(image_size[0] if isinstance(image_size, (list, tuple)) else image_size),
            "image_mean": mean, "image_std": std, "chosen": chosen}


def prepare(net: "SegmentationNet", architecture: dict) -> "SegmentationNet":
    return apply_finetune(net, architecture["efficient_finetune"])


def build_network(architecture: dict, pretrained: bool) -> "SegmentationNet":
    """The network of an architecture dict: with `pretrained`, SAM's weights come from the checkpoint; without,
    from nothing (the caller restores saved weights after apply_finetune). Adapters are not inserted here."""
    from transformers import SamConfig, SamModel

    if pretrained:
        directory = resolve_hf_checkpoint(architecture["checkpoint_name"], CHECKPOINT_KEY)
        with quiet_loading():
            sam = SamModel.from_pretrained(directory, dtype=torch.float32)   # trained weights stay 32-bit
        set_mask_tokens(sam, architecture["num_mask_tokens"])
    else:
        sam = SamModel(SamConfig.from_dict(architecture["sam_config"]))
    return SegmentationNet(sam, architecture["num_classes"])


def set_mask_tokens(sam, count: int):
    """Give the mask decoder `count` mask tokens. Weights keep what fits their new shape (the first tokens, their
    hypernetwork MLPs, the first rows of the IoU head's last layer); the rest start from random."""
    decoder_config = sam.config.mask_decoder_config
    if decoder_config.num_multimask_outputs + 1 == count:
        return
    old = sam.mask_decoder
    decoder_config.num_multimask_outputs = count - 1
    new = type(old)(decoder_config)
    source, state, fresh = old.state_dict(), {}, []
    for name, value in new.state_dict().items():
        if name in source and source[name].shape == value.shape:
            state[name] = source[name]
            continue
        if name in source and source[name].dim() == value.dim():
            overlap = tuple(slice(0, min(a, b)) for a, b in zip(source[name].shape, value.shape))
            value = value.clone()
            value[overlap] = source[name][overlap]
        fresh.append(name)
        state[name] = value
    new.load_state_dict(state)
    reference = next(old.parameters())
    sam.mask_decoder = new.to(device=reference.device, dtype=reference.dtype)
    logger.info("%s=%d: the mask decoder gets %d mask token(s) instead of the checkpoint's %d; %d weight tensor(s) "
                "of a new shape keep what overlaps the checkpoint's and start from random elsewhere.", TOKENS_KEY,
                count, count, len(source["mask_tokens.weight"]), len(fresh))


def apply_finetune(net: "SegmentationNet", method: str | None) -> "SegmentationNet":
    """Insert LoRA / IA3 adapters into the encoder's attention qkv projections when the method asks for them, then
    choose what trains: the mask decoder and class head always; None trains everything, bit_fit / *_bias add all
    biases, norm_fit / *_norm biases and normalisation layers (the methods' meaning elsewhere in automodal)."""
    if method and method.startswith(("lora", "ia3")):
        from peft import IA3Config, LoraConfig, inject_adapter_in_model

        encoder = net.sam.vision_encoder
        targets = [name for name, _ in encoder.named_modules() if name.endswith(ADAPTED)]
        if method.startswith("lora"):
            adapter = LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, target_modules=targets, lora_dropout=0.0)
        else:
            adapter = IA3Config(target_modules=targets, feedforward_modules=[])
        inject_adapter_in_model(adapter, encoder)
    train_norm = method is not None and (method == "norm_fit" or method.endswith("_norm"))
    train_bias = train_norm or (method is not None and (method == "bit_fit" or method.endswith("_bias")))
    norms = {id(p) for m in net.modules() if is_norm(m) for p in m.parameters()}
    for name, param in net.named_parameters():
        if name.startswith(UNUSED) and not name.startswith(USED_PROMPT):
            param.requires_grad = False
        elif method is None:
            param.requires_grad = True
        else:
            param.requires_grad = (name.startswith(TRAINED) or any(m in name for m in ADAPTER_MARKERS)
                                   or (train_bias and name.endswith("bias")) or (train_norm and id(param) in norms))
    return net


class SegmentationNet(nn.Module):
    """SamModel without prompts -> per-pixel logits at the encoder's input size."""

    def __init__(self, sam, num_classes: int):
        super().__init__()
        self.sam = sam
        self.num_classes = int(num_classes)
        outputs = 1 if self.num_classes <= 2 else self.num_classes
        tokens = sam.mask_decoder.num_mask_tokens
        self.class_head = None
        if tokens != outputs:
            self.class_head = nn.Conv2d(tokens, outputs, kernel_size=1)
            with torch.no_grad():
                self.class_head.weight.zero_()
                self.class_head.bias.zero_()
                for i in range(min(tokens, outputs)):
                    self.class_head.weight[i, i] = 1.0
        size = sam.config.vision_config.image_size
        self.image_size = int(size[0] if isinstance(size, (list, tuple)) else size)

    def decode(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Image embeddings (B, D, h, w) -> mask logits (B, tokens, 4h, 4w)."""
        sam, decoder = self.sam, self.sam.mask_decoder
        batch, channels, height, width = embeddings.shape
        tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight]).expand(batch, 1, -1, -1)
        image = embeddings + sam.prompt_encoder.no_mask_embed.weight.view(1, -1, 1, 1)
        position = sam.get_image_wide_positional_embeddings().expand(batch, -1, -1, -1)
        queries, keys = decoder.transformer(point_embeddings=tokens, image_embeddings=image,
                                            image_positional_embeddings=position, attention_similarity=None)
        outputs = queries[:, 0, 1:]
        image = keys[:, 0].transpose(1, 2).reshape(batch, channels, height, width)
        upscaled = decoder.activation(decoder.upscale_layer_norm(decoder.upscale_conv1(image)))
        upscaled = decoder.activation(decoder.upscale_conv2(upscaled))
        weights = torch.stack([mlp(outputs[:, i]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], 1)
        return torch.einsum("bkc,bchw->bkhw", weights, upscaled)

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Segment Anything's image embedding, averaged over the image."""
        return self.sam.vision_encoder(pixel_values).last_hidden_state.mean(dim=(2, 3))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values (B, 3, S, S) -> logits (B, 1, S, S) for binary, (B, C, S, S) for C classes."""
        logits = self.decode(self.sam.vision_encoder(pixel_values).last_hidden_state)
        if self.class_head is not None:
            logits = self.class_head(logits)
        return F.interpolate(logits, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
