"""Inputs of the clip backbone: its text tower's token ids and its image tower's pixels, from one CLIP checkpoint.

The image and text columns clip reads (models.net.select_models) go through the text and image processors, set
up with CLIP's own tokenizer, text length (model.clip.max_text_len, at most the 77 positions of the released
models) and image size, interpolation, mean and std (the checkpoint's preprocessor_config.json). CLIP's text tower
summarises a sequence at its end token, so the text columns are joined without separator tokens: a separator
would be a second end token.

Features and batch keys keep the two processors' names (clip.ids.*, clip.paths, clip.input_ids, clip.images,
...), which do not overlap, so this processor merges what they produce.
"""

from __future__ import annotations

import json
import os

import pandas as pd

from ..errors import ConfigError
from ..models.checkpoints import resolve_hf_checkpoint
from .image import ImageProcessor
from .text import TextProcessor
from .types import IMAGE, TEXT

PREPROCESSOR_FILE = "preprocessor_config.json"
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}  # PIL codes


def clip_data_config(directory: str, vision_config) -> dict:
    """The image size the vision tower was built for, with the checkpoint's interpolation, mean and std."""
    from transformers.utils.constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

    preprocessor = {}
    path = os.path.join(directory, PREPROCESSOR_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            preprocessor = json.load(f)
    size = int(vision_config.image_size)
    return {"input_size": [3, size, size],
            "interpolation": RESAMPLE_NAMES.get(preprocessor.get("resample"), "bicubic"),
            "mean": [float(v) for v in preprocessor.get("image_mean", OPENAI_CLIP_MEAN)],
            "std": [float(v) for v in preprocessor.get("image_std", OPENAI_CLIP_STD)]}


def load_clip_config(directory: str, key: str):
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(directory)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{key}: '{directory}' holds no readable model config.json ({error}). Point {key} at a "
                          "CLIP checkpoint directory (config.json, model weights, tokenizer files).") from error
    if getattr(config, "model_type", None) != "clip":
        raise ConfigError(f"{key}: '{directory}' is a '{getattr(config, 'model_type', 'unknown')}' checkpoint; the "
                          "clip backbone needs a CLIP checkpoint (model_type 'clip'), e.g. "
                          "openai/clip-vit-base-patch32. Use hf_text or timm_image for other models.")
    return config


class ClipProcessor:
    def __init__(self, name: str, column_types: dict, config):
        """Reads model.<name>.checkpoint_name / max_text_len / train_transforms / val_transforms and data.*."""
        settings = config.group(f"model.{name}")
        self.name = name
        self.checkpoint_name = settings["checkpoint_name"]
        self.checkpoint_dir = None
        self.pretrained = True
        self._config = None           # the CLIP config, held for save_assets
        texts = {c: t for c, t in column_types.items() if t == TEXT}
        images = {c: t for c, t in column_types.items() if t == IMAGE}
        text_settings = dict(checkpoint_name=self.checkpoint_name, tokenizer_name="clip",
                             max_text_len=settings["max_text_len"], insert_sep=False, text_segment_num=1,
                             stochastic_chunk=False, text_aug_detect_length=0, text_trivial_aug_maxscale=0,
                             normalize_text=config["data.text.normalize_text"])
        self.text = TextProcessor(name, texts, settings=text_settings) if texts else None
        self.image = ImageProcessor(name, images, config) if images else None

    @property
    def parts(self) -> list:
        return [p for p in (self.text, self.image) if p is not None]

    def fit(self, frame: pd.DataFrame) -> "ClipProcessor":
        key = f"model.{self.name}.checkpoint_name"
        self.checkpoint_dir = resolve_hf_checkpoint(self.checkpoint_name, key)
        self._config = load_clip_config(self.checkpoint_dir, key)
        if self.text is not None:
            self.text.fit(frame, self.checkpoint_dir, f"model.{self.name}")
        if self.image is not None:
            self.image.fit(frame, clip_data_config(self.checkpoint_dir, self._config.vision_config))
        return self

    def features(self, frame: pd.DataFrame) -> dict:
        features = {}
        for part in self.parts:
            features.update(part.features(frame))
        return features

    def lengths(self, features: dict):
        return self.text.lengths(features) if self.text is not None else None

    def keep_mask(self, features: dict):
        return self.image.keep_mask(features) if self.image is not None else None

    def collate(self, features: dict, indices, training: bool) -> dict:
        batch = {}
        for part in self.parts:
            batch.update(part.collate(features, indices, training))
        return batch

    def model_inputs(self) -> dict:
        return {self.name: {"checkpoint": self.checkpoint_dir, "pretrained": self.pretrained,
                            "image": self.image is not None, "text": self.text is not None}}

    def save_assets(self, directory: str):
        """The CLIP config and tokenizer, so loading builds the towers without the original checkpoint."""
        os.makedirs(directory, exist_ok=True)
        self._config.save_pretrained(directory)
        if self.text is not None:
            self.text.tokenizer.save_pretrained(directory)
        if self.image is not None:
            self.image.save_transforms(directory)

    def to_dict(self) -> dict:
        return {"kind": "clip", "name": self.name, "checkpoint_name": self.checkpoint_name,
                "text": self.text.to_dict() if self.text is not None else None,
                "image": self.image.to_dict() if self.image is not None else None}

    @classmethod
    def from_dict(cls, state: dict, directory: str | None = None) -> "ClipProcessor":
        processor = cls.__new__(cls)
        processor.name, processor.checkpoint_name = state["name"], state["checkpoint_name"]
        processor.checkpoint_dir = directory     # config and tokenizer saved beside the predictor
        processor.pretrained = False             # weights come from the predictor's model.safetensors
        processor._config = load_clip_config(directory, f"saved predictor part '{directory}'")
        processor.text = TextProcessor.from_dict(state["text"], directory) if state["text"] else None
        processor.image = ImageProcessor.restore(state["image"], directory=directory) if state["image"] else None
        return processor
