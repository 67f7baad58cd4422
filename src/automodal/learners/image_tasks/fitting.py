"""Train an ImageTaskLearner's network with the same Trainer, checkpoints, early stopping and soups as a table fit."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import lightning.pytorch as pl
import numpy as np
import pandas as pd

from ...config import Config
from ...errors import DataError
from ...folds import checked_holdout
from ...inference import eval_batch_size
from ...training import session, tracking
from ...training.soup import choose_weights, load_state
from ...training.trainer import DevicePlan, build_trainer, plan_devices
from ..contract import Trained
from .module import ImageTaskModule
from .running import make_loader, run_net

logger = logging.getLogger(__name__)

@dataclass
class ImageTaskFit:
    net: object
    config: Config
    labels: dict
    architecture: dict
    eval_metric: str
    summary: dict = field(default_factory=dict)
    log_csv: str | None = None
    workdir: str | None = None      # the fit's scratch directory; the caller removes it
    tensorboard: str | None = None  # the fit's TensorBoard event files (training.tracking)
    saves: bool = True              # False in the other processes of a ddp run: the first one saves


def split_rows(frame: pd.DataFrame, holdout_frac: float | None, seed: int):
    """Hold out images for validation, as many as a table fit holds out rows."""
    holdout_frac = checked_holdout(holdout_frac, len(frame))
    if len(frame) < 2:
        raise DataError(f"train_data has {len(frame)} image(s); at least 2 are needed to hold one out for "
                        "validation, or pass tuning_data.")
    order = np.random.default_rng(seed).permutation(len(frame))
    held = max(1, int(round(holdout_frac * len(frame))))
    return frame.iloc[np.sort(order[held:])], frame.iloc[np.sort(order[:held])]


def _device_plan(learner, config: Config) -> DevicePlan:
    """The Trainer's devices: ddp and ddp_spawn train on several GPUs or CPU processes, each on its share of every
    batch, the tuning set's predictions gathered from all (image_tasks.module). DataParallel splits one batch
    tensor between GPUs, which these families' batches (images of different sizes, per-image targets) are not:
    env.strategy dp trains on the first GPU, said once."""
    plan = plan_devices(config)
    if plan.dp_device_ids:
        logger.warning("env.strategy dp does not apply to %s (its batches are lists of images and targets): "
                       "training on the first GPU; set env.strategy ddp or ddp_spawn to train on all %d.",
                       learner.problem_type, len(plan.dp_device_ids))
    return plan


def _chosen_defaults(learner, config: Config, train_images: int, architecture: dict) -> tuple[Config, dict]:
    """The configuration with the family's defaults for keys nobody set, and what was chosen: those keys, then the
    network's own choices (architecture["chosen"], e.g. the widths of a network sized from the data), which are no
    configuration keys and are listed only."""
    applied = {key: {"value": value, "reason": reason}
               for key, (value, reason) in learner.defaults(train_images, architecture).items()
               if not config.chosen(key) and config[key] != value}
    if applied:
        logger.info("Chosen for %d training images: %s (reasons in fit_summary()['chosen_defaults']).",
                    train_images, ", ".join(f"{k} = {e['value']}" for k, e in applied.items()))
    listed = {name: {"value": value, "reason": reason}
              for name, (value, reason) in architecture.get("chosen", {}).items()}
    return config.with_defaults({key: entry["value"] for key, entry in applied.items()}), dict(applied, **listed)


def warn_unused_keys(learner, config: Config):
    """Keys of other model families, and table-only keys, do nothing here; saying so beats silent acceptance."""
    for key in sorted(config.explicit):
        why = learner.unused_because(key)
        if why is not None:
            logger.warning("%s is set, but %s; it has no effect.", key, why)


def read_split(learner, train_data, tuning_data, holdout_frac: float | None, seed: int):
    """(training images, validation images, what the training labels say): the data read and checked."""
    train = learner.read(train_data, "train_data", labelled=True)
    labels = learner.fit_labels(train)
    if tuning_data is not None:
        val = learner.read(tuning_data, "tuning_data", labelled=True)
        learner.check_labels(val, labels, "tuning_data")
    else:
        train, val = split_rows(train, holdout_frac, seed)
    return train, val, labels


def search_defaults(learner, train_data, tuning_data, holdout_frac: float | None, seed: int) -> Config:
    """learner.config with the values a fit on this data would choose for the keys nobody set (the data read and
    checked on the way), for a search's first trial."""
    train, _, labels = read_split(learner, train_data, tuning_data, holdout_frac, seed)
    return _chosen_defaults(learner, learner.config, len(train), learner.architecture(labels, train))[0]


