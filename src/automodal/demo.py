"""The main job: fit, evaluate, save, load and predict on scikit-learn's bundled breast cancer data.

Run with `python -m automodal.demo [output_dir]`.
"""

from __future__ import annotations

import sys
import tempfile
import time


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from automodal import MultiModalPredictor

    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    train, test = train_test_split(frame, test_size=0.25, random_state=0, stratify=frame["target"])
    path = argv[0] if argv else tempfile.mkdtemp(prefix="automodal-demo-")

    started = time.time()
    predictor = MultiModalPredictor(label="target", eval_metric="roc_auc", path=path)
    predictor.fit(train, hyperparameters={
        "optimization.learning_rate": 1e-3,
        "optimization.max_epochs": 15,
        "env.per_gpu_batch_size": 32,
        "env.batch_size": 32,
        "env.num_workers": 0,
    })
    fit_seconds = time.time() - started
    scores = predictor.evaluate(test, metrics=["roc_auc", "accuracy"])

    reloaded = MultiModalPredictor.load(path)
    same = (reloaded.predict_proba(test).to_numpy() == predictor.predict_proba(test).to_numpy()).all()
    print(f"breast cancer, {len(train)} training rows, fit in {fit_seconds:.1f} s")
    print(f"test roc_auc = {scores['roc_auc']:.4f}, accuracy = {scores['accuracy']:.4f}")
    print(f"saved to {path}; reloaded predictions identical: {bool(same)}")
    print("first predictions:", reloaded.predict(test.head(5)).tolist())
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
