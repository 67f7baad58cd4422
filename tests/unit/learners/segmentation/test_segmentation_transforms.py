"""Each transform name does what it says; unknown names and wrong sizes are errors that name the key."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from automodal.config import Config, default_flat
from automodal.errors import ConfigError, DataError
from automodal.learners.segmentation.transforms import (IMAGENET_MEAN, IMAGENET_STD, SegmentationTransforms,
                                                        pixel_statistics)

SIZE = 16
PLAIN = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))   # tensors equal pixels / 255


def gradient_image(height=24, width=40):
    rows, columns = np.mgrid[:height, :width]
    return np.stack([rows * 10 % 256, columns * 6 % 256, (rows * columns) % 256], -1).astype(np.uint8)


def test_resize_to_square_is_bicubic_and_resize_gt_to_square_is_nearest():
    transforms = SegmentationTransforms(SIZE, **PLAIN)
    image = gradient_image()
    mask = (np.arange(24 * 40).reshape(24, 40) % 7).astype(np.int64)
    pixels, target = transforms(image, mask)
    assert pixels.shape == (3, SIZE, SIZE) and pixels.dtype == torch.float32
    assert target.shape == (SIZE, SIZE) and target.dtype == torch.int64
    bicubic = np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.BICUBIC), np.float32) / 255
    assert torch.allclose(pixels, torch.from_numpy(bicubic).permute(2, 0, 1), atol=1e-6)
    nearest = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((SIZE, SIZE), Image.NEAREST))
    assert np.array_equal(target.numpy(), nearest)


def test_random_horizontal_flip_mirrors_image_and_mask_together_in_training_only():
    transforms = SegmentationTransforms(SIZE, **PLAIN)
    image = gradient_image(SIZE, SIZE)
    mask = np.tile(np.arange(SIZE), (SIZE, 1))
    plain_pixels, plain_mask = transforms(image, mask)
    torch.manual_seed(0)
    flipped = 0
    for _ in range(20):
        pixels, target = transforms(image, mask, training=True)
        if torch.equal(target, plain_mask):
            assert torch.equal(pixels, plain_pixels)
        else:
            assert torch.equal(target, plain_mask.flip(-1)) and torch.equal(pixels, plain_pixels.flip(-1))
            flipped += 1
    assert 0 < flipped < 20
    assert all(torch.equal(transforms(image, mask)[1], plain_mask) for _ in range(5))
    never = SegmentationTransforms(SIZE, **PLAIN, train=[])
    assert all(torch.equal(never(image, mask, training=True)[1], plain_mask) for _ in range(5))


def test_normalisation_reads_the_checkpoint_preprocessor_config(tmp_path):
    assert pixel_statistics(str(tmp_path)) == (list(IMAGENET_MEAN), list(IMAGENET_STD))
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5, 0.5, 0.5],
                                                                   "image_std": [0.25, 0.25, 0.25]}))
    mean, std = pixel_statistics(str(tmp_path))
    transforms = SegmentationTransforms(SIZE, mean, std)
    white = np.full((SIZE, SIZE, 3), 255, np.uint8)
    assert torch.allclose(transforms(white)[0], torch.full((3, SIZE, SIZE), 2.0))


def test_unknown_names_and_unresized_images_are_errors_naming_the_key():
    config = Config({**default_flat(), "model.sam.img_transforms": ["resize_to_square", "center_crop"]})
    with pytest.raises(ConfigError, match=r"model\.sam\.img_transforms.*center_crop.*resize_to_square"):
        SegmentationTransforms.from_config(config, SIZE, IMAGENET_MEAN, IMAGENET_STD)
    with pytest.raises(ConfigError, match=r"model\.sam\.gt_transforms.*resize_gt_to_square"):
        SegmentationTransforms(SIZE, **PLAIN, gt=["resize_to_square"])
    unresized = SegmentationTransforms(SIZE, **PLAIN, image=[], gt=[])
    with pytest.raises(DataError, match=r"'cat\.png' is 40x24.*16x16.*resize_to_square"):
        unresized(gradient_image(), path="cat.png")
    # a mask left at its own size is allowed (the loss scales the logits to it)
    assert unresized(gradient_image(SIZE, SIZE), np.zeros((24, 40), np.int64))[1].shape == (24, 40)


def test_state_round_trips_through_json():
    transforms = SegmentationTransforms(SIZE, IMAGENET_MEAN, IMAGENET_STD, train=[])
    again = SegmentationTransforms.from_dict(json.loads(json.dumps(transforms.to_dict())))
    image = gradient_image()
    assert again.to_dict() == transforms.to_dict() and torch.equal(again(image)[0], transforms(image)[0])
