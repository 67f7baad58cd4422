"""Generated noise images with disc (and square) masks."""

import numpy as np

IMAGE_SIZE = 64


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
