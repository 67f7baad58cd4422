"""A trial's training: a normal fit of the family's learner whose every validation becomes a report (the score, and
the weights when they rank among the trial's num_to_keep best). It runs where the library is already imported: a
trial host, or the trial's own Ray worker."""

from __future__ import annotations

import json
import logging
import math
import os
import time

import torch
from lightning.pytorch.callbacks import Callback
from safetensors.torch import save

from ..config import resolve_config
from ..learners.registry import family_named
from ..training.soup import state_to_cpu
from .job import METRIC, TrialJob


class TrialStopped(Exception):
    """The search stopped this trial (its scheduler, or the time limit)."""


class Reporter(Callback):
    """Sends each validation to `send(metrics, weights)`; weights (safetensors bytes) come with a score that ranks
    among the num_to_keep best so far, so Tune's checkpoint list, kept by the same score and direction, holds
    exactly those. `stopped()` ends the fit at the next validation."""

    def __init__(self, num_to_keep: int, greater_is_better: bool, send, stopped):
        self.num_to_keep, self.greater_is_better = num_to_keep, greater_is_better
        self.send, self.stopped = send, stopped
        self.kept: list = []            # signed scores (higher is better) of the reports that carried weights
        self.last: dict = {}
        self.directory = None           # a fit's keeper interface: no files of its own

    def on_validation_end(self, trainer, pl_module):
        metrics = trainer.callback_metrics
        if trainer.sanity_checking or "val_score" not in metrics:
            return
        if self.stopped():
            raise TrialStopped()
        signed = float(metrics["val_score"])
        finite = math.isfinite(signed)
        if not finite:                  # a diverged network: the worst score, and no checkpoint
            signed = -math.inf
        self.last = {METRIC: signed if self.greater_is_better else -signed,
                     "val_loss": float(metrics.get("val_loss", 0.0)) if finite else math.inf,
                     "epoch": trainer.current_epoch, "global_step": trainer.global_step}
        if not finite or (len(self.kept) >= self.num_to_keep and signed <= self.kept[-1]):
            self.send(dict(self.last), None)
            return
        self.kept = sorted(self.kept + [signed], reverse=True)[: self.num_to_keep]
        self.send(dict(self.last), save(state_to_cpu(pl_module.net)))

    def reload(self) -> list:
        return []                       # the search finishes the best trial from Tune's copies


def train_trial(sampled: dict, job: TrialJob, send, stopped, trial_id: str | None = None) -> dict:
    """Fit a new learner of the job's family with the fixed configuration plus this trial's values (checked like any
    hyperparameters); returns the last result, which says the trial ran to its end."""
    for name in ("ray.train", "ray.tune"):   # one line per checkpoint otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    torch.set_num_threads(max(1, job.threads))
    if os.path.isdir(job.cwd):          # Ray starts a trial in its own directory; image paths may be relative
        os.chdir(job.cwd)
    config = resolve_config(None, sampled, base=job.config)
    learner = family_named(job.family)(config=config, verbosity=0, **job.learner_args)
    reporter = Reporter(job.num_to_keep, job.greater_is_better, send, stopped)
    remaining = None if job.deadline is None else max(1.0, job.deadline - time.time())
    try:
        tracked = None if job.tracked is None else job.tracked.for_run(f"trial-{trial_id}", trial=trial_id)
        summary = learner.trial_fit(job.train, job.tuning, config, job.holdout_frac, job.seed, remaining, reporter,
                                    tracked=tracked, **job.fit_keywords)
    except TrialStopped:
        return {}
    if not reporter.last:
        raise RuntimeError("the trial ended before its first validation (time_limit too short for one).")
    return dict(reporter.last, finished=True, fit_seconds=summary["fit_seconds"], threads=torch.get_num_threads(),
                progress=json.dumps({k: summary[k] for k in ("epochs", "global_step", "stop_reason")}))
