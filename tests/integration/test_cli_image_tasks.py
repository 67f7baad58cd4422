"""The command line on object detection and semantic segmentation: create from a COCO file or a table (the problem
type detected, folds over images), train / test / predict per fold with the family's metrics, the prediction files,
post's ensembles (boxes fused, probabilities averaged), info's sample figures, tl from a model of the same kind,
and the errors a user can cause."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from automodal import MultiModalPredictor
from automodal.cli.main import main
from automodal.demo_scenes import shape_images, small_sam

DETECTION = ["hp.env.per_gpu_batch_size=4", "hp.env.num_workers=0", "hp.env.num_workers_evaluation=0",
             "hp.optimization.learning_rate=2e-3", "hp.optimization.max_epochs=6"]
# LoRA named: on the tiny SAM's random encoder the default would train the whole network, and transfer learning
# is checked here on adapters merged into the encoder
SEGMENTATION = ["hp.env.num_workers=0", "hp.env.num_workers_evaluation=0", "hp.optimization.learning_rate=3e-3",
                "hp.optimization.max_epochs=6", "hp.optimization.efficient_finetune=lora"]
PER_FOLD = ["mode.nested=false", "mode.subroutines=[train,test,predict]"]


def run(*args, home):
    return main([*map(str, args), f"root={home}"])


def coco(frame, path, categories=(("square", 7), ("disc", 3))):
    """A COCO file of the frame's images (file names relative to it, ids from 100) and boxes."""
    ids = dict(categories)
    images, annotations = [], []
    for i, (image, rois) in enumerate(zip(frame["image"], frame["rois"])):
        images.append({"id": 100 + i, "file_name": os.path.relpath(image, os.path.dirname(path)), "width": 64,
                       "height": 64})
        for x1, y1, x2, y2, cls in rois:
            annotations.append({"id": len(annotations) + 1, "image_id": 100 + i, "category_id": ids[cls],
                                "bbox": [x1, y1, x2 - x1, y2 - y1]})
    with open(path, "w") as handle:
        json.dump({"images": images, "annotations": annotations,
                   "categories": [{"id": i, "name": n} for n, i in categories]}, handle)
    return path


def table(frame, path):
    """A CSV of the frame with paths relative to it and boxes as JSON text."""
    out = frame.copy()
    for column in ("image", "mask", "binary_mask"):
        out[column] = out[column].map(lambda p: os.path.relpath(p, os.path.dirname(path)))
    out["rois"] = out["rois"].map(json.dumps)
    out.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    train = shape_images(str(root / "train"), 24, seed=0)
    test = shape_images(str(root / "test"), 6, seed=1)
    detector = root / "fcos"
    detector.mkdir()
    (detector / "detector.json").write_text(json.dumps({"architecture": "fcos_resnet50_fpn", "min_size": 64,
                                                        "max_size": 64, "backbone_channels": [16, 32, 64]}))
    return {"root": root, "train": train, "test": test, "coco": coco(train, str(root / "train.json")),
            "coco_test": coco(test, str(root / "test.json")), "csv": table(train, str(root / "train.csv")),
            "csv_test": table(test, str(root / "test.csv")), "detector": str(detector),
            "sam": small_sam(str(root / "sam"))}


def task_json(home, proj, task):
    return json.loads((home / proj / "tasks" / task / "task.json").read_text())


