"""Tabular benchmark: the training loop against a bare PyTorch loop, prediction latency and throughput,
peak memory, and the start-up costs (imports, load() and a first predict(), a process's first fit).

    python benchmarks/bench_tabular.py [--rows 20000] [--epochs 3] [--models mlp ft default]
    python benchmarks/bench_tabular.py --rows 3000 --epochs 20 --models default   # a small table's default fit

The bare loop uses the same network (rebuilt from the fitted architecture), the same batches (the fitted
processors' arrays cut by the same loader), the same optimiser, schedule and gradient clipping. Each fit is also
repeated on Lightning's Trainer (a do-nothing Lightning callback sends it there), the loop that fits needing
callbacks, several processes or a pretrained backbone use. Throughputs are compared as ratios to the bare loop
within one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from common import one_row_latency_ms, peak_mb, write_results

MODELS = {
    "mlp": ["numerical_mlp", "categorical_mlp", "fusion_mlp"],
    "ft": ["numerical_transformer", "categorical_transformer", "fusion_transformer"],
    "default": None,    # the default fit: model.names, batch size, learning rate and budget as fit chooses them
}


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(rows, 16))
    cats = {f"c{j}": rng.choice([f"v{k}" for k in range(5 + 5 * j)], size=rows) for j in range(4)}
    logit = numbers[:, :4] @ np.array([1.5, -1.0, 0.7, 0.5]) + (cats["c0"] == "v1") * 1.2
    frame = pd.DataFrame(numbers, columns=[f"x{j}" for j in range(16)]).assign(**cats)
    frame["label"] = (logit + rng.normal(scale=0.7, size=rows) > 0).astype(int)
    return frame


STARTUP = {
    # each prints seconds (and for the import, the extra resident MB) measured in a new process
    "import": "r0 = peak_mb(); t = time.perf_counter(); import automodal; "
              "print(time.perf_counter() - t, peak_mb() - r0)",
    "predictor_import": "t = time.perf_counter(); from automodal import MultiModalPredictor; "
                        "print(time.perf_counter() - t)",
    "load_and_predict": "from automodal import MultiModalPredictor; import pandas as pd; row = pd.read_csv(CSV).head(1); "
                        "t = time.perf_counter(); p = MultiModalPredictor.load(PATH); t1 = time.perf_counter(); "
                        "p.predict(row); print(t1 - t, time.perf_counter() - t1)",
    # a first fit against the same fit again in the same process: what the first pays once (its imports)
    "first_fit": "from automodal import MultiModalPredictor; import pandas as pd; frame = pd.read_csv(CSV); s = []\n"
                 "for path in (PATH + '-first', PATH):\n"
                 "    t = time.perf_counter(); MultiModalPredictor(label='label', path=path, verbosity=0).fit("
                 "frame, hyperparameters={'optimization.max_epochs': 2}); s.append(time.perf_counter() - t)\n"
                 "print(s[0] - s[1])",
}


def startup_cost(repeats: int) -> dict:
    """The start-up table's figures, each the median of `repeats` new processes: `import automodal`, `from automodal
    import MultiModalPredictor`, then load() of a saved predictor and its first one-row predict(), and the extra
    time of a process's first fit (a first fit of 400 rows against the same fit again)."""
    work = tempfile.mkdtemp(prefix="bench-startup-")
    csv, path = os.path.join(work, "rows.csv"), os.path.join(work, "predictor")
    make_frame(400).to_csv(csv, index=False)
    prelude = ("import sys, time; sys.path.insert(0, %r); from common import peak_mb; CSV, PATH = %r, %r\n"
               % (os.path.dirname(os.path.abspath(__file__)), csv, path))

    def medians(step: str) -> list:
        runs = [subprocess.run([sys.executable, "-c", prelude + STARTUP[step]], capture_output=True, text=True,
                               check=True).stdout.split() for _ in range(repeats)]
        return [round(statistics.median(float(r[i]) for r in runs), 6) for i in range(len(runs[0]))]

    try:
        results = {"processes_per_figure": repeats}
        results["import_seconds"], results["import_extra_rss_mb"] = medians("import")
        results["predictor_import_seconds"], = medians("predictor_import")
        results["first_fit_extra_seconds"], = medians("first_fit")     # leaves a saved predictor at PATH
        results["load_seconds"], results["first_predict_seconds"] = medians("load_and_predict")
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bare_loop_throughput(predictor, frame: pd.DataFrame, epochs: int, seed: int) -> list:
    """Samples per second of each epoch of a plain PyTorch loop over the fitted model's architecture."""
    import torch
    import torch.nn.functional as F

    from automodal.data.batches import make_loader
    from automodal.models.net import build_net
    from automodal.training.optim import build_optimizer, build_scheduler, param_groups

    learner = predictor.learner
    config, model = learner.config, learner.model
    torch.manual_seed(seed)
    net = build_net(learner.meta["architecture"], config).train()
    arrays = dict(model.pipeline.transform(frame), label=model.label_processor.transform(frame[predictor.label]))
    loader = make_loader(arrays, config["env.per_gpu_batch_size"], shuffle=True, seed=seed)
    optimizer = build_optimizer(param_groups(net, config), config)
    scheduler = build_scheduler(optimizer, epochs * len(loader), config)
    clip = config["optimization.gradient_clip_val"]
    rates = []
    for _ in range(epochs):
        samples, start = 0, time.perf_counter()
        for batch in loader:
            optimizer.zero_grad(set_to_none=True)
            logits = net(batch, members=True)       # every ensemble member learns from its own loss
            members = logits.shape[1]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["label"].repeat_interleave(members))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            optimizer.step()
            scheduler.step()
            samples += len(batch["label"])
        rates.append(samples / (time.perf_counter() - start))
    return rates


def steady_rate(predictor) -> float:
    """The fit's training samples/s over the epochs after the first, which pays one-off allocation costs."""
    return statistics.mean(predictor.fit_summary()["train_samples_per_second_by_epoch"][1:])


def run_model(kind: str, train: pd.DataFrame, test: pd.DataFrame, epochs: int, repeats: int) -> dict:
    import lightning.pytorch as pl

    from automodal import MultiModalPredictor

    hyperparameters = {
        "model.names": MODELS[kind], "optimization.max_epochs": epochs, "optimization.learning_rate": 1e-3,
        "optimization.val_check_interval": 1.0, "optimization.top_k": 1, "env.per_gpu_batch_size": 128,
        "env.batch_size": 128, "env.num_workers": 0, "env.num_workers_evaluation": 0,
    }
    if kind == "default":   # only the epochs are fixed (and early stopping off), so every run trains as long
        hyperparameters = {"optimization.max_epochs": epochs, "optimization.patience": epochs}
    if kind == "ft":
        hyperparameters.update({"model.ft_transformer.num_blocks": 2, "model.ft_transformer.hidden_size": 64,
                                "model.ft_transformer.token_dim": 64, "model.ft_transformer.ffn_hidden_size": 128})
    ratios, ours_rates, bare_rates, trainer_rates = [], [], [], []
    for repeat in range(repeats):
        path = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        started = time.perf_counter()
        predictor = MultiModalPredictor(label="label", path=path, verbosity=1).fit(
            train, hyperparameters=hyperparameters, holdout_frac=0.1, seed=repeat)
        fit_seconds = time.perf_counter() - started
        summary = predictor.fit_summary()
        on_trainer = MultiModalPredictor(label="label", path=tempfile.mkdtemp(prefix=f"bench-{kind}-trainer-"),
                                         verbosity=1).fit(train, hyperparameters=hyperparameters, holdout_frac=0.1,
                                                          seed=repeat, callbacks=[pl.Callback()])
        bare = bare_loop_throughput(predictor, train, epochs, seed=repeat)
        ours_rates.append(steady_rate(predictor))
        trainer_rates.append(steady_rate(on_trainer))
        shutil.rmtree(on_trainer.path, ignore_errors=True)
        bare_rates.append(statistics.mean(bare[1:]))
        ratios.append(ours_rates[-1] / bare_rates[-1])

    loaded = MultiModalPredictor.load(path, verbosity=1)
    latency = one_row_latency_ms(loaded, test, 200)
    batch = test.head(10_000)
    start = time.perf_counter()
    loaded.predict(batch)
    batch_seconds = time.perf_counter() - start
    return {
        "model": "+".join(summary["models"]), "kind": kind, "training_loop": summary["training_loop"], "train_rows": len(train), "epochs": epochs,
        "batch_size": predictor.config["env"]["per_gpu_batch_size"],
        "ensemble_size": predictor.learner.meta["architecture"].get("members", 1),
        "roc_auc": round(loaded.evaluate(test, "roc_auc")["roc_auc"], 4),
        "fit_seconds": round(fit_seconds, 2),
        "train_samples_per_s": round(statistics.median(ours_rates), 1),
        "bare_loop_samples_per_s": round(statistics.median(bare_rates), 1),
        "loop_ratio_median": round(statistics.median(ratios), 3),
        "loop_ratios": [round(r, 3) for r in ratios],
        "trainer_loop_samples_per_s": round(statistics.median(trainer_rates), 1),
        "trainer_loop_ratio_median": round(statistics.median(t / b for t, b in zip(trainer_rates, bare_rates)), 3),
        **latency,
        "predict_10k_rows_per_s": round(len(batch) / batch_seconds, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="fits per model; the loop ratio is their median")
    parser.add_argument("--startup-repeats", type=int, default=3, help="new processes per start-up figure")
    parser.add_argument("--models", nargs="+", default=["mlp", "ft"], choices=sorted(MODELS))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "tabular.json"))
    args = parser.parse_args()

    results = {"startup": startup_cost(args.startup_repeats)}
    frame = make_frame(args.rows + 10_000)
    train, test = frame.iloc[: args.rows], frame.iloc[args.rows:]
    results["runs"] = [run_model(kind, train, test, args.epochs, args.repeats) for kind in args.models]
    results["peak_rss_mb"] = peak_mb()
    write_results(args.out, results)


if __name__ == "__main__":
    main()
