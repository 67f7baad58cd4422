"""A tiny random Segment Anything checkpoint, and generated noise images with disc (and square) masks."""

import numpy as np

IMAGE_SIZE = 64


def build_sam_checkpoint(directory: str, image_size: int = IMAGE_SIZE, patch_size: int = 4) -> str:
    """A 2-layer SAM of width 32, saved as save_pretrained() writes it. 4-pixel patches give a 16x16 embedding of a
    64-pixel image (a real SAM: 64x64 of 1024), fine enough for a frozen random encoder to place disc edges. The
    encoder's initializer_range is set: SamVisionConfig's default (1e-10) makes a random encoder that outputs
    nothing but its biases."""
    from transformers import SamConfig, SamModel

    config = SamConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=image_size,
                           patch_size=patch_size, output_channels=32, mlp_dim=64, window_size=4,
                           global_attn_indexes=[1], num_pos_feats=16, initializer_range=0.02),
        prompt_encoder_config=dict(hidden_size=32, image_size=image_size, patch_size=patch_size,
                                   mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32))
    SamModel(config).save_pretrained(directory)
    return directory


def disc_images(count: int, size: int = IMAGE_SIZE, classes: int = 2, seed: int = 0):
    """Noise images (uint8 RGB) with one bright disc each (and, for 3 classes, a dark square) and their class
    index masks."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:size, :size]
    images, masks = [], []
    for _ in range(count):
        image = rng.normal(110, 30, (size, size, 3))
        mask = np.zeros((size, size), np.int64)
        radius = rng.uniform(size * 0.2, size * 0.3)
        cy, cx = rng.uniform(radius, size - radius, 2)
        disc = (rows - cy) ** 2 + (columns - cx) ** 2 <= radius ** 2
        image[disc] += 90
        mask[disc] = 1
        if classes == 3:
            side = int(size * 0.25)
            top, left = rng.integers(0, size - side, 2)
            square = np.zeros_like(disc)
            square[top:top + side, left:left + side] = True
            square &= ~disc
            image[square] -= 90
            mask[square] = 2
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        masks.append(mask)
    return images, masks
