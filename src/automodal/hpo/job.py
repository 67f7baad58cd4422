"""What a search's trials share and how they report: the job sent once through Ray's object store, and the report
of a validation (with the checkpoint's weights) to Ray Tune."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

WEIGHTS = "weights.safetensors"
METRIC = "score"    # the validation metric as the user knows it; Tune's mode says which way is better


@dataclass
class TrialJob:
    """What every trial shares, sent once through Ray's object store: which family's learner to make and how, and
    what to fit it on."""
    family: str                        # the registry's name of the family (learners.registry.family_named)
    learner_args: dict                 # its learner's label, problem_type and eval_metric (SearchSetup.learner_args)
    fit_keywords: dict                 # the family's own fit() arguments (SearchSetup.fit_keywords)
    train: object
    tuning: object
    config: object                     # the Config with the fixed hyperparameters
    holdout_frac: float | None
    seed: int
    greater_is_better: bool            # of the validation metric, which trials report
    num_to_keep: int
    threads: int
    deadline: float | None             # time.time() when the search must end
    cwd: str                           # relative image paths are read from the caller's directory
    validation_metric: str             # what trials report and are compared by
    tracked: object = None             # training.tracking.Tracking: every trial logs a run of its own


def send_to_tune(metrics: dict, weights: bytes | None):
    from ray import tune        # the hpo extra: this runs inside a Ray Tune trial

    if weights is None:
        tune.report(metrics)
        return
    folder = tempfile.mkdtemp(prefix="automodal-trial-")
    try:
        with open(os.path.join(folder, WEIGHTS), "wb") as handle:
            handle.write(weights)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
