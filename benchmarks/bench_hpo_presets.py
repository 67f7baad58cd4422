"""A searching preset against the default fit and a one-line scikit-learn baseline on scikit-learn's tables.

    python benchmarks/bench_hpo_presets.py [--presets medium_quality_hpo] [--time-limit 90]

Breast cancer (ROC AUC), wine (accuracy) and diabetes (R²), a quarter of each held out (random_state 0); the
baseline is logistic regression or ridge on standardised columns. Needs the hpo extra.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time

from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from common import write_results

TABLES = (("breast_cancer", load_breast_cancer, "roc_auc"), ("wine", load_wine, "accuracy"),
          ("diabetes", load_diabetes, "r2"))


def score(metric: str, truth, proba, labels) -> float:
    if metric == "roc_auc":
        return float(roc_auc_score(truth, proba))
    return float(accuracy_score(truth, labels) if metric == "accuracy" else r2_score(truth, labels))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="medium_quality_hpo")
    parser.add_argument("--time-limit", type=float, default=90)
    args = parser.parse_args()
    import ray

    from automodal import MultiModalPredictor

    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    scratch = tempfile.mkdtemp(prefix="bench-hpo-presets-")
    results = {"presets": args.presets, "time_limit": args.time_limit}
    try:
        for name, loader, metric in TABLES:
            frame = loader(as_frame=True).frame
            train, test = train_test_split(frame, test_size=0.25, random_state=0)
            x, y = train.drop(columns="target"), train["target"]
            baseline = make_pipeline(StandardScaler(), Ridge() if metric == "r2" else
                                     LogisticRegression(max_iter=1000)).fit(x, y)
            features = test.drop(columns="target")
            row = {"metric": metric, "baseline": round(score(
                metric, test["target"], baseline.predict_proba(features)[:, 1] if metric == "roc_auc" else None,
                baseline.predict(features)), 4)}
            for label, presets, limit in (("default", None, None), (args.presets, args.presets, args.time_limit)):
                predictor = MultiModalPredictor(label="target", presets=presets, verbosity=0,
                                                path=os.path.join(scratch, f"{name}_{label}"))
                started = time.time()
                predictor.fit(train, time_limit=limit)
                proba = predictor.predict_proba(test).to_numpy()[:, 1] if metric == "roc_auc" else None
                row[label] = {"score": round(score(metric, test["target"], proba, predictor.predict(test)), 4),
                              "seconds": round(time.time() - started, 1)}
                if presets:
                    trials = predictor.fit_summary()["hpo"]["trials"]
                    row[label]["trials"] = len(trials)
                    # trials that reported one validation score (one epoch) before ASHA or the time limit ended them
                    row[label]["trials_one_report"] = sum(1 for t in trials if t["reports"] == 1)
            results[name] = row
            print(name, row, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        ray.shutdown()
    write_results(os.path.join(os.path.dirname(__file__), "results", "hpo_presets.json"), results)


if __name__ == "__main__":
    main()