# ---------------------------------------------------------------- detection
def test_detection_from_a_coco_file_through_every_mode(shapes, tmp_path, capsys):
    home = tmp_path / "home"
    assert run("create", "proj=d", "task_list=[shapes]", f"data.shapes.path={shapes['coco']}",
               f"data.shapes.test={shapes['coco_test']}", "mode.n_folds=2", home=home) == 0
    assert "object_detection, detected from data.shapes.path" in capsys.readouterr().out
    task = task_json(home, "d", "shapes")
    assert task["problem_type"] == "object_detection" and task["label"] == "rois"
    assert task["classes"] == ["disc", "square"]                    # COCO's category order: by id (disc 3, square 7)
    rows = pd.read_parquet(home / "d" / "tasks" / "shapes" / "rows.parquet")
    assert len(rows) == 24 and sorted(rows["row"]) == list(range(24)) and set(rows["fold"]) == {0, 1}
    stored = pd.read_parquet(home / "d" / "datasets" / "shapes" / "train.parquet")
    assert all(os.path.isabs(p) and os.path.exists(p) for p in stored["image"])
    assert stored["image_id"].tolist() == list(range(100, 124))

    detector = f"hp.model.mmdet_image.checkpoint_name={shapes['detector']}"
    assert run("train", "proj=d", "task_list=[shapes]", *PER_FOLD, *DETECTION, detector, home=home) == 0
    summary = json.loads((home / "d" / "metrics" / "shapes" / "summary.json").read_text())
    assert {"map", "map_50", "map_75", "mar_100"} <= set(summary["metrics"])
    assert len(summary["metrics"]["map_50"]["per_fold"]) == 2
    assert summary["metrics"]["map_50"]["mean"] > 0.15, summary["metrics"]["map_50"]   # untrained: about 0
    record = json.loads((home / "d" / "models" / "shapes" / "fold0.json").read_text())
    assert record["eval_metric"] == "map" and record["greater_is_better"] is True

    predictions = home / "d" / "predictions" / "shapes"
    test = pd.read_parquet(predictions / "fold0" / "test.parquet")
    assert len(test) == 6 and sorted(test["row"]) == list(range(6)) and (test["bbox_format"] == "xyxy").all()
    boxes = [json.loads(cell) for cell in test["bboxes"]]
    assert sum(map(len, boxes)) > 0 and test["boxes"].tolist() == [len(b) for b in boxes]
    assert {k for b in boxes for box in b for k in box} == {"class", "class_id", "bbox", "score"}
    results = json.loads((predictions / "fold0" / "test.coco.json").read_text())
    assert len(results) == sum(map(len, boxes))
    assert {r["category_id"] for r in results} <= {3, 7} and {r["image_id"] for r in results} <= set(range(100, 106))
    assert len(pd.read_parquet(predictions / "fold1" / "val.parquet")) == (rows["fold"] == 1).sum()

    capsys.readouterr()
    assert run("post", "proj=d", "task_list=[shapes]", home=home) == 0            # calibrate and ensemble
    assert "calibrate is skipped" in capsys.readouterr().out
    ensemble = json.loads((home / "d" / "metrics" / "shapes" / "ensemble.json").read_text())
    assert ensemble["method"] == "weighted box fusion" and len(ensemble["members"]) == 2
    assert ensemble["held_out"]["map_50"] > 0.15 and len(ensemble["members_held_out"]) == 2
    fused = pd.read_parquet(predictions / "ensemble" / "test.parquet")
    assert len(fused) == 6 and (predictions / "ensemble" / "test.coco.json").exists()

    assert run("info", "proj=d", "mode.subroutines=[tasks,samples]", home=home) == 0
    for figure in ("samples/shapes.png", "samples/grid.png", "tasks/shapes.labels.png"):
        assert (home / "d" / "info" / figure).stat().st_size > 5000, figure

    # tl: a task from a table of boxes starts from fold 0's detector, backbone and neck frozen
    assert run("create", "proj=d", "task_list=[boxes]", f"data.boxes.path={shapes['csv']}", "data.boxes.label=rois",
               f"data.boxes.test={shapes['csv_test']}", "mode.n_folds=2", home=home) == 0
    assert task_json(home, "d", "boxes")["problem_type"] == "object_detection"
    assert run("tl", "proj=d", "task_list=[boxes]", "mode.pretrain_task=shapes", "mode.freeze=true",
               "mode.model_selection=created", "mode.cv=false", "mode.nested=false", *DETECTION,
               "hp.optimization.max_epochs=2", home=home) == 0
    source = json.loads((home / "d" / "models" / "boxes" / "fold0.json").read_text())["pretrained_from"]
    start = MultiModalPredictor.load(str(home / "d" / "models" / source.replace("/", os.sep))).learner.model
    tuned = MultiModalPredictor.load(str(home / "d" / "models" / "boxes" / "fold0")).learner.model.state_dict()
    body = {k: v for k, v in start.state_dict().items() if k.startswith("backbone.body") and k.endswith("weight")}
    assert body and all(torch.equal(tuned[k], v) for k, v in body.items())


