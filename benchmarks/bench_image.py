"""Image benchmark on real data: hymenoptera (ants vs bees, ../shared/data/hymenoptera), accuracy.

    python benchmarks/bench_image.py [--epochs 10] [--size 96]

The broken placeholder image in the training set is left in: data.image.missing_value_strategy "skip" drops it
and the fit reports the count. No pretrained timm weights are available offline, so the backbone (resnet10t) is
trained from scratch on 244 images: the score measures the pipeline, not transfer learning.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import pandas as pd

from common import one_row_latency_ms, write_results

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "hymenoptera")


def frame() -> pd.DataFrame:
    labels = pd.read_csv(os.path.join(ROOT, "labels.csv"))
    labels["image"] = [os.path.join(ROOT, p) if not os.path.isabs(p) else p
                       for p in labels["image"]]
    return labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "image.json"))
    args = parser.parse_args()
    import timm
    from timm.models import save_for_hf

    from automodal import MultiModalPredictor

    data = frame()
    train = data[data["split"] == "train"].drop(columns=["split"])
    test = data[data["split"] == "val"].drop(columns=["split"])
    work = tempfile.mkdtemp(prefix="bench-image-")
    checkpoint = os.path.join(work, "resnet10t")
    save_for_hf(timm.create_model("resnet10t", pretrained=False, num_classes=0), checkpoint,
                safe_serialization=True, data_config={"input_size": (3, args.size, args.size)})
    hyperparameters = {
        "model.timm_image.checkpoint_name": checkpoint, "optimization.max_epochs": args.epochs,
        "optimization.learning_rate": 2e-3, "optimization.top_k": 3, "env.per_gpu_batch_size": 32,
        "env.batch_size": 32, "env.num_workers": 2, "env.num_workers_evaluation": 2,
    }
    started = time.perf_counter()
    predictor = MultiModalPredictor(label="label", eval_metric="accuracy", path=os.path.join(work, "model"),
                                    verbosity=1).fit(train, hyperparameters=hyperparameters)
    fit_seconds = time.perf_counter() - started
    summary = predictor.fit_summary()
    loaded = MultiModalPredictor.load(os.path.join(work, "model"), verbosity=1)
    result = {
        "dataset": "hymenoptera", "train_rows": len(train), "test_rows": len(test),
        "accuracy": round(loaded.evaluate(test, "accuracy")["accuracy"], 4),
        "majority_baseline": round(test["label"].value_counts(normalize=True).max(), 4),
        "train_rows_used": summary["train_rows"], "epochs": args.epochs, "input_size": args.size,
        "fit_seconds": round(fit_seconds, 1), "train_samples_per_s": summary["train_samples_per_second"],
        **one_row_latency_ms(loaded, test, 50),
    }
    write_results(args.out, result)


if __name__ == "__main__":
    main()
