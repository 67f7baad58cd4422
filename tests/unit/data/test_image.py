"""ImageProcessor and the timm image backbone: path parsing, missing / corrupt images, skip vs zero, transforms,
batches, saving, checkpoint resolution and layer groups. Tiny images and a tiny timm model, all offline."""

import json
import logging
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torchvision import transforms

from image_helpers import SIZE, save_tiny_checkpoint, write_image
from automodal.config import resolve_config
from automodal.data.image import ImageProcessor, cell_paths
from automodal.data.image_transforms import TRANSFORM_NAMES, ImageTransform, _builders
from automodal.errors import AutomodalError, CheckpointNotFoundError, ConfigError
from automodal.models.timm_checkpoint import resolve_checkpoint
from automodal.models.timm_image import build_timm_image

TYPES = {"front": "image_path", "back": "image_path", "x": "numerical"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("timm") / "test_vit")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three readable images, a corrupt one and a path that does not exist."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    good = [write_image(root / f"{i}.png", 40 + 80 * i, rng) for i in range(3)]
    corrupt = root / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    return {"good": good, "corrupt": str(corrupt), "absent": str(root / "absent.png")}


def make_processor(checkpoint, **keys):
    config = resolve_config(hyperparameters={"model.timm_image.checkpoint_name": checkpoint, **keys})
    return ImageProcessor("timm_image", TYPES, config)


def frame(files):
    g = files["good"]
    return pd.DataFrame({
        "front": [g[0], f"{g[1]};{g[2]}", files["absent"], files["corrupt"], None],
        "back": [g[1], g[0], g[2], g[2], g[0]],
        "x": [1.0, 2.0, 3.0, 4.0, 5.0],
    })


# ---------------------------------------------------------------- paths and missing images

@pytest.mark.parametrize("cell,expected", [
    ("a.png", ["a.png"]), ("a.png; b.png", ["a.png", "b.png"]), (" a.png ;;", ["a.png"]),
    ("", [None]), (None, [None]), (np.nan, [None]), (["a.png", "b.png"], ["a.png", "b.png"]),
])
def test_cell_paths(cell, expected):
    assert cell_paths(cell) == expected


def test_features_flatten_columns_and_flag_missing_or_corrupt_images(checkpoint, files):
    processor = make_processor(checkpoint).fit(frame(files))
    assert processor.columns == ["front", "back"] and processor.max_images == 3
    features = processor.features(frame(files))
    paths, missing = features["timm_image.paths"], features["timm_image.missing"]
    g = files["good"]
    assert paths.dtype == object and paths[0] == [g[0], g[1]] and paths[1] == [g[1], g[2], g[0]]
    assert paths[4] == [None, g[0]]
    assert missing.tolist() == [False, False, True, True, True]   # absent file, corrupt file, empty cell


def test_rows_with_more_images_than_training_are_cut(checkpoint, files, caplog):
    g = files["good"]
    processor = make_processor(checkpoint).fit(pd.DataFrame({"front": [g[0]], "back": [g[1]]}))
    with caplog.at_level(logging.WARNING, logger="automodal"):
        paths = processor.features(pd.DataFrame({"front": [f"{g[0]};{g[2]}"], "back": [g[1]]}))["timm_image.paths"]
    assert paths[0] == [g[0], g[2]] and "more than 2 images" in caplog.text


def test_skip_drops_rows_and_zero_keeps_them_with_black_images(checkpoint, files, caplog):
    skip = make_processor(checkpoint).fit(frame(files))
    assert skip.keep_mask(skip.features(frame(files))).tolist() == [True, True, False, False, False]

    zero = make_processor(checkpoint, **{"data.image.missing_value_strategy": "zero"}).fit(frame(files))
    features = zero.features(frame(files))
    with caplog.at_level(logging.WARNING, logger="automodal"):
        assert zero.keep_mask(features) is None
    assert "3 of 5 rows get a zero image" in caplog.text
    batch = zero.collate(features, np.arange(5), training=False)
    images, mask = batch["timm_image.images"], batch["timm_image.image_mask"]
    assert images.shape == (5, 3, 3, SIZE, SIZE) and images.dtype == torch.float32
    assert mask.tolist() == [[True, True, False], [True, True, True], [True, True, False],
                             [True, True, False], [True, True, False]]
    black = torch.full((3, SIZE, SIZE), -1.0)                 # zero pixels, normalised: (0 - 0.5) / 0.5
    for row in (2, 3, 4):                                     # missing images are black images
        torch.testing.assert_close(images[row, 0], black)
    assert images[0, 2].abs().sum() == 0                      # padding slot (masked out)
    assert images[0, 0].abs().sum() > 0 and images[2, 1].abs().sum() > 0


