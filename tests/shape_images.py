"""Generated images of known shapes on noise, with their boxes and masks, for detection and segmentation tests."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from PIL import Image

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
