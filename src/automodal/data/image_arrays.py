"""Image batches as NumPy arrays, for ONNX Runtime without torch: the named val transforms done on PIL images the
way torchvision does them (its PIL path calls the same PIL resampling), then the model's input size, scaling to
[0, 1] and normalisation, as image_transforms.ImageTransform does."""

from __future__ import annotations

import numpy as np

from ..errors import AutomodalError

PREDICTION_NAMES = ("resize_shorter_side", "center_crop", "resize_to_square")


def _filter(name: str):
    from PIL import Image

    filters = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "box": Image.BOX,
               "hamming": Image.HAMMING, "lanczos": Image.LANCZOS}
    return filters.get(name, Image.BICUBIC)


def resize(image, height: int, width: int, resample):
    return image if image.size == (width, height) else image.resize((width, height), resample)


def resize_shorter_side(image, target: int, resample):
    """The shorter side to `target`, the longer one in proportion (rounded down), as torchvision's Resize(int)."""
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = target, int(target * long / short)
    new_width, new_height = (new_short, new_long) if width <= height else (new_long, new_short)
    return resize(image, new_height, new_width, resample)


def center_crop(image, height: int, width: int):
    """As torchvision's CenterCrop: zero padding first when the crop is larger than the image."""
    from PIL import ImageOps

    image_width, image_height = image.size
    if height > image_height or width > image_width:
        left = (width - image_width) // 2 if width > image_width else 0
        top = (height - image_height) // 2 if height > image_height else 0
        right = (width - image_width + 1) // 2 if width > image_width else 0
        bottom = (height - image_height + 1) // 2 if height > image_height else 0
        image = ImageOps.expand(image, (left, top, right, bottom), fill=0)
        image_width, image_height = image.size
    top = int(round((image_height - height) / 2.0))
    left = int(round((image_width - width) / 2.0))
    return image.crop((left, top, left + width, top + height))


class ArrayTransform:
    """PIL image -> normalised float32 array (3, H, W) at the model's input size."""

    def __init__(self, names: list, data_config: dict, what: str):
        unknown = [n for n in names if not (isinstance(n, str) and n in PREDICTION_NAMES)]
        if unknown:
            raise AutomodalError(f"{what}'s val_transforms {unknown} are applied with torch; predicting without "
                                 f"torch knows {', '.join(PREDICTION_NAMES)}. Use MultiModalPredictor.load instead.")
        self.names = list(names)
        self.size = tuple(int(s) for s in data_config["input_size"][1:])     # (height, width)
        self.height, self.width = self.size
        self.resample = _filter(data_config.get("interpolation", "bicubic"))
        self.mean = np.asarray(data_config["mean"], dtype=np.float32)[:, None, None]
        self.std = np.asarray(data_config["std"], dtype=np.float32)[:, None, None]

    def blank(self) -> np.ndarray:
        return ((np.zeros((3, self.height, self.width), dtype=np.float32) - self.mean) / self.std).astype(np.float32)

    def __call__(self, image) -> np.ndarray:
        for name in self.names:
            if name == "resize_shorter_side":
                image = resize_shorter_side(image, max(self.height, self.width), self.resample)
            elif name == "center_crop":
                image = center_crop(image, self.height, self.width)
            else:
                image = resize(image, self.height, self.width, self.resample)
        image = resize(image, self.height, self.width, self.resample)
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return ((pixels - self.mean) / self.std).astype(np.float32)