def test_truncated_images_pass_the_header_check_but_training_treats_them_as_missing(checkpoint, files, tmp_path,
                                                                                    caplog):
    whole = tmp_path / "whole.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(whole)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) // 2])
    g = files["good"]
    data = pd.DataFrame({"front": [g[0], str(truncated), str(whole)], "back": [g[1], g[2], g[0]]})

    skip = make_processor(checkpoint).fit(data)
    features = skip.features(data)
    assert not features["timm_image.missing"].any()        # the header is intact
    with caplog.at_level(logging.WARNING, logger="automodal"):
        assert skip.keep_mask(features).tolist() == [True, False, True]
    assert "1 rows have an image that cannot be decoded" in caplog.text and "truncated.jpg" in caplog.text

    zero = make_processor(checkpoint, **{"data.image.missing_value_strategy": "zero"}).fit(data)
    features = zero.features(data)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="automodal"):
        assert zero.keep_mask(features) is None
        for _ in range(3):      # epochs: the damaged file is not reported again at every batch
            images = zero.collate(features, np.arange(3), training=True)["timm_image.images"]
    assert "1 of 3 rows get a zero image" in caplog.text and "Cannot decode" not in caplog.text
    torch.testing.assert_close(images[1, 0], torch.full((3, SIZE, SIZE), -1.0))    # black, normalised
    assert not torch.equal(images[2, 0], images[1, 0])


@pytest.mark.parametrize("pixels,suffix", [
    (np.full((8, 8), 32896, dtype=np.uint16), "png"),           # 16-bit grey PNG ("I;16")
    (np.full((8, 8), 32896, dtype=np.int32), "tif"),            # 32-bit integer grey ("I") holding 16-bit values
    (np.full((8, 8), 128 / 255, dtype=np.float32), "tif"),      # float grey ("F") in [0, 1]
    (np.full((8, 8), 128, dtype=np.uint8), "png"),              # 8-bit grey ("L")
])
def test_grey_images_of_every_depth_decode_to_the_same_mid_grey(pixels, suffix, tmp_path):
    from automodal.data.image import load_image

    path = tmp_path / f"grey.{suffix}"
    Image.fromarray(pixels).save(path)
    decoded = np.asarray(load_image(str(path)))
    assert decoded.shape == (8, 8, 3) and np.all(np.abs(decoded.astype(int) - 128) <= 1)


def test_collate_normalises_with_the_model_mean_and_std(checkpoint, tmp_path):
    path = tmp_path / "white.png"
    Image.new("RGB", (50, 40), (255, 255, 255)).save(path)
    processor = make_processor(checkpoint).fit(pd.DataFrame({"front": [str(path)], "back": [str(path)]}))
    assert processor.data_config["input_size"] == [3, SIZE, SIZE]
    assert processor.data_config["mean"] == [0.5] * 3 and processor.data_config["std"] == [0.5] * 3
    batch = processor.collate(processor.features(pd.DataFrame({"front": [str(path)], "back": [None]})),
                              np.array([0]), training=False)
    torch.testing.assert_close(batch["timm_image.images"][0, 0], torch.ones(3, SIZE, SIZE))   # (1 - 0.5) / 0.5


# ---------------------------------------------------------------- transforms

