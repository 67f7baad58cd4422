"""Tiny images and a tiny timm checkpoint on disk, so image tests run offline in seconds."""

import os

import numpy as np
import pandas as pd
from PIL import Image

SIZE = 32


def save_tiny_checkpoint(directory, architecture: str = "test_vit") -> str:
    """A randomly initialised timm model saved the way timm shares checkpoints (config.json + model.safetensors)."""
    import timm
    from timm.models import save_for_hf

    model_args = {"img_size": SIZE} if "vit" in architecture else {}
    model = timm.create_model(architecture, pretrained=False, num_classes=0, **model_args)
    save_for_hf(model, str(directory), safe_serialization=True, data_config={"input_size": (3, SIZE, SIZE)})
    return str(directory)


def write_image(path, level: float, rng, size=(24, 20)) -> str:
    """A noisy grey image around brightness `level` (0-255)."""
    pixels = np.clip(rng.normal(level, 25, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


def bright_dark_frame(directory, n: int, seed: int, numerical: bool = False) -> pd.DataFrame:
    """label "bright" / "dark" from the image; with `numerical`, a number x moves the label too."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    bright = rng.random(n) < 0.5
    x = rng.normal(size=n)
    score = np.where(bright, 1.5, -1.5) + (x if numerical else 0)
    paths = [write_image(os.path.join(directory, f"{seed}_{i}.png"), 190 if b else 60, rng)
             for i, b in enumerate(bright)]
    frame = pd.DataFrame({"image": paths, "label": np.where(score > 0, "bright", "dark")})
    if numerical:
        frame["x"] = x
    return frame