def fit(learner, train_data, tuning_data, eval_metric: str, holdout_frac: float | None, seed: int,
        time_limit: float | None, verbosity: int, keeper=None, trained: Trained | None = None,
        tracked=None) -> ImageTaskFit:
    """`keeper` replaces the top-k checkpoint callback (a search's trial reports to Ray Tune instead); `trained`
    skips training: the network is built and finished from a search's best trial's kept checkpoints."""
    started = time.time()
    pl.seed_everything(seed, verbose=False)
    warn_unused_keys(learner, learner.config)
    train, val, labels = read_split(learner, train_data, tuning_data, holdout_frac, seed)
    architecture = learner.architecture(labels, train)
    config, chosen = _chosen_defaults(learner, learner.config, len(train), architecture)
    learner.config = config
    plan = _device_plan(learner, config)
    learner.check_plan(plan)
    net = learner.prepare_training(learner.build_net(architecture, pretrained=True), architecture)
    module = ImageTaskModule(learner, net, labels, eval_metric, config)
    batch_size, processes = config["env.per_gpu_batch_size"], plan.world_size if plan.distributed else 1
    train_loader = make_loader(learner, train, labels, architecture, batch_size, True, config["env.num_workers"],
                               seed, processes)
    val_loader = make_loader(learner, val, labels, architecture, eval_batch_size(config), False,
                             config["env.num_workers_evaluation"], processes=processes)

    workdir = tempfile.mkdtemp(prefix="automodal-fit-", dir=os.environ.get("AUTOMODAL_SCRATCH") or None)
    try:
        remaining = None if time_limit is None else time_limit - (time.time() - started)
        watched = session.watchers(config, workdir, remaining is not None, keeper)
        if trained is not None:
            progress, entries, saves = dict(trained.progress), trained.entries, True
        else:
            loggers = tracked.loggers(workdir) if tracked is not None else []
            tracking.start(loggers, config, tracked.tags if tracked is not None else {})
            trainer = build_trainer(config, plan, watched.callbacks, workdir, remaining, verbosity, loggers)
            progress, entries, saves = session.train(trainer, module, net, train_loader, val_loader, watched)
        net = net.to(f"cuda:{plan.devices[0]}" if plan.accelerator == "gpu" else "cpu")
        if processes > 1:   # the soup's choice below runs in this one process, over every tuning image
            val_loader = make_loader(learner, val, labels, architecture, eval_batch_size(config), False,
                                     config["env.num_workers_evaluation"])
        greater = learner.metrics[eval_metric]

        def evaluate(state=None):
            if state is not None:
                load_state(net, state)
            value = learner.scores(*run_net(learner, net, val_loader), labels, [eval_metric])[eval_metric]
            return value if greater else -value

        soup_info = choose_weights(net, entries if saves else [], config["optimization.top_k_average_method"],
                                   evaluate)
        if watched.keeper.directory:
            shutil.rmtree(watched.keeper.directory, ignore_errors=True)   # merged into net by now
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    summary = {
        "problem_type": learner.problem_type, "eval_metric": eval_metric,
        "val_score": soup_info["score"] if greater else -soup_info["score"],
        "checkpoints": [{"score": s if greater else -s, "step": step} for s, step, *_ in entries],
        "soup": soup_info["method"], "checkpoints_averaged": soup_info["used"],
        "epochs": progress.get("epochs"),
        "global_step": progress.get("global_step"),
        "stop_reason": progress.get("stop_reason"), "training_loop": "trainer",
        "train_images": len(train), "tuning_images": len(val),
        "num_parameters": sum(p.numel() for p in net.parameters()),
        "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "accelerator": plan.accelerator, "precision": plan.precision, "strategy": plan.strategy,
        "processes": processes,
        "train_samples_per_second": progress.get("train_samples_per_second"),
        "fit_seconds": round(time.time() - started, 3),
        "chosen_defaults": chosen,
    }
    log_csv = os.path.join(workdir, "logs", "metrics.csv")
    events = os.path.join(workdir, tracking.TENSORBOARD_DIRECTORY)
    return ImageTaskFit(net, config, labels, architecture, eval_metric, summary,
                        log_csv if os.path.exists(log_csv) else None, workdir,
                        events if os.path.isdir(events) else None, saves)