def half_white(path):
    pixels = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    pixels[:, : SIZE // 2] = 255
    Image.fromarray(pixels).save(path)
    return str(path)


def test_a_torchvision_transform_object_is_applied(checkpoint, tmp_path):
    path = half_white(tmp_path / "half.png")
    keys = {"model.timm_image.train_transforms": [transforms.RandomHorizontalFlip(p=1.0)]}
    processor = make_processor(checkpoint, **keys).fit(pd.DataFrame({"front": [path], "back": [path]}))
    features = processor.features(pd.DataFrame({"front": [path], "back": [None]}))
    train = processor.collate(features, np.array([0]), training=True)["timm_image.images"][0, 0]
    val = processor.collate(features, np.array([0]), training=False)["timm_image.images"][0, 0]
    assert val[:, :, 0].mean() > 0.9 and val[:, :, -1].mean() < -0.9          # white left, black right
    torch.testing.assert_close(train, val.flip(-1))                            # flipped in training only


def test_a_users_own_normalize_is_not_applied_a_second_time(checkpoint, tmp_path):
    path = half_white(tmp_path / "half.png")
    own = [transforms.ToTensor(), transforms.Normalize([0.25] * 3, [0.25] * 3)]
    processor = make_processor(checkpoint, **{"model.timm_image.train_transforms": own}).fit(
        pd.DataFrame({"front": [path], "back": [path]}))
    features = processor.features(pd.DataFrame({"front": [path], "back": [None]}))
    train = processor.collate(features, np.array([0]), training=True)["timm_image.images"][0, 0]
    assert train[:, :, 0].mean() == pytest.approx(3.0) and train[:, :, -1].mean() == pytest.approx(-1.0)


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
def test_named_transforms_give_the_model_input_size(name):
    config = {"input_size": [3, SIZE, SIZE], "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear"}
    image = Image.new("RGB", (70, 45), (10, 200, 30))
    out = ImageTransform([name], config, "model.timm_image.train_transforms")(image)
    assert out.shape == (3, SIZE, SIZE) and out.dtype == torch.float32


def test_transform_names_match_their_builders():
    assert set(TRANSFORM_NAMES) == set(_builders((SIZE, SIZE), None))


def test_resize_shorter_side_then_center_crop_keep_the_centre():
    config = {"input_size": [3, 4, 4], "mean": [0.0] * 3, "std": [1.0] * 3, "interpolation": "nearest"}
    pixels = np.zeros((8, 16, 3), dtype=np.uint8)
    pixels[:, 4:12] = 255                                   # the centre half of a wide image is white
    out = ImageTransform(["resize_shorter_side", "center_crop"], config, "k")(Image.fromarray(pixels))
    torch.testing.assert_close(out, torch.ones(3, 4, 4))


@pytest.mark.parametrize("bad,message", [("rotate_a_bit", "unknown transform 'rotate_a_bit'"),
                                         ("RandomHorizontalFlip(p=0.5)", "saved description")])
def test_unknown_transform_names_fail_at_fit_naming_the_key(checkpoint, files, bad, message):
    processor = make_processor(checkpoint, **{"model.timm_image.val_transforms": ["center_crop", bad]})
    with pytest.raises(ConfigError, match="model.timm_image.val_transforms") as error:
        processor.fit(frame(files))
    assert message in str(error.value)


# ---------------------------------------------------------------- saving

def test_round_trip_rebuilds_from_the_saved_config_without_the_checkpoint(checkpoint, files, tmp_path):
    processor = make_processor(checkpoint).fit(frame(files))
    processor.save_assets(str(tmp_path / "timm_image"))
    state = json.loads(json.dumps(processor.to_dict()))
    assert state["kind"] == "image"
    loaded = ImageProcessor.from_dict(state, str(tmp_path / "timm_image"))
    inputs = loaded.model_inputs()["timm_image"]
    assert inputs["weights"] is None and inputs["architecture"] == "test_vit"
    assert inputs["model_args"]["img_size"] == [SIZE, SIZE]
    a = processor.collate(processor.features(frame(files)), np.arange(5), training=False)
    b = loaded.collate(loaded.features(frame(files)), np.arange(5), training=False)
    torch.testing.assert_close(a, b)
    net = build_timm_image({}, loaded.model_inputs())
    assert net.out_features == 64


def test_val_transform_objects_are_saved_as_json_and_predict_identically_after_load(checkpoint, files, tmp_path,
                                                                                     monkeypatch):
    import pickle

    keys = {"model.timm_image.train_transforms": [transforms.RandomVerticalFlip()],
            "model.timm_image.val_transforms": [transforms.Grayscale(3), transforms.Resize((SIZE, SIZE))]}
    processor = make_processor(checkpoint, **keys).fit(frame(files))
    processor.save_assets(str(tmp_path))
    json.loads((tmp_path / "val_transforms.json").read_text())          # plain JSON, no pickle beside it
    assert not any(name.endswith(".pkl") for name in os.listdir(tmp_path))
    state = json.loads(json.dumps(processor.to_dict()))
    assert state["train_transforms"] == ["RandomVerticalFlip(p=0.5)"]

    def refuse(*args, **kwargs):
        raise AssertionError("loading must not unpickle anything")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = ImageProcessor.from_dict(state, str(tmp_path))
    monkeypatch.undo()
    assert [type(t) for t in loaded.val_transforms] == [transforms.Grayscale, transforms.Resize]
    a = processor.collate(processor.features(frame(files)), np.arange(5), training=False)["timm_image.images"]
    b = loaded.collate(loaded.features(frame(files)), np.arange(5), training=False)["timm_image.images"]
    torch.testing.assert_close(a, b)
    assert torch.equal(b[0, 0, 0], b[0, 0, 1])                 # grey: the object, not the defaults, was applied


def test_transforms_with_enums_tuples_dtypes_and_nested_transforms_round_trip_through_json():
    from automodal.data.image_transforms import dump_transforms, load_transforms

    given = [transforms.AutoAugment(), transforms.ColorJitter(0.1, 0.2), transforms.ConvertImageDtype(torch.float16),
             transforms.RandomApply([transforms.GaussianBlur(3)], p=0.3), transforms.Compose([transforms.Pad(2)]),
             transforms.RandomResizedCrop(16, interpolation=transforms.InterpolationMode.NEAREST)]
    rebuilt = load_transforms(dump_transforms(given))
    assert [repr(t) for t in rebuilt] == [repr(t) for t in given]
    assert rebuilt[2].dtype == torch.float16 and rebuilt[0].policies == given[0].policies


def test_a_lambda_val_transform_is_reported_at_save_and_falls_back_to_the_defaults(checkpoint, files, tmp_path,
                                                                                  caplog):
    keys = {"model.timm_image.val_transforms": [transforms.Lambda(lambda image: image.rotate(90))]}
    processor = make_processor(checkpoint, **keys).fit(frame(files))
    with caplog.at_level(logging.WARNING, logger="automodal"):
        processor.save_assets(str(tmp_path))
    assert "cannot be saved" in caplog.text and "model.timm_image.val_transforms" in caplog.text
    assert not os.path.exists(tmp_path / "val_transforms.json")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="automodal"):
        loaded = ImageProcessor.from_dict(json.loads(json.dumps(processor.to_dict())), str(tmp_path))
    assert loaded.val_transforms == ["resize_shorter_side", "center_crop"] and "instead" in caplog.text
    assert loaded.collate(loaded.features(frame(files)), np.arange(2), False)["timm_image.images"].shape[-1] == SIZE


