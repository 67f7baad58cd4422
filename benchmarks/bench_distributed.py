"""One process against several on the same data: fit time, steps, test score (env.strategy, env.num_processes).

    python benchmarks/bench_distributed.py [--processes 2] [--strategy ddp_spawn] [--rows 20000]

By default the data is scikit-learn's breast cancer table (426 training rows); --rows N generates a binary task of
N rows with 16 numerical columns instead, where steps are larger. Both fits use the same global batch
(env.per_gpu_batch_size is divided by the number of processes) and the default fit's other choices.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from common import write_results


def table(rows: int | None):
    if rows is None:
        frame = load_breast_cancer(as_frame=True).frame
        return frame, "target"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 16))
    logit = x[:, 0] - 2 * x[:, 1] * x[:, 2] + np.sin(3 * x[:, 3])
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(16)])
    frame["label"] = (logit + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return frame, "label"


def fit(train, test, label, keys):
    from automodal import MultiModalPredictor

    path = tempfile.mkdtemp(prefix="bench-distributed-")
    started = time.perf_counter()
    predictor = MultiModalPredictor(label=label, path=os.path.join(path, "model"), verbosity=0).fit(
        train, hyperparameters=keys)
    seconds = time.perf_counter() - started
    summary = predictor.fit_summary()
    result = {"fit_seconds": round(seconds, 1), "roc_auc": round(predictor.evaluate(test)["roc_auc"], 4),
              "global_step": summary["global_step"], "epochs": summary["epochs"],
              "train_samples_per_second": summary["train_samples_per_second"]}
    shutil.rmtree(path, ignore_errors=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--strategy", default="ddp_spawn", choices=["ddp_spawn", "ddp"])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--batch", type=int, default=128, help="global batch of both fits")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "distributed.json"))
    args = parser.parse_args()
    frame, label = table(args.rows)
    train, test = train_test_split(frame, test_size=0.25, random_state=0, stratify=frame[label])
    common = {"env.batch_size": args.batch, "env.num_gpus": 0}
    results = {"rows": len(train), "batch": args.batch,
               "one_process": fit(train, test, label, {**common, "env.per_gpu_batch_size": args.batch})}
    results[f"{args.strategy}_{args.processes}_processes"] = fit(train, test, label, {
        **common, "env.per_gpu_batch_size": args.batch // args.processes, "env.strategy": args.strategy,
        "env.num_processes": args.processes})
    write_results(args.out, results)


if __name__ == "__main__":
    main()
