"""Image-path columns: which images each row has, whether they can be read, and batches of decoded images.

A cell holds one path or several separated by ";" (a list of paths works too); an empty cell is one missing
image. A row's images are those of all its image columns, in column order. An image is missing when its file
does not exist or PIL cannot open and verify its header; training data is also decoded, which finds truncated
files. data.image.missing_value_strategy decides what training does with such rows: "skip" drops them
(keep_mask), "zero" feeds a zero image in their place. Prediction cannot drop rows, so there a missing or
undecodable image is always a zero image.

Saving: transform objects in train_transforms / val_transforms cannot be written as JSON, so processors.json
keeps their repr. A loaded predictor only predicts, which needs the val transforms alone: named ones are rebuilt
from their names, and a list holding objects is written beside the config as JSON (val_transforms.json: each
torchvision transform's class and attributes) and rebuilt at load on torchvision's own classes, with no code read
from the file. Other objects (a Lambda, another library's transform) are reported at save, and the loaded model
falls back to the default val transforms (resize_shorter_side, center_crop) and says so.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pandas as pd

from ..errors import AutomodalError
from ..models.timm_checkpoint import from_directory, resolve_checkpoint
from .image_arrays import ArrayTransform
from .image_cache import active_store
from .image_transforms import (DEFAULT_VAL_TRANSFORMS, ImageTransform, all_named, describe, dump_transforms,
                               load_transforms)
from .types import IMAGE

logger = logging.getLogger(__name__)

SEPARATOR = ";"
CONFIG_FILE = "config.json"       # the backbone's timm config, written by save_assets
TRANSFORMS_FILE = "val_transforms.json"   # val transforms that are objects, not names


def cell_paths(value) -> list:
    """The paths in one cell; a missing or empty cell is one missing image (None). A cell naming an existing file
    is one path, even when the file's name holds the separator."""
    if isinstance(value, (list, tuple, np.ndarray)):
        paths = [str(v).strip() for v in value if isinstance(v, str) and v.strip()]
    elif value is None or (not isinstance(value, str) and pd.isna(value)):
        paths = []
    elif SEPARATOR in str(value) and os.path.isfile(str(value).strip()):
        paths = [str(value).strip()]
    else:
        paths = [p.strip() for p in str(value).split(SEPARATOR) if p.strip()]
    return paths or [None]


def readable(path, decode: bool = False) -> bool:
    """Whether PIL can open the file and verify its header, or (decode) decode all of its data."""
    if not path or not os.path.isfile(path):
        return False
    store = active_store()
    if store is not None and path in store:     # decoded whole by `automodal pp`, from this very file
        return True
    from PIL import Image

    try:
        with Image.open(path) as image:
            if decode:
                image.draft("RGB", (64, 64))  # JPEGs decode at a fraction of the scale; damage still shows
                image.load()
            else:
                image.verify()
        return True
    except Exception:  # PIL reports bad files with many types (UnidentifiedImageError, OSError, SyntaxError, ...)
        return False