@pytest.mark.parametrize("named", [
    {"transform": "os:system", "state": {}},                                       # not torchvision
    {"transform": "subprocess:Popen", "state": {}},
    {"transform": "torchvision.transforms.transforms:Tensor", "state": {}},         # torch.Tensor, re-exported
    {"transform": "torchvision.transforms._functional_pil:torch.ctypes", "state": {}},   # a dotted chain
    {"enum": "builtins:type", "value": 1},
])
def test_loading_refuses_saved_transforms_that_name_anything_but_torchvision_transforms(checkpoint, files, tmp_path,
                                                                                      named):
    keys = {"model.timm_image.val_transforms": [transforms.Grayscale(3)]}
    processor = make_processor(checkpoint, **keys).fit(frame(files))
    processor.save_assets(str(tmp_path))
    state = json.loads(json.dumps(processor.to_dict()))
    (tmp_path / "val_transforms.json").write_text(json.dumps([named]))
    with pytest.raises(AutomodalError, match="does not hold torchvision transforms"):
        ImageProcessor.from_dict(state, str(tmp_path))


def test_a_lambda_of_a_named_function_is_not_saved(checkpoint, files, tmp_path, caplog):
    keys = {"model.timm_image.val_transforms": [transforms.Lambda(os.path.basename)]}
    processor = make_processor(checkpoint, **keys).fit(frame(files))
    with caplog.at_level(logging.WARNING, logger="automodal"):
        processor.save_assets(str(tmp_path))
    assert "cannot be saved" in caplog.text and not (tmp_path / "val_transforms.json").exists()


