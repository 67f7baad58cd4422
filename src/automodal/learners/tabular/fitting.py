"""A table fit from frames to a FittedModel: the data steps, the defaults chosen for the data, then one network or a
k-fold bag of them. Each step is one call."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import lightning.pytorch as pl
import pandas as pd

from ...config import Config
from ...inference import FittedModel
from ...metrics import signed
from ...data.types import CATEGORICAL
from ...training.tracking import TENSORBOARD_DIRECTORY
from ...training.trainer import plan_devices
from ..contract import Trained
from . import bagging
from .data import PreparedData, Start, data_aware, prepare_data, without_holdout
from .network import train_network, validation_metric

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    model: object                       # inference.FittedModel
    config: Config
    problem_type: str
    eval_metric: str
    column_types: dict
    dropped_columns: dict
    architecture: dict
    summary: dict = field(default_factory=dict)
    log_csv: str | None = None
    workdir: str | None = None          # the fit's scratch directory (holds log_csv); the caller removes it
    saves: bool = True                  # False in the other processes of a ddp run: the first one saves
    tensorboard: str | None = None      # the first network's TensorBoard event files (training.tracking)


def target_encoded_columns(data: PreparedData, architecture: dict) -> list:
    """The categorical columns the network also read as their categories' mean labels (models.target_encoding)."""
    encoding = architecture.get("target_encoding")
    if not encoding:
        return []
    columns = data.pipeline.processors[CATEGORICAL].names
    return [columns[j] for j in encoding["columns"]]


def crossed_columns(data: PreparedData) -> list:
    """The pairs of columns the network also read together as one categorical column (data.crosses)."""
    processor = data.pipeline.processors.get(CATEGORICAL)
    return [cross["columns"] for cross in processor.crosses] if processor is not None else []


def fit(train_data: pd.DataFrame, tuning_data: pd.DataFrame | None, label: str, config: Config,
        problem_type: str | None, eval_metric: str | None, column_types: dict | None, holdout_frac: float | None,
        seed: int, time_limit: float | None, verbosity: int, teacher=None, callbacks: list | None = None,
        start: Start | None = None, co_tasks: list | None = None, task_weights=None, keeper=None,
        trained: Trained | None = None, tracked=None) -> FitResult:
    """`keeper` replaces the top-k checkpoint callback (a search's trial reports to Ray Tune instead); like
    training.checkpoints.TopKCheckpoints it has `reload()` and a `directory` to remove (None: nothing to remove).
    `trained` skips training: the network is rebuilt and finished from a search's best trial. With
    optimization.bag_folds (module bagging) one network is trained per fold and the model averages them."""
    started = time.time()
    pl.seed_everything(seed, verbose=False)
    data = prepare_data(train_data, tuning_data, label, config, problem_type, eval_metric, column_types,
                        holdout_frac, seed, teacher, start)
    plan = plan_devices(config)
    blocked = bagging.obstacle(data, plan, tuning_data, holdout_frac, teacher, callbacks, start, co_tasks, keeper,
                               trained)
    config, chosen_defaults = data_aware(config, data, plan.world_size, blocked is None)
    folds = bagging.check_folds(config, blocked, len(data.train_part) + len(data.val_part))
    if folds:
        data = without_holdout(data, config)
    # AUTOMODAL_SCRATCH: the command line keeps a run's scratch inside its project, where `clean` finds leftovers
    workdir = tempfile.mkdtemp(prefix="automodal-fit-", dir=os.environ.get("AUTOMODAL_SCRATCH") or None)
    try:
        if folds:
            bag = bagging.train_folds(data, config, plan, folds, seed, workdir, time_limit, started, verbosity,
                                      tracked)
            net, architecture, runs, val_score = bag.net, bag.architecture, bag.runs, bag.val_score
        else:
            remaining = None if time_limit is None else time_limit - (time.time() - started)
            runs = [train_network(data, config, plan, seed, workdir, remaining, verbosity, teacher, callbacks,
                                  start, co_tasks, task_weights, keeper, trained, tracked)]
            net, architecture = runs[0].net, runs[0].architecture
            val_score = signed(data.metric, runs[0].soup_info["eval_score"])  # signed twice: the metric's own sign
        fitted = FittedModel.from_config(net, data.pipeline, data.label_processor, data.problem_type, config)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise

    first = runs[0]
    validation = validation_metric(config, data)
    metric = data.metric
    summary = {
        "problem_type": data.problem_type, "eval_metric": metric.name, "validation_metric": validation.name,
        "val_score": val_score,
        "checkpoints": [{"score": signed(validation, s), "step": step} for s, step, *_ in first.entries],
        "soup": first.soup_info["method"], "checkpoints_averaged": first.soup_info["used"],
        "linear_start": architecture.get("linear_start", False), "head_scale": first.soup_info.get("head_scale"),
        "target_encoded_columns": target_encoded_columns(data, architecture),
        "epochs": first.progress.get("epochs"),
        "global_step": first.progress.get("global_step"),
        "stop_reason": first.progress.get("stop_reason"),
        "training_loop": "fabric" if first.on_fabric else "trainer",
        "train_rows": len(data.train_part), "tuning_rows": len(data.train_part) if folds else len(data.val_part),
        "bag_folds": folds,
        "models": data.models,
        "num_parameters": sum(p.numel() for p in net.parameters()),
        "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "accelerator": plan.accelerator, "precision": plan.precision,
        "strategy": plan.strategy, "processes": plan.world_size,
        "train_samples_per_second": first.progress.get("train_samples_per_second"),
        "train_samples_per_second_by_epoch": first.progress.get("train_samples_per_second_by_epoch"),
        "fit_seconds": round(time.time() - started, 3),
        "chosen_defaults": chosen_defaults,
        "integer_codes": data.codes,
        "crossed_columns": crossed_columns(data),
    }
    if folds:       # the values above are the first network's; each network's are here
        summary["folds"] = bag.folds
    if co_tasks:
        summary["co_tasks"] = first.module.co_tasks.summary()
        summary["pivot_weight"] = first.module.pivot_weight
    log_csv = os.path.join(first.workdir, "logs", "metrics.csv")
    events = os.path.join(first.workdir, TENSORBOARD_DIRECTORY)
    return FitResult(fitted, config, data.problem_type, metric.name, data.column_types, data.dropped, architecture,
                     summary, log_csv if os.path.exists(log_csv) else None, workdir, first.saves,
                     events if os.path.isdir(events) else None)
