"""Detection and segmentation with default settings and no pretrained weights: what a new user gets offline.

    python benchmarks/bench_image_offline.py [--train 200] [--test 40] [--size 128] [--seed 0] [--processes 1 2]

Generated scenes (automodal.demo_scenes: 1-2 squares and discs on noise per image). A default
MultiModalPredictor(problem_type="object_detection").fit(frame) finds the default detector's COCO weights missing
and trains the small FCOS sized from the data; a default semantic_segmentation fit on the same scenes' binary masks
finds no Segment Anything checkpoint and trains the U-Net. No hyperparameters are given. Scores are on held-out
scenes; fit seconds include reading the data and choosing the checkpoints. The load average of the machine is
recorded beside them, since other work on the same cores slows every fit.

With --processes 1 2, each family is also fitted in two CPU processes (env.strategy ddp_spawn, env.num_processes 2),
each process taking half of the one-process fit's batch, so that both take the same optimizer steps.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

# nothing may come from a hub or cache: the Hugging Face hub offline, and an empty torch hub directory, so the
# default detector's COCO weights are not found (a machine with network access would download them: checked below)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="bench-torch-home-")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from common import write_results  # noqa: E402


def load() -> list:
    return [round(v, 2) for v in os.getloadavg()]


def in_processes(processes: int, batch: int | None) -> dict:
    """The keys of a fit in `processes` CPU processes that share the one-process fit's batch of `batch` images."""
    if processes == 1:
        return {}
    return {"env.strategy": "ddp_spawn", "env.num_processes": processes,
            "env.per_gpu_batch_size": max(1, batch // processes), "env.batch_size": batch}


def detection(train, test, work: str, keys: dict) -> dict:
    from automodal import MultiModalPredictor

    started, load_before = time.perf_counter(), load()
    predictor = MultiModalPredictor(problem_type="object_detection", path=os.path.join(work, "detector"),
                                    hyperparameters=keys, verbosity=1).fit(train[["image", "rois"]])
    seconds = time.perf_counter() - started
    summary = predictor.fit_summary()
    if "detector.architecture" not in summary["chosen_defaults"]:
        raise SystemExit("The default detector's pretrained weights were found or downloaded; this benchmark "
                         "measures the fit without them. Run it on a machine without network access.")
    scores = MultiModalPredictor.load(predictor.path, verbosity=1).evaluate(test[["image", "rois"]])
    chosen = summary["chosen_defaults"]
    return {"map_50": round(scores["map_50"], 4), "map": round(scores["map"], 4), "fit_seconds": round(seconds, 1),
            "epochs": summary["epochs"], "stop_reason": summary["stop_reason"],
            "train_samples_per_second": summary["train_samples_per_second"],
            "processes": summary["processes"], "batch": summary["config"]["env"]["batch_size"],
            "input_size": chosen["detector.input_size"]["value"],
            "backbone_channels": chosen["detector.backbone_channels"]["value"],
            "load_average_before": load_before, "load_average_after": load()}


def segmentation(train, test, work: str, keys: dict) -> dict:
    from automodal import MultiModalPredictor

    started, load_before = time.perf_counter(), load()
    predictor = MultiModalPredictor(problem_type="semantic_segmentation", label="binary_mask",
                                    path=os.path.join(work, "segmenter"), hyperparameters=keys, verbosity=1).fit(
        train[["image", "binary_mask"]])
    seconds = time.perf_counter() - started
    summary = predictor.fit_summary()
    scores = MultiModalPredictor.load(predictor.path, verbosity=1).evaluate(test[["image", "binary_mask"]])
    foreground = float(np.mean([np.mean(np.asarray(Image.open(m)) > 0) for m in test["binary_mask"]]))
    chosen = summary["chosen_defaults"]
    return {"iou": round(scores["iou"], 4), "dice": round(scores["dice"], 4),
            "iou_every_pixel_foreground": round(foreground, 4), "fit_seconds": round(seconds, 1),
            "epochs": summary["epochs"], "stop_reason": summary["stop_reason"],
            "train_samples_per_second": summary["train_samples_per_second"],
            "processes": summary["processes"], "batch": summary["config"]["env"]["batch_size"],
            "input_size": chosen["segmenter.input_size"]["value"], "widths": chosen["segmenter.widths"]["value"],
            "load_average_before": load_before, "load_average_after": load()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--test", type=int, default=40)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, nargs="+", default=[1],
                        help="fit each family in each number of CPU processes (1 first: the others share its batch)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "image_offline.json"))
    args = parser.parse_args()
    from automodal.demo_scenes import shape_images

    work = tempfile.mkdtemp(prefix="bench-image-offline-")
    train = shape_images(os.path.join(work, "train"), args.train, size=args.size, seed=args.seed)
    test = shape_images(os.path.join(work, "test"), args.test, size=args.size, seed=args.seed + 1)
    results = {"train_images": args.train, "test_images": args.test, "image_px": args.size,
               "cpu_count": os.cpu_count()}
    for name, run in (("detection", detection), ("segmentation", segmentation)):
        batch = None
        for processes in sorted(set([1, *args.processes])):
            result = run(train, test, os.path.join(work, f"{processes}"), in_processes(processes, batch))
            batch = batch or result["batch"]
            results[name if processes == 1 else f"{name}_{processes}_processes"] = result
            print(name, result, flush=True)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
