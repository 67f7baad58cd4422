"""The image transforms of model.timm_image.train_transforms / val_transforms.

A list holds names (below, with AutoGluon's meanings) and torchvision transform objects, which are applied as
given. Every list ends the same way: the image is brought to the model's input size if the list left it at
another size (so a batch always stacks), then ToTensor and Normalize with the model's mean and std.
"""

from __future__ import annotations

import io
import pickle

from ..errors import ConfigError

DEFAULT_VAL_TRANSFORMS = ["resize_shorter_side", "center_crop"]


def _builders(size: tuple, interpolation) -> dict:
    from torchvision import transforms as T

    height, width = size
    return {
        # The shorter side to the larger of height and width, so the centre crop that usually follows fits.
        "resize_shorter_side": lambda: T.Resize(max(height, width), interpolation=interpolation),
        "center_crop": lambda: T.CenterCrop(size),
        "resize_to_square": lambda: T.Resize(size, interpolation=interpolation),
        "random_resize_crop": lambda: T.RandomResizedCrop(size, interpolation=interpolation),
        "random_horizontal_flip": lambda: T.RandomHorizontalFlip(),
        "random_vertical_flip": lambda: T.RandomVerticalFlip(),
        "color_jitter": lambda: T.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1),
        "affine": lambda: T.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        "trivial_augment": lambda: T.TrivialAugmentWide(),
        "randaug": lambda: T.RandAugment(2, 9),
    }


# The names _builders knows, listed here so configuration checks need not import torchvision.
TRANSFORM_NAMES = (
    "resize_shorter_side", "center_crop", "resize_to_square", "random_resize_crop", "random_horizontal_flip",
    "random_vertical_flip", "color_jitter", "affine", "trivial_augment", "randaug")


def describe(transforms: list) -> list:
    """JSON-safe form of a transform list: names as they are, objects by their repr."""
    return [t if isinstance(t, str) else repr(t) for t in transforms]


def all_named(transforms: list) -> bool:
    return all(isinstance(t, str) and t in TRANSFORM_NAMES for t in transforms)


class _TransformUnpickler(pickle.Unpickler):
    """Unpickles torchvision transform objects and nothing else: a pickle naming any other global (a function
    such as os.system, a class from elsewhere) is refused, so loading a saved predictor runs no foreign code."""

    SAFE = {("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice")}

    def find_class(self, module, name):
        import inspect

        import torch

        if (module, name) in self.SAFE:
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if "." not in name and module.split(".")[:2] == ["torchvision", "transforms"]:   # no dotted chains
            found = super().find_class(module, name)
            if inspect.isclass(found) and found.__module__.split(".")[:2] == ["torchvision", "transforms"]:
                return found
        raise pickle.UnpicklingError(f"'{module}.{name}' is not a torchvision transform")


def dump_transforms(transforms: list) -> bytes:
    """Pickled transform objects that load_transforms reads back; raises ValueError for others (a lambda, a
    transform class of another library)."""
    try:
        data = pickle.dumps(transforms)
        load_transforms(data)
    except (pickle.PicklingError, pickle.UnpicklingError, AttributeError, TypeError) as error:
        raise ValueError(str(error)) from error
    return data


def load_transforms(data: bytes) -> list:
    return _TransformUnpickler(io.BytesIO(data)).load()


def _interpolation(name: str):
    from torchvision.transforms import InterpolationMode

    try:
        return InterpolationMode(name)
    except ValueError:
        return InterpolationMode.BICUBIC


class ImageTransform:
    """PIL image -> normalised float tensor (3, H, W) at the model's input size."""

    def __init__(self, transforms: list, data_config: dict, key: str):
        self.size = tuple(int(s) for s in data_config["input_size"][1:])
        self.mean, self.std = list(data_config["mean"]), list(data_config["std"])
        self.interpolation = _interpolation(data_config.get("interpolation", "bicubic"))
        builders = _builders(self.size, self.interpolation)
        self.steps = []
        for item in transforms:
            if not isinstance(item, str):
                self.steps.append(item)
            elif item in builders:
                self.steps.append(builders[item]())
            elif "(" in item:
                raise ConfigError(f"{key} holds {item!r}, the saved description of a transform object, which "
                                  "cannot be rebuilt from its text. Pass the transform object itself again, or "
                                  f"use names: {', '.join(builders)}.")
            else:
                raise ConfigError(f"{key} has unknown transform {item!r}. Use names from: {', '.join(builders)}; "
                                  "or torchvision transform objects.")

    def __call__(self, image):
        import torch
        from torchvision.transforms import functional as F

        for step in self.steps:
            image = step(image)
        if isinstance(image, torch.Tensor):  # a list that already ended with ToTensor (or v2 tensor transforms)
            if not image.is_floating_point():
                image = image.float() / 255
            if tuple(image.shape[-2:]) != self.size:
                image = F.resize(image, list(self.size), interpolation=self.interpolation, antialias=True)
        else:
            if image.size != (self.size[1], self.size[0]):  # PIL sizes are (width, height)
                image = F.resize(image, list(self.size), interpolation=self.interpolation)
            image = F.to_tensor(image)
        return F.normalize(image, self.mean, self.std)

    def __repr__(self):
        return f"ImageTransform({self.steps}, size={self.size})"
