"""The image transforms of model.timm_image.train_transforms / val_transforms.

A list holds names (below, with AutoGluon's meanings) and torchvision transform objects, which are applied as
given. Every list ends the same way: the image is brought to the model's input size if the list left it at
another size (so a batch always stacks), then ToTensor and Normalize with the model's mean and std.
"""

from __future__ import annotations

import json

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


def _torchvision_class(path: str):
    """The class that "module:Name" names, when it is defined in torchvision.transforms; else ValueError."""
    import enum
    import importlib
    import inspect

    module, _, name = path.partition(":")
    if module.split(".")[:2] != ["torchvision", "transforms"] or not name.isidentifier():
        raise ValueError(f"'{path}' is not a torchvision transform")
    found = getattr(importlib.import_module(module), name, None)
    if not (inspect.isclass(found) and found.__module__.split(".")[:2] == ["torchvision", "transforms"]):
        raise ValueError(f"'{path}' is not a torchvision transform")
    return found, issubclass(found, enum.Enum)


def _encode(value):
    """JSON for a transform's state: plain values, tuples, dtypes, torchvision enums and transforms, recursively."""
    import enum

    import torch

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_encode(v) for v in value]
        return items if isinstance(value, list) else {"tuple": items}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v) for k, v in value.items()}}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    path = f"{type(value).__module__}:{type(value).__qualname__}"
    _torchvision_class(path)
    if isinstance(value, enum.Enum):
        return {"enum": path, "value": _encode(value.value)}
    module_state = [getattr(value, k, None) for k in ("_parameters", "_buffers", "_modules")]
    if any(module_state):
        raise ValueError(f"{type(value).__name__} holds parameters, buffers or submodules")
    state = {k: _encode(v) for k, v in vars(value).items() if not k.startswith("_") and k != "training"}
    return {"transform": path, "state": state}


def _decode(value):
    import torch

    if not isinstance(value, (dict, list)):
        return value
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if "tuple" in value:
        return tuple(_decode(v) for v in value["tuple"])
    if "dict" in value:
        return {k: _decode(v) for k, v in value["dict"].items()}
    if "dtype" in value:
        dtype = getattr(torch, str(value["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"'{value['dtype']}' is not a torch dtype")
        return dtype
    cls, is_enum = _torchvision_class(str(value.get("enum") or value.get("transform")))
    if is_enum:
        return cls(_decode(value["value"]))
    transform = cls.__new__(cls)       # no constructor runs: the saved attributes are set as they were
    if isinstance(transform, torch.nn.Module):
        torch.nn.Module.__init__(transform)
    for key, item in value["state"].items():
        setattr(transform, key, _decode(item))
    return transform


def dump_transforms(transforms: list) -> str:
    """JSON of a list of torchvision transform objects (read back by load_transforms, which runs no code from the
    file: it only sets attributes on torchvision's own classes); raises ValueError for other objects (a Lambda's
    function, another library's transform)."""
    try:
        data = json.dumps(_encode(list(transforms)))
        load_transforms(data)
    except (TypeError, AttributeError) as error:
        raise ValueError(str(error)) from error
    return data


def load_transforms(data: str) -> list:
    return _decode(json.loads(data))


def _interpolation(name: str):
    from torchvision.transforms import InterpolationMode

    try:
        return InterpolationMode(name)
    except ValueError:
        return InterpolationMode.BICUBIC


def _is_normalize(step) -> bool:
    from torchvision.transforms import Normalize
    from torchvision.transforms.v2 import Normalize as NormalizeV2

    return isinstance(step, (Normalize, NormalizeV2))


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
        # a list that normalises itself (a user's own Normalize) is not normalised a second time
        self.normalizes = any(_is_normalize(step) for step in self.steps)

    def blank(self):
        """A black image (zero pixels) as the model sees it: what stands in for a missing image."""
        import torch
        from torchvision.transforms import functional as F

        return F.normalize(torch.zeros(3, *self.size), self.mean, self.std)

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
        return image if self.normalizes else F.normalize(image, self.mean, self.std)

    def __repr__(self):
        return f"ImageTransform({self.steps}, size={self.size})"
