"""Hyperparameter search on Ray Tune: what a search costs beyond its trials' own training, and what it buys.

    python benchmarks/bench_hpo.py [--trials 4 16] [--rows 2000]

1. Cluster start: ray.init() of a fresh local cluster, then the trial hosts (one per trial slot, each importing
   torch, Lightning and automodal once), which the first search of a session starts.
2. A first 2-trial search, reported apart: it pays the one-time imports in the calling process. Then for each
   trial count, a random search over the learning rate on a generated binary task (16 numerical columns,
   --rows rows), every other key at its default. Wall time of fit() against the trials' own fit time (learner.fit
   inside each trial): the overhead is the wall time minus that sum divided by the trial slots running at once.
3. Tuned against untuned on scikit-learn's diabetes regression (R² on a held-out quarter): a default fit, and a
   bayes + ASHA search over learning rate and weight decay.
Needs the hpo extra (pip install 'automodal[hpo]').
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from common import write_results


def generated(rows: int):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 16))
    logit = x[:, 0] - 2 * x[:, 1] * x[:, 2] + np.sin(3 * x[:, 3])
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(16)])
    frame["label"] = (logit + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return frame


def search_cost(frame, trials: int, scratch: str) -> dict:
    import ray

    from automodal import MultiModalPredictor, hpo

    predictor = MultiModalPredictor(label="label", path=os.path.join(scratch, f"search{trials}"), verbosity=0)
    started = time.time()
    predictor.fit(frame, hyperparameters={"optimization.learning_rate": hpo.loguniform(1e-4, 3e-2)},
                  hyperparameter_tune_kwargs={"searcher": "random", "num_trials": trials})
    wall = time.time() - started
    summary = predictor.fit_summary()["hpo"]
    own = [t["fit_seconds"] for t in summary["trials"]]
    slots = min(trials, int(ray.cluster_resources().get("CPU", 1)))
    overhead = wall - sum(own) / slots
    return {"trials": trials, "slots": slots, "wall_seconds": round(wall, 2),
            "trial_fit_seconds_sum": round(sum(own), 2), "overhead_seconds": round(overhead, 2),
            "overhead_per_trial_seconds": round(overhead / trials, 2),
            "overhead_share_of_wall": round(overhead / wall, 3),
            "best_score": round(summary["best_score"], 4)}


def tuned_vs_default(scratch: str) -> dict:
    from automodal import MultiModalPredictor, hpo

    frame = load_diabetes(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.25, random_state=0)
    scores = {}
    for name, space, kwargs in (
            ("default", None, None),
            ("search", {"optimization.learning_rate": hpo.loguniform(1e-4, 1e-2),
                        "optimization.weight_decay": hpo.loguniform(1e-4, 0.3)},
             {"searcher": "bayes", "scheduler": "ASHA", "num_trials": 8})):
        predictor = MultiModalPredictor(label="target", path=os.path.join(scratch, name), verbosity=0)
        started = time.time()
        predictor.fit(train, hyperparameters=space, hyperparameter_tune_kwargs=kwargs)
        scores[name] = {"r2": round(float(r2_score(test["target"], predictor.predict(test))), 4),
                        "seconds": round(time.time() - started, 1)}
        if kwargs:
            scores[name]["best_config"] = predictor.fit_summary()["hpo"]["best_config"]
    return scores


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    import ray

    from automodal.hpo.hosts import ready_pool

    started = time.time()
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    results = {"cluster_start_seconds": round(time.time() - started, 2), "cpus": os.cpu_count(),
               "rows": args.rows}
    # the first search of a session starts its trial hosts (processes that import the library once); timed apart
    started = time.time()
    ready_pool(min(max(args.trials), int(ray.cluster_resources().get("CPU", 1))))
    results["trial_hosts_start_seconds"] = round(time.time() - started, 2)
    results["cluster_and_hosts_start_seconds"] = round(results["cluster_start_seconds"]
                                                       + results["trial_hosts_start_seconds"], 2)
    scratch = tempfile.mkdtemp(prefix="bench-hpo-")
    try:
        frame = generated(args.rows)
        # a process's first search also imports the training stack and Ray Tune in the calling process
        results["first_search_in_process"] = search_cost(frame, 2, scratch)
        results["searches"] = [search_cost(frame, trials, scratch) for trials in args.trials]
        results["diabetes_r2"] = tuned_vs_default(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        ray.shutdown()
    write_results(os.path.join(os.path.dirname(__file__), "results", "hpo.json"), results)


if __name__ == "__main__":
    main()
