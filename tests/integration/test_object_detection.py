"""problem_type="object_detection": a small FCOS learns generated shapes; keys, data forms and errors."""

import json
import logging
import os

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from automodal import MultiModalPredictor
from automodal.errors import AutomodalError, CheckpointNotFoundError, ConfigError, DataError
from automodal.learners.detection import models
from automodal.learners.detection.learner import DetectionLearner
from automodal.demo_scenes import shape_images

FAST = {"env.per_gpu_batch_size": 4, "env.num_workers": 0, "env.num_workers_evaluation": 0,
        "optimization.learning_rate": 2e-3, "optimization.patience": 100}


def small_detector(directory: str, weights: dict | None = None) -> str:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, models.SPEC_FILE), "w") as handle:
        json.dump({"architecture": "fcos_resnet50_fpn", "backbone_channels": [16, 32, 64], "min_size": 64,
                   "max_size": 64}, handle)
    if weights is not None:
        save_file(weights, os.path.join(directory, models.WEIGHTS_FILE))
    return directory


def box_iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return shape_images(str(root / "train"), 120, seed=0, empty_every=10), shape_images(str(root / "test"), 30,
                                                                                         seed=1)


@pytest.fixture(scope="module")
def fitted(shapes, tmp_path_factory):
    root = tmp_path_factory.mktemp("detector")
    predictor = MultiModalPredictor(problem_type="object_detection", path=str(root / "model"), hyperparameters=dict(
        FAST, **{"model.mmdet_image.checkpoint_name": small_detector(str(root / "checkpoint")),
                 "model.mmdet_image.output_bbox_format": "xywh", "optimization.max_epochs": 18}))
    return predictor.fit(shapes[0], seed=0)


def test_a_small_detector_learns_shapes_and_reloads_identically(fitted, shapes):
    assert isinstance(fitted._learner, DetectionLearner) and type(fitted) is MultiModalPredictor
    scores = fitted.evaluate(shapes[1])
    assert scores["map_50"] >= 0.8, scores
    assert set(scores) >= {"map", "map_50", "map_75", "mar_100"}
    assert fitted.class_labels == ["disc", "square"]
    predictions = fitted.predict(shapes[1])
    assert list(predictions.columns) == ["image", "bboxes"] and len(predictions) == len(shapes[1])
    loaded = MultiModalPredictor.load(fitted.path)
    assert isinstance(loaded._learner, DetectionLearner)
    assert loaded.predict(shapes[1]).bboxes.tolist() == predictions.bboxes.tolist()
    summary = loaded.fit_summary()
    assert summary["problem_type"] == "object_detection" and summary["eval_metric"] == "map"


def test_output_bbox_format_xywh_gives_widths_and_heights(fitted, shapes):
    test = shapes[1]
    matched = 0
    for boxes, rois in zip(fitted.predict(test).bboxes, test.rois):
        x, y, w, h = max(boxes, key=lambda b: b["score"])["bbox"]
        best = max(box_iou([x, y, x + w, y + h], roi[:4]) for roi in rois)
        matched += best > 0.5
    assert matched >= 0.8 * len(test)
    records = fitted.predict(test.head(2), as_coco=True)
    assert records and set(records[0]) == {"image_id", "category_id", "bbox", "score"}


def test_frozen_layers_keep_their_weights_from_a_coco_json(shapes, tmp_path):
    torch.manual_seed(0)
    spec = {"architecture": "fcos_resnet50_fpn", "backbone_channels": [16, 32, 64], "min_size": 64, "max_size": 64}
    start = {k: v.clone() for k, v in models.build(spec, 2).state_dict().items()}
    checkpoint = small_detector(str(tmp_path / "checkpoint"), start)
    train = shapes[0].head(40)
    names = ["disc", "square"]
    coco = {"images": [{"id": 100 + i, "file_name": os.path.relpath(p, tmp_path), "width": 64, "height": 64}
                       for i, p in enumerate(train.image)],
            "annotations": [{"id": len(rois) * 1000 + j, "image_id": 100 + i, "bbox": [x1, y1, x2 - x1, y2 - y1],
                             "category_id": names.index(c) + 7, "iscrowd": 0}
                            for i, rois in enumerate(train.rois) for j, (x1, y1, x2, y2, c) in enumerate(rois)],
            "categories": [{"id": 7, "name": "disc"}, {"id": 8, "name": "square"}]}
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(coco))
    predictor = MultiModalPredictor(problem_type="object_detection", path=str(tmp_path / "model"), hyperparameters=dict(
        FAST, **{"model.mmdet_image.checkpoint_name": checkpoint, "optimization.max_epochs": 1,
                 "model.mmdet_image.frozen_layers": ["backbone", "neck"]}))
    predictor.fit(str(path))
    trained = MultiModalPredictor.load(predictor.path)._learner.model.state_dict()
    for name, value in start.items():
        if name.startswith(("backbone.body", "backbone.neck")) and value.is_floating_point():
            assert torch.equal(trained[name], value), name
    assert not torch.equal(trained["head.classification_head.cls_logits.weight"],
                           start["head.classification_head.cls_logits.weight"])
    assert predictor.fit_summary()["trainable_parameters"] < predictor.fit_summary()["num_parameters"]
    records = predictor.predict(str(path), as_coco=True)
    assert {r["image_id"] for r in records} <= set(range(100, 140))
    assert {r["category_id"] for r in records} <= {7, 8}


