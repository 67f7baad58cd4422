"""The detector sized from the data when the default checkpoint's weights are missing: its choices follow the images
and boxes."""

import numpy as np
import pandas as pd
from PIL import Image

from automodal.learners.detection import scratch
from automodal.learners.detection.data import BOXES


def test_scratch_design_follows_the_images_and_boxes(tmp_path):
    Image.new("RGB", (640, 480)).save(tmp_path / "big.png")
    mixed = np.array([[0, 0, 16, 16]] + [[0, 0, 300, 300]] * 3, np.float32)
    big = pd.DataFrame({"image": [str(tmp_path / "big.png")] * 4, BOXES: [mixed] * 4})
    spec = scratch.design(big, "default")
    # boxes of 16 px keep the images' size; boxes of 300 px need the coarser levels of a deeper backbone
    assert (spec["max_size"], spec["min_size"]) == (640, 480)
    assert spec["backbone_channels"] == [16, 32, 64, 128, 128, 128]
    large_only = big.assign(**{BOXES: [mixed[1:]] * 4})
    assert scratch.design(large_only, "default")["max_size"] == 64      # 300 px boxes keep 16 px at 64 px
    small_only = big.assign(**{BOXES: [mixed[:1]] * 4})
    assert scratch.design(small_only, "default")["backbone_channels"] == [16, 32, 64]
    assert scratch.training_defaults(10_000, spec)["optimization.max_epochs"][0] == 10
    assert "env.num_workers" not in scratch.training_defaults(10_000, spec)    # large images: workers decode
