"""The NumPy image path (prediction without torch) gives the arrays torchvision's transforms give."""

import numpy as np
import pytest
from PIL import Image

from automodal.data.image_arrays import ArrayTransform
from automodal.data.image_transforms import ImageTransform
from automodal.errors import AutomodalError

CONFIG = {"input_size": [3, 32, 28], "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}


@pytest.mark.parametrize("names", [["resize_shorter_side", "center_crop"], ["resize_to_square"], [],
                                   ["center_crop"]])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear", "nearest"])
@pytest.mark.parametrize("size", [(24, 20), (50, 90), (28, 32), (10, 40)])
def test_arrays_equal_torchvision(names, interpolation, size):
    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    config = dict(CONFIG, interpolation=interpolation)
    expected = ImageTransform(names, config, "key")(image).numpy()
    transform = ArrayTransform(names, config, "model.timm_image")
    np.testing.assert_allclose(transform(image), expected, atol=1e-5)
    np.testing.assert_allclose(transform.blank(), ImageTransform(names, config, "key").blank().numpy(), atol=1e-6)


def test_training_transforms_are_refused_without_torch():
    with pytest.raises(AutomodalError, match="random_horizontal_flip"):
        ArrayTransform(["random_horizontal_flip"], CONFIG, "model.timm_image")
