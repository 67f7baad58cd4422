"""Mask files: what each encoding reads as, the rule that decides the classes, and errors that name the file."""

import numpy as np
import pytest
from PIL import Image

from automodal.errors import DataError
from automodal.learners.segmentation.masks import (IGNORE_INDEX, check_mask_size, decode_labels, encode_mask,
                                                   mask_label_info, read_mask)

COLUMN = "label"


def save(tmp_path, name, array, mode=None):
    path = str(tmp_path / name)
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(path)
    return path


def test_binary_encodings_read_as_zero_and_one(tmp_path):
    square = np.zeros((8, 8), np.uint8)
    square[2:5, 2:5] = 255
    bits = save(tmp_path, "bits.png", square, "1")
    assert set(np.unique(read_mask(bits, COLUMN))) == {0, 1}
    grey = save(tmp_path, "grey.png", square)
    info = mask_label_info([grey], COLUMN, ignore_label=255)
    # exactly {0, 255}: 255 is the foreground, although it equals ignore_label
    assert info == {"values": [0, 255], "num_classes": 2, "binary": True, "ignore_label": None}
    encoded = encode_mask(read_mask(grey, COLUMN), info, grey, COLUMN)
    assert encoded.dtype == np.int64 and np.array_equal(encoded, square // 255)
    ones = save(tmp_path, "ones.png", square // 255)
    assert mask_label_info([ones], COLUMN, 255)["values"] == [0, 1]


def test_the_rule_is_decided_on_all_training_masks(tmp_path):
    border_only = np.zeros((8, 8), np.uint8)
    border_only[0] = 255                         # background and an ignored border: not a binary mask here
    classes = np.array([[0, 1, 2, 255]] * 4, np.uint8)
    paths = [save(tmp_path, "a.png", border_only), save(tmp_path, "b.png", classes)]
    info = mask_label_info(paths, COLUMN, ignore_label=255)
    assert info == {"values": [0, 1, 2], "num_classes": 3, "binary": False, "ignore_label": 255}
    encoded = encode_mask(read_mask(paths[0], COLUMN), info, paths[0], COLUMN)
    assert (encoded[0] == IGNORE_INDEX).all() and (encoded[1:] == 0).all()
    assert np.array_equal(decode_labels(np.array([[0, 1, 2]]), info), [[0, 1, 2]])


def test_palette_and_grey_rgb_masks_read_as_values(tmp_path):
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    palette = Image.fromarray(indices, "P")
    palette.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0] + [0] * 759)
    path = str(tmp_path / "palette.png")
    palette.save(path)
    assert np.array_equal(read_mask(path, COLUMN), indices)
    grey_rgb = save(tmp_path, "rgb.png", np.stack([indices * 100] * 3, -1))
    assert np.array_equal(read_mask(grey_rgb, COLUMN), indices * 100)
    info = mask_label_info([grey_rgb], COLUMN, 255)
    assert info["values"] == [0, 100, 200]
    assert np.array_equal(decode_labels(np.array([2, 0]), info), [200, 0])


def test_errors_name_the_file_and_say_what_to_do(tmp_path):
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[0, 0] = (255, 0, 0)
    colour_path = save(tmp_path, "colour.png", colour)
    with pytest.raises(DataError, match=r"colour\.png.*'label'.*single-channel PNG"):
        read_mask(colour_path, COLUMN)
    with pytest.raises(DataError, match=r"missing\.png.*does not exist"):
        read_mask(str(tmp_path / "missing.png"), COLUMN)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"broken\.png"):
        read_mask(str(broken), COLUMN)
    with pytest.raises(DataError, match=r"mask\.jpg.*JPEG"):
        read_mask(str(tmp_path / "mask.jpg"), COLUMN)
    blank = save(tmp_path, "blank.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match="at least two classes"):
        mask_label_info([blank], COLUMN, 255)


def test_values_unseen_in_training_are_an_error_naming_the_file(tmp_path):
    info = {"values": [0, 1], "num_classes": 2, "binary": True, "ignore_label": 255}
    values = np.array([[0, 1], [255, 3]])
    with pytest.raises(DataError, match=r"eval\.png.*\[3\].*\[0, 1\]"):
        encode_mask(values, info, "eval.png", COLUMN)
    assert encode_mask(values[:1], info, "eval.png", COLUMN).tolist() == [[0, 1]]


def test_a_mask_must_have_its_image_size():
    check_mask_size("m.png", (20, 30), "i.png", (30, 20), COLUMN)
    with pytest.raises(DataError, match=r"m\.png.*30x20.*i\.png.*40x20"):
        check_mask_size("m.png", (20, 30), "i.png", (40, 20), COLUMN)
