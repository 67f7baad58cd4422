"""One trial of a search, run in a Ray worker: a normal fit whose every validation is reported to Ray Tune."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

from lightning.pytorch.callbacks import Callback
from safetensors.torch import save_file

from ..training.soup import state_to_cpu

WEIGHTS = "weights.safetensors"
METRIC = "score"    # the eval_metric as the user knows it; Tune's mode says which way is better


@dataclass
class TrialJob:
    """What every trial shares, sent once through Ray's object store."""
    train: object
    tuning: object
    label: str
    config: object                     # the Config with the fixed hyperparameters
    problem_type: str | None
    eval_metric: str | None
    column_types: dict | None
    holdout_frac: float | None
    seed: int
    greater_is_better: bool
    num_to_keep: int
    threads: int
    deadline: float | None             # time.time() when the search must end
    cwd: str                           # relative image paths are read from the caller's directory


class TuneReporter(Callback):
    """Reports each validation's score; attaches the weights when they rank among the trial's num_to_keep best,
    so Tune's checkpoint list, kept by the same score and direction, holds exactly those files."""

    def __init__(self, num_to_keep: int, greater_is_better: bool):
        self.num_to_keep, self.greater_is_better = num_to_keep, greater_is_better
        self.kept: list = []            # signed scores (higher is better) of the reported checkpoints
        self.last: dict = {}
        self.directory = tempfile.mkdtemp(prefix="automodal-trial-")

    def on_validation_end(self, trainer, pl_module):
        from ray import tune

        metrics = trainer.callback_metrics
        if trainer.sanity_checking or "val_score" not in metrics:
            return
        signed = float(metrics["val_score"])
        if not math.isfinite(signed):    # a diverged network: the worst score, and no checkpoint
            self.last = {METRIC: -math.inf if self.greater_is_better else math.inf, "val_loss": math.inf,
                         "epoch": trainer.current_epoch, "global_step": trainer.global_step}
            tune.report(dict(self.last))
            return
        self.last = {METRIC: signed if self.greater_is_better else -signed,
                     "val_loss": float(metrics.get("val_loss", 0.0)),
                     "epoch": trainer.current_epoch, "global_step": trainer.global_step}
        if len(self.kept) >= self.num_to_keep and signed <= self.kept[-1]:
            tune.report(dict(self.last))
            return
        self.kept = sorted(self.kept + [signed], reverse=True)[: self.num_to_keep]
        folder = tempfile.mkdtemp(dir=self.directory)
        try:
            save_file(state_to_cpu(pl_module.net), os.path.join(folder, WEIGHTS))
            tune.report(dict(self.last), checkpoint=tune.Checkpoint.from_directory(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def reload(self) -> list:
        return []                       # the search finishes the best trial from Tune's copies


def run_trial(sampled: dict, job: TrialJob):
    """Ray Tune's trainable: the fixed configuration plus this trial's values, checked like any hyperparameters."""
    import torch

    from .. import learner
    from ..config import resolve_config

    for name in ("ray.train", "ray.tune"):   # one line per checkpoint otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    torch.set_num_threads(max(1, job.threads))
    if os.path.isdir(job.cwd):          # Ray starts a trial in its own directory
        os.chdir(job.cwd)
    config = resolve_config(None, sampled, base=job.config)
    reporter = TuneReporter(job.num_to_keep, job.greater_is_better)
    remaining = None if job.deadline is None else max(1.0, job.deadline - time.time())
    result = learner.fit(job.train, job.tuning, job.label, config, job.problem_type, job.eval_metric,
                         job.column_types, job.holdout_frac, job.seed, remaining, 0, keeper=reporter)
    shutil.rmtree(result.workdir, ignore_errors=True)
    if not reporter.last:
        raise RuntimeError("the trial ended before its first validation (time_limit too short for one).")
    # a last result that says the trial ran to its end; the scheduler did not stop it
    return dict(reporter.last, finished=True, fit_seconds=result.summary["fit_seconds"],
                progress=json.dumps({k: result.summary[k] for k in ("epochs", "global_step", "stop_reason")}))