def test_frozen_layers_must_name_a_part_and_keys_without_effect_are_named(shapes, tmp_path, caplog):
    predictor = MultiModalPredictor(problem_type="object_detection", hyperparameters=dict(
        FAST, **{"model.mmdet_image.checkpoint_name": small_detector(str(tmp_path / "c")),
                 "model.mmdet_image.frozen_layers": ["encoder"], "model.sam.ignore_label": 3,
                 "optimization.efficient_finetune": "lora"}))
    with caplog.at_level(logging.WARNING, logger="automodal"), \
            pytest.raises(ConfigError, match="encoder.*backbone, neck, head"):
        predictor.fit(shapes[0].head(8), save_path=str(tmp_path / "m"))
    assert "model.sam.ignore_label is set" in caplog.text
    assert "optimization.efficient_finetune is set, but it does nothing in object_detection" in caplog.text


@pytest.fixture
def no_coco_weights(monkeypatch, tmp_path):
    """An empty torch hub cache and no network: torchvision's COCO weights are out of reach."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)


def test_mmdetection_names_map_to_torchvision(no_coco_weights):
    assert models.resolve("yolov3_mobilenetv2_8xb24-320-300e_coco")["architecture"] == \
        "ssdlite320_mobilenet_v3_large"
    assert models.resolve("yolox_l")["architecture"] == "fcos_resnet50_fpn"
    assert models.resolve("fasterrcnn_resnet50_fpn")["architecture"] == "fasterrcnn_resnet50_fpn"
    with pytest.raises(ConfigError, match="yolox_l"):
        models.resolve("yolox_lx")
    with pytest.raises(CheckpointNotFoundError, match="could not be downloaded.*hub/checkpoints/ssdlite320"):
        models.weights_file(models.resolve("yolov3_mobilenetv2_8xb24-320-300e_coco"))


def test_without_the_default_weights_a_small_fcos_sized_from_the_data_learns(no_coco_weights, tmp_path, caplog):
    train = shape_images(str(tmp_path / "train"), 48, size=64, seed=0)[["image", "rois"]]
    test = shape_images(str(tmp_path / "test"), 12, size=64, seed=1)[["image", "rois"]]
    predictor = MultiModalPredictor(problem_type="object_detection", path=str(tmp_path / "model"),
                                    hyperparameters={"optimization.max_epochs": 10})
    with caplog.at_level(logging.WARNING, logger="automodal"):
        predictor.fit(train, seed=0)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "could not be downloaded" in said[0] and "small FCOS" in said[0], said
    chosen = predictor.fit_summary()["chosen_defaults"]
    assert "FCOS" in chosen["detector.architecture"]["value"]
    assert chosen["detector.input_size"]["value"] == [64, 64]
    assert chosen["detector.backbone_channels"]["value"] == [16, 32, 64]
    assert chosen["optimization.learning_rate"]["value"] == 2e-3 and "optimization.patience" in chosen
    assert "optimization.max_epochs" not in chosen          # the user's value stays
    scores = predictor.evaluate(test)
    assert scores["map_50"] > 0.2, scores                   # a detector that finds nothing scores 0
    # the saved predictor rebuilds the small network, with no weights to look for
    loaded = MultiModalPredictor.load(predictor.path)
    assert loaded.predict(test).bboxes.tolist() == predictor.predict(test).bboxes.tolist()


def test_a_named_checkpoint_without_its_weights_is_never_replaced(no_coco_weights, shapes, tmp_path):
    predictor = MultiModalPredictor(problem_type="object_detection", path=str(tmp_path / "model"),
                                    hyperparameters={"model.mmdet_image.checkpoint_name": "yolox_s"})
    with pytest.raises(CheckpointNotFoundError, match="fcos_resnet50_fpn are not in the torch hub cache"):
        predictor.fit(shapes[0].head(8))


def test_boxes_outside_the_image_are_clipped_or_dropped(shapes, caplog):
    from automodal.learners.detection.data import BOXES, read_frame

    frame = pd.DataFrame({"image": shapes[0].image[:2],
                          "rois": [[[-5, 10, 20, 30, "disc"], [70, 70, 90, 90, "disc"]],
                                   json.dumps([[10, 10, 10, 20, "square"], [1, 2, 30, 40, "square"]])]})
    with caplog.at_level(logging.WARNING, logger="automodal"):
        parsed, _ = read_frame(frame, "rois", "train_data", labelled=True)
    assert parsed[BOXES].iloc[0].tolist() == [[0, 10, 20, 30]]
    assert parsed[BOXES].iloc[1].tolist() == [[1, 2, 30, 40]]
    assert "clipped 1" in caplog.text and "dropped 2" in caplog.text


@pytest.mark.parametrize("rois, message", [
    ("[[1, 2, 3]]", "not a box"),
    ("not json", "not a list of boxes"),
    ([[1, "a", 3, 4, "disc"]], "not numbers"),
])
def test_malformed_boxes_are_named(shapes, rois, message):
    from automodal.learners.detection.data import read_frame

    frame = pd.DataFrame({"image": shapes[0].image[:1], "rois": [rois]})
    with pytest.raises(DataError, match=message):
        read_frame(frame, "rois", "train_data", labelled=True)


def test_bad_detection_input_gets_clear_errors(fitted, shapes, tmp_path):
    with pytest.raises(DataError, match="do not exist.*missing.png"):
        fitted.predict(pd.DataFrame({"image": [str(tmp_path / "missing.png")]}))
    unknown = shapes[1].head(2).assign(rois=[[[1, 1, 20, 20, "triangle"]]] * 2)
    with pytest.raises(DataError, match="not trained on.*triangle"):
        fitted.evaluate(unknown)
    with pytest.raises(DataError, match="no 'image' column"):
        fitted.predict(pd.DataFrame({"path": shapes[1].image}))
    with pytest.raises(AutomodalError, match="column_types"):
        MultiModalPredictor(problem_type="object_detection").fit(shapes[0], column_types={"image": "image_path"})
    with pytest.raises(AutomodalError, match="predict"):
        fitted.predict_proba(shapes[1])
    with pytest.raises(AutomodalError, match="not a object_detection metric|not an object_detection metric"):
        fitted.evaluate(shapes[1], metrics="accuracy")
    # one image path predicts too
    assert len(fitted.predict(shapes[1].image[0])) == 1


def test_the_detector_exports_to_onnx_and_runtime_finds_the_same_boxes(fitted, shapes, tmp_path):
    import onnxruntime as ort
    from PIL import Image

    target = fitted.export_onnx(shapes[1].head(3), path=str(tmp_path / "exported"))
    meta = json.load(open(os.path.join(str(tmp_path / "exported"), "automodal.json")))
    assert meta["classes"] == ["disc", "square"]
    session = ort.InferenceSession(target, providers=["CPUExecutionProvider"])
    image = shapes[1]["image"].iloc[0]
    pixels = torch.from_numpy(np.asarray(Image.open(image).convert("RGB"))).permute(2, 0, 1)
    boxes, labels, scores = session.run(None, {"image": (pixels.float() / 255).numpy()})
    expected = fitted.predict(shapes[1].head(1))["bboxes"].iloc[0]
    assert len(expected) > 0 and len(boxes) == len(expected)
    assert [meta["classes"][int(label) - 1] for label in labels] == [box["class"] for box in expected]
    # predict() rounds boxes to 2 decimals and this predictor reports xywh
    xywh = np.array([[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in boxes])
    np.testing.assert_allclose(xywh, np.array([box["bbox"] for box in expected]), atol=0.02)


def test_bfloat16_on_the_cpu_is_refused_with_what_to_use_instead(shapes, tmp_path):
    predictor = MultiModalPredictor(problem_type="object_detection", path=str(tmp_path / "model"), hyperparameters=dict(
        FAST, **{"model.mmdet_image.checkpoint_name": small_detector(str(tmp_path / "checkpoint")),
                 "env.precision": "bf16-true", "env.num_gpus": 0}))
    with pytest.raises(ConfigError, match="bf16-true: torchvision's detectors cannot run their non-maximum"):
        predictor.fit(shapes[0].head(10))
    assert not os.path.exists(tmp_path / "model")
