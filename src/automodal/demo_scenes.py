"""Generated scenes whose answer is known, for the detection and segmentation demos (and the tests): squares and
discs on noise, with their boxes and masks; a COCO file of them; and small networks that train on them offline,
since no pretrained detector or Segment Anything weights come with the package."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
from PIL import Image
from transformers import SamConfig, SamModel

SHAPES = ("square", "disc")


def _draw(canvas: np.ndarray, mask: np.ndarray, shape: str, x: int, y: int, size: int, color, value: int):
    rows, cols = np.ogrid[:canvas.shape[0], :canvas.shape[1]]
    if shape == "square":
        inside = (rows >= y) & (rows < y + size) & (cols >= x) & (cols < x + size)
    else:
        r = size / 2
        inside = (rows - (y + r - 0.5)) ** 2 + (cols - (x + r - 0.5)) ** 2 <= r * r
    canvas[inside] = color
    mask[inside] = value


def shape_images(directory: str, count: int, size: int = 64, seed: int = 0, max_objects: int = 2,
                 empty_every: int = 0) -> pd.DataFrame:
    """Images with 1..max_objects non-overlapping shapes: columns image, rois ([[x1, y1, x2, y2, class]]),
    mask (a class-index PNG: 0 background, 1 square, 2 disc) and binary_mask ({0, 255}: any shape).
    Every `empty_every`-th image has no shape."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    rows = []
    for i in range(count):
        canvas = rng.integers(0, 90, size=(size, size, 3)).astype(np.uint8)
        mask = np.zeros((size, size), dtype=np.uint8)
        rois = []
        objects = 0 if empty_every and i % empty_every == empty_every - 1 else rng.integers(1, max_objects + 1)
        half = size // 2
        cells = rng.permutation(4)[:objects]          # one object per quadrant: no overlap
        for cell in cells:
            side = int(rng.integers(size // 5, half - 4))
            x = int((cell % 2) * half + rng.integers(0, half - side))
            y = int((cell // 2) * half + rng.integers(0, half - side))
            shape = SHAPES[int(rng.integers(0, 2))]
            color = rng.integers(150, 256, size=3)
            _draw(canvas, mask, shape, x, y, side, color, SHAPES.index(shape) + 1)
            rois.append([x, y, x + side, y + side, shape])
        image_path = os.path.join(directory, f"image{i}.png")
        mask_path = os.path.join(directory, f"mask{i}.png")
        binary_path = os.path.join(directory, f"binary{i}.png")
        Image.fromarray(canvas).save(image_path)
        Image.fromarray(mask).save(mask_path)
        Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(binary_path)
        rows.append({"image": image_path, "rois": rois, "mask": mask_path, "binary_mask": binary_path})
    return pd.DataFrame(rows)


def write_coco(frame: pd.DataFrame, path: str) -> str:
    """The scenes' boxes as a COCO json file (image paths relative to its folder)."""
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(sorted(SHAPES))]
    ids = {c["name"]: c["id"] for c in categories}
    images, annotations = [], []
    folder = os.path.dirname(os.path.abspath(path))
    for index, row in enumerate(frame.itertuples()):
        with Image.open(row.image) as image:
            width, height = image.size
        images.append({"id": index, "file_name": os.path.relpath(row.image, folder), "width": width,
                       "height": height})
        for x1, y1, x2, y2, name in row.rois:
            annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": ids[name],
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, handle)
    return path


def small_detector(directory: str, size: int = 64) -> str:
    """A local detector checkpoint: FCOS on a narrow convolutional backbone, resizing images to `size` pixels."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "detector.json"), "w", encoding="utf-8") as handle:
        json.dump({"architecture": "fcos_resnet50_fpn", "backbone_channels": [16, 32, 64], "min_size": size,
                   "max_size": size}, handle)
    return directory


def small_sam(directory: str, image_size: int = 64, patch_size: int = 4) -> str:
    """A 2-layer SAM of width 32, saved as save_pretrained() writes it. 4-pixel patches give a 16x16 embedding of a
    64-pixel image (a real SAM: 64x64 of 1024), fine enough for a frozen random encoder to place disc edges. The
    encoder's initializer_range is set: SamVisionConfig's default (1e-10) makes a random encoder that outputs
    nothing but its biases."""
    config = SamConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=image_size,
                           patch_size=patch_size, output_channels=32, mlp_dim=64, window_size=4,
                           global_attn_indexes=[1], num_pos_feats=16, initializer_range=0.02),
        prompt_encoder_config=dict(hidden_size=32, image_size=image_size, patch_size=patch_size,
                                   mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32))
    SamModel(config).save_pretrained(directory)
    return directory