def test_detection_tables_merge_the_rows_of_an_image(shapes, tmp_path, capsys):
    home = tmp_path / "home"
    frame = pd.read_csv(shapes["csv"])
    rois = json.loads(frame.loc[0, "rois"])
    split = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)       # image 0's boxes on two rows
    split.loc[0, "rois"], split.loc[len(split) - 1, "rois"] = json.dumps(rois[:1]), json.dumps(rois[1:])
    split.to_csv(shapes["root"] / "split.csv", index=False)
    assert run("create", "proj=m", "task_list=[t]", f"data.t.path={shapes['root'] / 'split.csv'}",
               "data.t.label=rois", "mode.n_folds=3", home=home) == 0
    assert "their boxes are joined" in capsys.readouterr().out
    stored = pd.read_parquet(home / "m" / "datasets" / "t" / "train.parquet")
    assert len(stored) == 24 and len(json.loads(stored.loc[0, "rois"])) == len(rois)


# ---------------------------------------------------------------- segmentation
def test_segmentation_from_a_table_of_masks_through_every_mode(shapes, tmp_path, capsys):
    home = tmp_path / "home"
    sam = f"hp.model.sam.checkpoint_name={shapes['sam']}"
    assert run("create", "proj=s", "task_list=[discs]", f"data.discs.path={shapes['csv']}",
               "data.discs.label=binary_mask", f"data.discs.test={shapes['csv_test']}", "mode.n_folds=2",
               home=home) == 0
    task = task_json(home, "s", "discs")
    assert task["problem_type"] == "semantic_segmentation" and task["classes"] == [0, 255]
    stored = pd.read_parquet(home / "s" / "datasets" / "discs" / "train.parquet")
    assert all(os.path.isabs(p) for p in stored["binary_mask"])
    assert run("train", "proj=s", "task_list=[discs]", *PER_FOLD, *SEGMENTATION, sam, home=home) == 0
    summary = json.loads((home / "s" / "metrics" / "discs" / "summary.json").read_text())["metrics"]
    assert set(summary) == {"iou", "dice", "ber", "sm"}
    assert summary["iou"]["mean"] > 0.2 and summary["ber"]["mean"] < 0.4, summary     # all background: iou 0, ber 0.5

    predictions = home / "s" / "predictions" / "discs"
    test = pd.read_parquet(predictions / "fold0" / "test.parquet")
    assert len(test) == 6
    for path, lengths, image in zip(test["mask"], test["run_lengths"], test["image"]):
        mask = np.asarray(Image.open(path))
        assert mask.shape == Image.open(image).size[::-1] and set(np.unique(mask)) <= {0, 255}
        runs = json.loads(lengths)
        assert np.array_equal(np.repeat(runs["values"], runs["counts"]).reshape(runs["size"]), mask)
    with np.load(predictions / "fold0" / "test.proba.npz") as stored_proba:
        assert sorted(stored_proba.files, key=int) == [str(r) for r in range(6)]
        assert stored_proba["0"].shape == (2, 64, 64)
        np.testing.assert_allclose(stored_proba["0"].sum(0), 1, atol=2e-3)

    assert run("post", "proj=s", "task_list=[discs]", "mode.subroutines=[ensemble]", home=home) == 0
    ensemble = json.loads((home / "s" / "metrics" / "discs" / "ensemble.json").read_text())
    assert ensemble["selection_rows"] + ensemble["held_out_rows"] == 6 and ensemble["held_out"]["iou"] > 0.2
    members = [int(m.rsplit("fold", 1)[1]) for m in ensemble["members"]]
    mixed = np.load(predictions / "ensemble" / "test.proba.npz")["3"].astype(np.float32)
    expected = sum(w * np.load(predictions / f"fold{m}" / "test.proba.npz")["3"].astype(np.float32)
                   for w, m in zip(ensemble["weights"], members))
    np.testing.assert_allclose(mixed, expected, atol=2e-3)           # the members' weighted mean, pixel by pixel
    ensemble_masks = pd.read_parquet(predictions / "ensemble" / "test.parquet")
    assert len(ensemble_masks) == 6 and all(os.path.exists(p) for p in ensemble_masks["mask"])

    assert run("info", "proj=s", "mode.subroutines=[samples]", "mode.info_grid=false", home=home) == 0
    assert (home / "s" / "info" / "samples" / "discs.png").stat().st_size > 5000

    # tl: three classes (background, square, disc) starting from the binary model's SAM, adapters merged in
    assert run("create", "proj=s", "task_list=[shapes]", f"data.shapes.path={shapes['csv']}", "data.shapes.label=mask",
               "data.shapes.problem_type=semantic_segmentation", "mode.n_folds=2", home=home) == 0
    assert run("tl", "proj=s", "task_list=[shapes]", "mode.pretrain_task=discs", "mode.cv=false", "mode.nested=false",
               *SEGMENTATION, "hp.optimization.max_epochs=1", home=home) == 0
    source = json.loads((home / "s" / "models" / "shapes" / "fold0.json").read_text())["pretrained_from"]
    start = MultiModalPredictor.load(str(home / "s" / "models" / source.replace("/", os.sep))).learner.model
    tuned = MultiModalPredictor.load(str(home / "s" / "models" / "shapes" / "fold0"))
    assert tuned.class_labels == [0, 1, 2]
    qkv = "sam.vision_encoder.layers.0.attn.qkv"
    lora = start.get_submodule(qkv)
    merged = lora.base_layer.weight + (lora.lora_B["default"].weight @ lora.lora_A["default"].weight) * \
        lora.scaling["default"]
    # the encoder's base weights are frozen under LoRA: the new model's are the pretrained model's, merged
    torch.testing.assert_close(tuned.learner.model.get_submodule(qkv).base_layer.weight, merged)