# ---------------------------------------------------------------- checkpoint resolution

def test_a_local_directory_resolves_with_its_weights(checkpoint):
    resolved = resolve_checkpoint(checkpoint)
    assert resolved.architecture == "test_vit" and resolved.weights.endswith("model.safetensors")
    assert tuple(resolved.pretrained_cfg["input_size"]) == (3, SIZE, SIZE)


def test_local_directory_problems_name_the_directory(checkpoint, tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        resolve_checkpoint(str(tmp_path / "nowhere" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointNotFoundError, match="has no config.json"):
        resolve_checkpoint(str(tmp_path / "empty"))
    shutil.copy(os.path.join(checkpoint, "config.json"), tmp_path / "empty")
    with pytest.raises(CheckpointNotFoundError, match="no weights"):
        resolve_checkpoint(str(tmp_path / "empty"))


def test_unknown_model_names_are_config_errors():
    with pytest.raises(ConfigError, match="model.timm_image.checkpoint_name 'resnet_eighteen'"):
        resolve_checkpoint("resnet_eighteen")


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hub"


def test_offline_without_a_cached_copy_says_how_to_provide_it(empty_hub_cache):
    with pytest.raises(CheckpointNotFoundError) as error:
        resolve_checkpoint("test_resnet.r160_in1k")
    message = str(error.value)
    assert "'test_resnet.r160_in1k'" in message and "offline" in message and "set model.timm_image" in message


def test_offline_with_weights_in_the_hugging_face_cache(empty_hub_cache, tmp_path):
    import timm
    from safetensors.torch import save_file

    snapshot = empty_hub_cache / "models--timm--test_resnet.r160_in1k" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (empty_hub_cache / "models--timm--test_resnet.r160_in1k" / "refs").mkdir()
    (empty_hub_cache / "models--timm--test_resnet.r160_in1k" / "refs" / "main").write_text("0" * 40)
    reference = timm.create_model("test_resnet", pretrained=False)
    save_file(reference.state_dict(), str(snapshot / "model.safetensors"))

    resolved = resolve_checkpoint("test_resnet.r160_in1k")
    assert resolved.architecture == "test_resnet" and resolved.weights.startswith(str(empty_hub_cache))
    processor_inputs = {"timm_image": {"architecture": resolved.architecture, "model_args": {},
                                       "pretrained_cfg": resolved.to_config()["pretrained_cfg"],
                                       "weights": resolved.weights}}
    net = build_timm_image({}, processor_inputs)   # the cached weights are loaded, the classifier dropped
    torch.testing.assert_close(net.model.conv1[0].weight, reference.conv1[0].weight)


# ---------------------------------------------------------------- the backbone

def test_layer_groups_run_from_stem_to_final_norm_and_cover_every_parameter(checkpoint):
    inputs = {"timm_image": {"architecture": "test_vit", "model_args": {"img_size": SIZE}, "weights": None}}
    net = build_timm_image({}, inputs)
    groups = net.layer_groups()
    names = {id(p): n for n, p in net.model.named_parameters()}
    assert sorted(id(p) for g in groups for p in g) == sorted(names)
    assert any(names[id(p)].startswith("patch_embed") for p in groups[0])
    assert {names[id(p)].split(".")[1] for p in groups[1]} == {"0"}     # blocks.0
    assert all(names[id(p)].startswith(("norm", "fc_norm", "head")) for p in groups[-1])
    assert len(groups) == 2 + len(net.model.blocks)


def test_rows_average_the_features_of_their_images(checkpoint):
    inputs = {"timm_image": {"architecture": "test_vit", "model_args": {"img_size": SIZE}, "weights": None}}
    net = build_timm_image({}, inputs).eval()
    images = torch.randn(2, 2, 3, SIZE, SIZE)
    mask = torch.tensor([[True, True], [True, False]])
    with torch.no_grad():
        out = net({"timm_image.images": images, "timm_image.image_mask": mask})
        single = net.model(images.reshape(4, 3, SIZE, SIZE))
    torch.testing.assert_close(out[0], single[:2].mean(0))
    torch.testing.assert_close(out[1], single[2])