def as_rgb(image):
    """RGB for any PIL mode. 16- and 32-bit grey images ("I;16", "I", "F") are scaled to 0-255 first: PIL's own
    conversion clips them at 255, which turns most 16-bit images white."""
    from PIL import Image

    if image.mode.startswith("I") or image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        brightest = pixels.max(initial=0.0)
        if image.mode == "F":
            top = 1.0 if brightest <= 1.0 else 255.0              # floats in [0, 1], else already 0-255
        else:
            top = 65535.0 if image.mode.startswith("I;16") or brightest > 255 else 255.0
        image = Image.fromarray(np.clip(pixels * (255.0 / top), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def load_image(path, warned: set | None = None):
    """The image as RGB, or None when it cannot be decoded (a zero image takes its place). Paths in `warned`
    were reported already; a failing one is added, so each is reported once."""
    if path is None:
        return None
    store = active_store()
    if store is not None and path in store:     # decoded once by `automodal pp`
        return store.get(path)
    if not os.path.isfile(path):  # already counted by features(); no warning per batch
        return None
    from PIL import Image

    try:
        with Image.open(path) as image:
            return as_rgb(image)
    except Exception:  # a file can pass verify() and still fail to decode (e.g. truncated data)
        if warned is None or path not in warned:
            logger.warning("Cannot decode image '%s'; a zero image is used instead.", path)
            if warned is not None:
                warned.add(path)
        return None


def timm_data_config(pretrained_cfg: dict) -> dict:
    """Input size, interpolation, mean and std the timm model was trained with."""
    from timm.data import resolve_data_config

    resolved = resolve_data_config(pretrained_cfg=pretrained_cfg)
    return {"input_size": [int(v) for v in resolved["input_size"]], "interpolation": resolved["interpolation"],
            "mean": [float(v) for v in resolved["mean"]], "std": [float(v) for v in resolved["std"]]}


class ImageProcessor:
    """Features: f"{name}.paths" (per row, the list of its image paths) and f"{name}.missing" (per row: any
    image missing or unreadable). collate() decodes a batch into f"{name}.images" (B, N, 3, H, W) and
    f"{name}.image_mask" (B, N), N being the most images a row of the batch has."""

    def __init__(self, name: str, column_types: dict, config):
        """Reads model.<name>.checkpoint_name / train_transforms / val_transforms and data.image.*."""
        settings = config.group(f"model.{name}")
        self._setup(name, [c for c, t in column_types.items() if t == IMAGE], settings["checkpoint_name"],
                    settings["train_transforms"], settings["val_transforms"],
                    config["data.image.missing_value_strategy"])

    def _setup(self, name, columns, checkpoint_name, train_transforms, val_transforms, missing_value_strategy,
               max_images=None, data_config=None, checkpoint=None):
        self.name, self.columns = name, list(columns)
        self.checkpoint_name = checkpoint_name
        self.train_transforms, self.val_transforms = list(train_transforms), list(val_transforms)
        self.missing_value_strategy = missing_value_strategy
        self.max_images = max_images      # the most images a training row has; longer rows are cut to it
        self.data_config = data_config
        self.checkpoint = checkpoint      # models.timm_checkpoint.TimmCheckpoint
        self._readable = {}               # (path, mtime, size, decoded) -> bool: each file is checked once
        self._undecodable = set()         # paths already reported as undecodable
        self._transforms = {}             # training -> ImageTransform, built on first use
        self._array_transform = None      # image_arrays.ArrayTransform, for prediction without torch

    # ---------------------------------------------------------------- fitting and features
    def fit(self, frame: pd.DataFrame, data_config: dict | None = None) -> "ImageProcessor":
        """data_config: input_size, interpolation, mean and std, when the backbone is not a timm model (clip);
        None resolves the timm checkpoint and takes its own."""
        if data_config is None:
            self.checkpoint = resolve_checkpoint(self.checkpoint_name)
            data_config = timm_data_config(self.checkpoint.pretrained_cfg)
        self.data_config = data_config
        self.max_images = max((len(row) for row in self._rows(frame)), default=1)
        self._transforms = {}
        self._transform(True)   # unknown transform names fail now, not at the first batch
        self._transform(False)
        return self

    def _rows(self, frame: pd.DataFrame) -> list:
        columns = [frame[c].to_numpy(dtype=object) for c in self.columns]
        return [[p for cell in cells for p in cell_paths(cell)] for cells in zip(*columns)]

    def _check(self, paths, decode: bool = False) -> dict:
        """{path: readable}, checking files in threads (file reads and decoding release the GIL) and remembering
        the answers."""
        keys = {}
        for path in paths:
            try:
                stat = os.stat(path)
                keys[path] = (path, stat.st_mtime_ns, stat.st_size, decode)
            except (OSError, TypeError, ValueError):
                keys[path] = None
        if len(self._readable) > 1_000_000:  # a long-lived predictor must not grow without bound
            self._readable = {}
        todo = [k for k in set(keys.values()) if k is not None and k not in self._readable]
        if len(todo) > 64:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
                self._readable.update(zip(todo, pool.map(lambda k: readable(k[0], decode), todo)))
        else:
            self._readable.update((k, readable(k[0], decode)) for k in todo)
        return {path: key is not None and self._readable[key] for path, key in keys.items()}

    def features(self, frame: pd.DataFrame) -> dict:
        rows = self._rows(frame)
        too_many = sum(len(row) > self.max_images for row in rows)
        if too_many:
            logger.warning("%d rows have more than %d images (the most a training row had); only their first %d "
                           "are used.", too_many, self.max_images, self.max_images)
        paths = np.empty(len(rows), dtype=object)
        for i, row in enumerate(rows):
            paths[i] = row[:self.max_images]
        ok = self._check({p for row in paths for p in row if p is not None})
        missing = np.array([not all(p is not None and ok[p] for p in row) for row in paths], dtype=bool)
        if missing.any():
            example = next(p for row in paths for p in row if p is None or not ok[p])
            logger.warning("Image column(s) %s: %d of %d rows have a missing or unreadable image (e.g. %s).",
                           self.columns, int(missing.sum()), len(rows),
                           "an empty cell" if example is None else f"'{example}'")
        return {f"{self.name}.paths": paths, f"{self.name}.missing": missing}

    def keep_mask(self, features: dict):
        """Training rows to keep: with the "skip" strategy, those whose images can all be read. Images that
        passed features()' header check are decoded here, so truncated files count as missing too."""
        paths, missing = features[f"{self.name}.paths"], features[f"{self.name}.missing"]
        decoded = self._check({p for row in paths[~missing] for p in row}, decode=True)
        damaged = np.array([not gone and not all(decoded[p] for p in row) for row, gone in zip(paths, missing)],
                           dtype=bool)
        if damaged.any():
            self._undecodable.update(p for p, ok in decoded.items() if not ok)
            logger.warning("Image column(s) %s: %d rows have an image that cannot be decoded (e.g. '%s').",
                           self.columns, int(damaged.sum()), next(p for p, ok in decoded.items() if not ok))
            missing = missing | damaged
        if not missing.any():
            return None
        if self.missing_value_strategy == "skip":
            return ~missing
        logger.warning("%d of %d rows get a zero image for each missing or unreadable image "
                       "(data.image.missing_value_strategy: zero).", int(missing.sum()), len(missing))
        return None

    # ---------------------------------------------------------------- batches
    def _transform(self, training: bool) -> ImageTransform:
        if training not in self._transforms:
            kind = "train" if training else "val"
            listed = self.train_transforms if training else self.val_transforms
            key = f"model.{self.name}.{kind}_transforms"
            self._transforms[training] = ImageTransform(listed, self.data_config, key)
        return self._transforms[training]

    def _stack(self, features: dict, indices, transform, zeros) -> dict:
        """The batch's images through `transform`, a black image for each missing one, in arrays from
        zeros(shape, dtype name): f"{name}.images" (B, N, 3, H, W) and f"{name}.image_mask" (B, N)."""
        rows = features[f"{self.name}.paths"][indices]
        count = max((len(row) for row in rows), default=1)
        images = zeros((len(rows), count, 3, *transform.size), "float32")
        mask = zeros((len(rows), count), "bool")
        blank = None
        for i, row in enumerate(rows):
            for j, path in enumerate(row):
                mask[i, j] = True       # a missing image stays in the mask, as a black image
                image = load_image(path, self._undecodable)
                if image is not None:
                    images[i, j] = transform(image)
                else:
                    blank = transform.blank() if blank is None else blank
                    images[i, j] = blank
        return {f"{self.name}.images": images, f"{self.name}.image_mask": mask}

    def collate(self, features: dict, indices, training: bool) -> dict:
        import torch

        return self._stack(features, indices, self._transform(training),
                           lambda shape, dtype: torch.zeros(shape, dtype=getattr(torch, dtype)))

    def collate_arrays(self, features: dict, indices, training: bool = False) -> dict:
        """collate() for prediction without torch: the same images and mask as NumPy arrays (named val transforms
        only)."""
        if self._array_transform is None:
            self._array_transform = ArrayTransform(self.val_transforms, self.data_config, f"model.{self.name}")
        return self._stack(features, indices, self._array_transform, lambda shape, dtype: np.zeros(shape, dtype))

    # ---------------------------------------------------------------- model and persistence
    def model_inputs(self) -> dict:
        if self.checkpoint is None:
            raise AutomodalError(f"The {self.name} image processor is not fitted; call fit() first.")
        c = self.checkpoint
        return {self.name: {"architecture": c.architecture, "model_args": c.model_args,
                            "pretrained_cfg": c.to_config()["pretrained_cfg"], "weights": c.weights}}

    def save_assets(self, directory: str):
        """The backbone's timm config.json, so loading rebuilds the architecture without the original checkpoint."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(self.checkpoint.to_config(), f, indent=2)
        self.save_transforms(directory)

    def save_transforms(self, directory: str):
        """Val transforms that are objects, as load_transforms' JSON (processors.json keeps only their repr)."""
        if all_named(self.val_transforms):
            return
        try:
            data = dump_transforms(self.val_transforms)
        except ValueError as error:
            logger.warning("model.%s.val_transforms %s cannot be saved (%s); the saved predictor will predict with %s. "
                           "Use transform names or torchvision's transform classes (not Lambda).",
                           self.name, describe(self.val_transforms), error, DEFAULT_VAL_TRANSFORMS)
            return
        with open(os.path.join(directory, TRANSFORMS_FILE), "w", encoding="utf-8") as f:
            f.write(data)

    def to_dict(self) -> dict:
        return {"kind": "image", "name": self.name, "columns": self.columns,
                "checkpoint_name": self.checkpoint_name, "train_transforms": describe(self.train_transforms),
                "val_transforms": describe(self.val_transforms),
                "missing_value_strategy": self.missing_value_strategy, "max_images": self.max_images,
                "data_config": self.data_config}

    @classmethod
    def from_dict(cls, state: dict, directory: str | None = None) -> "ImageProcessor":
        if directory is None:
            raise AutomodalError(f"The {state['name']} image processor is loaded from a saved predictor directory, "
                                 "which holds its config.json; none was given.")
        checkpoint = from_directory(directory, weights_required=False, what=f"saved predictor part '{directory}'")
        checkpoint.weights = None  # the trained weights come from the predictor's model.safetensors
        return cls.restore(state, checkpoint, directory)

    @classmethod
    def for_onnx(cls, state: dict) -> "ImageProcessor":
        """The saved processor for prediction without torch (onnx_predictor): named val transforms only."""
        transform = ArrayTransform(state["val_transforms"], state["data_config"], f"model.{state['name']}")
        processor = cls.restore(state)
        processor._array_transform = transform
        return processor

    @classmethod
    def restore(cls, state: dict, checkpoint=None, directory: str | None = None) -> "ImageProcessor":
        """The processor of to_dict()'s state, for prediction; `directory` holds the saved val transforms."""
        val_transforms = state["val_transforms"]
        path = os.path.join(directory, TRANSFORMS_FILE) if directory else None
        if not all_named(val_transforms):
            if path and os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    data = f.read()
                try:
                    val_transforms = load_transforms(data)
                except Exception as error:   # whatever a damaged or foreign file raises
                    raise AutomodalError(f"'{path}' does not hold torchvision transforms ({error}); it was not "
                                         "written by this predictor. Refusing to load it.") from error
            else:
                logger.warning("val_transforms %s held transform objects that could not be saved; the loaded model "
                               "predicts with %s instead.", val_transforms, DEFAULT_VAL_TRANSFORMS)
                val_transforms = DEFAULT_VAL_TRANSFORMS
        processor = cls.__new__(cls)
        processor._setup(state["name"], state["columns"], state["checkpoint_name"], state["train_transforms"],
                         val_transforms, state["missing_value_strategy"], state["max_images"],
                         state["data_config"], checkpoint)
        return processor