# ---------------------------------------------------------------- errors a user can cause
def test_image_task_errors_name_the_option_column_or_file(shapes, tmp_path, capsys):
    home = tmp_path / "home"

    def error(*args, code):
        assert run(*args, home=home) == code
        return capsys.readouterr().err

    assert "data.x.problem_type" in error("create", "proj=e", "task_list=[x]", f"data.x.path={shapes['csv']}",
                                          "data.x.label=rois", "data.x.problem_type=boxes", code=2)
    assert "COCO file" in error("create", "proj=e", "task_list=[x]", f"data.x.path={shapes['coco']}",
                                "data.x.problem_type=semantic_segmentation", code=2)
    frame = pd.read_csv(shapes["csv"])
    frame.loc[3, "image"] = "train/missing.png"
    frame.to_csv(shapes["root"] / "missing.csv", index=False)
    message = error("create", "proj=e", "task_list=[x]", f"data.x.path={shapes['root'] / 'missing.csv'}",
                    "data.x.label=rois", code=1)
    assert "missing.png" in message and "'image'" in message and "data.x.path" in message
    assert "'boxes'" in error("create", "proj=e", "task_list=[x]", f"data.x.path={shapes['csv']}",
                              "data.x.label=boxes", "data.x.problem_type=object_detection", code=1)
    Image.fromarray(np.zeros((10, 12), dtype=np.uint8)).save(shapes["root"] / "small.png")
    frame = pd.read_csv(shapes["csv"])
    frame.loc[0, "binary_mask"] = "small.png"
    frame.to_csv(shapes["root"] / "small.csv", index=False)
    message = error("create", "proj=e", "task_list=[x]", f"data.x.path={shapes['root'] / 'small.csv'}",
                    "data.x.label=binary_mask", code=1)
    assert "small.png" in message and "size of its image" in message
    assert not (home / "e" / "datasets" / "x").exists()
    assert run("create", "proj=e", "task_list=[ok]", f"data.ok.path={shapes['coco']}", "mode.n_folds=2",
               home=home) == 0
    assert "mode.multitask" in error("train", "proj=e", "task_list=[ok]", "mode.multitask=2", code=2)
    capsys.readouterr()
    assert run("pp", "proj=e", "task_list=[ok]", home=home) == 0
    assert "object_detection models decode their images themselves" in capsys.readouterr().out
