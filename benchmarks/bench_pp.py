"""A second `train` on an image task with and without the `pp` image store: fit time of the same command.

    python benchmarks/bench_pp.py [--images 300] [--side 1024] [--epochs 3]

Generates JPEG photos-sized images (noise with a bright or dark tint, the label), a random-initialised ResNet-10
at 64 px as the image model, and a project under a temporary directory. Runs train once to warm up, then train
without a store, then pp, then train with the store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd

from common import write_results


def make_images(directory: str, count: int, side: int) -> str:
    from PIL import Image

    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(directory, "images"))
    rows = []
    for i in range(count):
        bright = i % 2 == 0
        pixels = np.clip(rng.normal(170 if bright else 80, 40, size=(side * 3 // 4, side, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(directory, "images", f"{i}.jpg"), quality=90)
        rows.append({"image": f"images/{i}.jpg", "tint": "bright" if bright else "dark"})
    pd.DataFrame(rows).to_csv(os.path.join(directory, "pictures.csv"), index=False)
    return os.path.join(directory, "pictures.csv")


def make_checkpoint(directory: str) -> str:
    import timm
    from timm.models import save_for_hf

    model = timm.create_model("resnet10t", pretrained=False, num_classes=0)
    save_for_hf(model, directory, safe_serialization=True, data_config={"input_size": (3, 64, 64)})
    return directory


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "pp.json"))
    args = parser.parse_args()
    from automodal.cli.main import main as automodal

    work = tempfile.mkdtemp(prefix="bench-pp-")
    try:
        table = make_images(work, args.images, args.side)
        checkpoint = make_checkpoint(os.path.join(work, "resnet10t"))
        home = f"root={os.path.join(work, 'home')}"
        assert automodal(["create", "proj=b", "task_list=[pictures]", f"data.pictures.path={table}",
                          "data.pictures.label=tint", "mode.n_folds=4", home]) == 0
        train = ["train", "proj=b", "task_list=[pictures]", "mode.cv=false", "mode.nested=false", home,
                 "hp.model.names=[timm_image]", f"hp.model.timm_image.checkpoint_name={checkpoint}",
                 f"hp.optimization.max_epochs={args.epochs}", "hp.optimization.patience=100",
                 "hp.env.per_gpu_batch_size=32", "hp.env.batch_size=32"]

        def timed(command) -> float:
            started = time.perf_counter()
            assert automodal(command) == 0
            return round(time.perf_counter() - started, 2)

        timed(train)                                         # imports and first-run costs
        without = timed(train)
        pp_seconds = timed(["pp", "proj=b", "task_list=[pictures]", "mode.max_image_side=128", home])
        with_store = timed(train)
        write_results(args.out, {"images": args.images, "image_size": [args.side * 3 // 4, args.side],
                                 "epochs": args.epochs, "train_seconds_without_store": without,
                                 "pp_seconds": pp_seconds, "train_seconds_with_store": with_store,
                                 "speedup": round(without / with_store, 2)})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
