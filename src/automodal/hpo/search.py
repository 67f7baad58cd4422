"""A hyperparameter search on Ray Tune, for any family whose learner supports it (capabilities.search): the family
checks its data once and says what trials report (FamilyLearner.prepare_search); every trial is a normal fit of a
new learner of the family (trial_fit); the best trial (by its best report) is finished by the searching learner from
its kept checkpoints (finish_search), and every trial's files are removed."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time

from ..config import Config, resolve_config
from ..errors import AutomodalError, ConfigError
from ..learners.contract import FamilyLearner, FitOutcome, SearchSetup, Trained
from ..training.tracking import TENSORBOARD_DIRECTORY
from .cluster import connect, require_ray, trial_pool, trial_resources
from .domains import describe, first_point, is_categorical, ray_spaces
from .job import METRIC, WEIGHTS, TrialJob
from .progress import TrialTable
from .settings import TuneSettings, parse_settings
from .trial import run_trial

logger = logging.getLogger("automodal")

FINISH_RESERVE = (5.0, 0.1, 60.0)   # seconds kept for finishing the best trial: at least, share, at most


def _searcher(settings: TuneSettings, point: dict, seed: int):
    if settings.searcher == "bayes":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)

        return OptunaSearch(points_to_evaluate=[point], seed=seed)
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(points_to_evaluate=[point], random_state=seed)


def _scheduler(settings: TuneSettings):
    from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler

    if settings.scheduler == "FIFO":
        return FIFOScheduler()
    # time is counted in validation checks: each report of a trial is one
    args = {"grace_period": 1, "reduction_factor": 3, "max_t": 1000, "brackets": 1, **settings.scheduler_init_args}
    return AsyncHyperBandScheduler(time_attr="training_iteration", **args)


def _searched(domains: dict, dropped: dict) -> dict:
    """The domains without the keys the family does nothing with (each said in the log)."""
    for key, why in dropped.items():
        if key in domains:
            logger.info("Not searching %s: %s", key, why)
    kept = {key: domain for key, domain in domains.items() if key not in dropped}
    if not kept:
        raise ConfigError("Nothing to search: " + "; ".join(f"{key}: {why}" for key, why in dropped.items()))
    return kept


def run_search(learner: FamilyLearner, train, tuning, config: Config, spaces: dict, tune_kwargs,
               holdout_frac, seed: int, time_limit: float | None, fit_keywords: dict | None = None,
               tracked=None) -> FitOutcome:
    """Search `spaces` ({key: space}) around `config` for `learner`'s family; the learner becomes the best trial,
    with fit_summary()["hpo"] listing every trial."""
    started = time.time()
    settings = parse_settings(tune_kwargs)
    require_ray(settings.searcher)
    if "optimization.val_metric" in spaces:     # refused before the data is prepared
        raise ConfigError("optimization.val_metric cannot be searched: trials are compared by it. Set one value.")
    domains = ray_spaces(spaces)
    # the first trial's choices (checkpoints, models) decide the network, and so the data-aware defaults of the
    # numeric keys; the data is checked, and the task and metric known, before any trial starts
    choices = first_point(spaces, {k: d for k, d in domains.items() if is_categorical(d)}, config)
    setup = learner.prepare_search(train, tuning, config, list(domains), choices, holdout_frac, seed,
                                   **(fit_keywords or {}))
    domains = _searched(domains, setup.dropped)
    point = first_point(spaces, domains, setup.defaults)
    logger.info("Searching %s; the first trial tries %s.",
                ", ".join(f"{key} in {describe(domain)}" for key, domain in domains.items()), point)
    connect(settings.address, learner.verbosity)
    reserve = min(FINISH_RESERVE[2], max(FINISH_RESERVE[0], FINISH_RESERVE[1] * (time_limit or 0)))
    budget = None if time_limit is None else time_limit - (time.time() - started) - reserve
    if budget is not None and budget <= 0:
        raise AutomodalError(f"time_limit={time_limit} s leaves no time for a search after preparing the data; "
                             "give it more time.")
    resources, slots = trial_resources(settings)
    pool = trial_pool(resources, slots)
    job = TrialJob(learner.family, setup.learner_args, setup.fit_keywords, train, tuning, config, holdout_frac, seed,
                   setup.greater_is_better, settings.num_to_keep, int(max(1, resources["cpu"])),
                   None if budget is None else time.time() + budget, os.getcwd(), setup.metric)
    storage = os.path.abspath(settings.storage_path or tempfile.mkdtemp(
        prefix="automodal-hpo-", dir=os.environ.get("AUTOMODAL_SCRATCH") or None))
    name = f"search-{time.strftime('%Y%m%d_%H%M%S')}-{os.getpid()}"
    events = os.path.join(storage, name, TENSORBOARD_DIRECTORY)     # each trial's TensorBoard run, kept with the model
    if tracked is not None:
        job.tracked = tracked.for_run(name, directory=events, search=name)
    try:
        table = _tune(job, settings, domains, point, resources, slots, pool, budget, storage, name,
                      learner.verbosity)
        outcome, summary = _finish(learner, setup, job, settings, spaces, table, started, point)
        summary.update(resources_per_trial=resources, trials_at_once=slots, trial_hosts=pool is not None,
                       storage=os.path.join(storage, name))
        learner.record_search(summary, time.time() - started)
        if os.path.isdir(events) and outcome.workdir:
            outcome.tensorboard = shutil.copytree(events, os.path.join(outcome.workdir, "search-" +
                                                                      TENSORBOARD_DIRECTORY))
        return outcome
    finally:
        if pool is not None:
            import ray

            ray.get(pool.reset.remote())   # a trial the time limit cut short stops its fit too
        shutil.rmtree(storage if settings.storage_path is None else os.path.join(storage, name), ignore_errors=True)


@contextlib.contextmanager
def _quiet_tune(verbosity: int):
    """automodal's trial table is the search's output: Ray's own tables, log files and warnings are off."""
    settings = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_AIR_NEW_OUTPUT": "0",
                "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0"}
    previous = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    ray_logger = logging.getLogger("ray.tune")
    level = ray_logger.level
    if verbosity < 4:   # a failed trial's traceback too: the trial table and fit_summary() give its error
        ray_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        ray_logger.setLevel(level)
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _tune(job, settings, domains, point, resources, slots, pool, budget, storage, name, verbosity):
    import ray
    from ray import tune

    table = TrialTable(job.greater_is_better, settings.num_trials, verbosity)
    mode = "max" if job.greater_is_better else "min"
    tune_config = tune.TuneConfig(
        metric=METRIC, mode=mode, search_alg=_searcher(settings, point, job.seed), scheduler=_scheduler(settings),
        num_samples=settings.num_trials, time_budget_s=budget, reuse_actors=True, max_concurrent_trials=slots)
    run_config = tune.RunConfig(
        name=name, storage_path=storage, verbose=0, callbacks=[table],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=settings.num_to_keep, checkpoint_score_attribute=METRIC,
                                                checkpoint_score_order=mode),
        failure_config=tune.FailureConfig(max_failures=0))
    shared = {"job": ray.put(job), "pool": pool}
    trainable = tune.with_resources(tune.with_parameters(run_trial, shared=shared), resources)
    with _quiet_tune(verbosity):
        try:
            table.results = tune.Tuner(trainable, param_space=domains, tune_config=tune_config,
                                       run_config=run_config).fit()
        finally:
            table.bar.close()       # a time limit can end the search before every trial
    return table


def _reason(error) -> str:
    """The original exception behind Ray's wrappers (a trial's error passes through one per process)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return f"{type(error).__name__}: {error}"[:2000]


def _kept_scores(result, greater_is_better: bool) -> list:
    """The scores of the trial's checkpoints still on disk, best first."""
    scores = [metrics[METRIC] for checkpoint, metrics in (result.best_checkpoints or [])
              if checkpoint is not None and os.path.isdir(checkpoint.path)]
    return sorted(scores, reverse=greater_is_better)


def _finish(learner: FamilyLearner, setup: SearchSetup, job: TrialJob, settings: TuneSettings, spaces: dict, table,
            started: float, point: dict) -> tuple[FitOutcome, dict]:
    """The learner finished as the best trial, and the search's summary (fit_summary()["hpo"])."""
    rows, best = [], None
    # trials the time limit kept from starting are no trials
    records = [(table.record(result.path), result) for result in table.results if result.path in table.records]
    records.sort(key=lambda pair: pair[0]["order"])
    for number, (record, result) in enumerate(records):
        row = {"trial": number, "trial_id": record["trial_id"],
               "config": {k: result.config.get(k) for k in spaces if k in result.config},
               "score": record["best"], "last_score": record["last"], "reports": record["reports"],
               "status": record["status"], "seconds": record["seconds"], "fit_seconds": record["fit_seconds"],
               "threads": record["threads"],
               "scores": record["scores"],
               "checkpoints": _kept_scores(result, job.greater_is_better)}
        if result.error is not None:
            row["status"], row["error"] = "error", _reason(result.error)
        rows.append(row)
        checkpoints = [c for c in (result.best_checkpoints or []) if c[0] is not None]
        if record["best"] is not None and checkpoints and (
                best is None or table.better(record["best"], best[0]["score"])):
            best = (row, result, checkpoints, record)
    if best is None:
        errors = "; ".join(f"trial {r['trial']}: {r.get('error', r['status'])}" for r in rows) or "no trial ran"
        raise AutomodalError(f"No trial of the search reported a validation score ({errors}). Check the errors, or "
                             "give the search more time.")
    row, result, checkpoints, record = best
    sign = 1.0 if job.greater_is_better else -1.0
    entries = sorted(((sign * metrics[METRIC], metrics.get("global_step", 0), os.path.join(c.path, WEIGHTS),
                       metrics.get("val_loss", 0.0)) for c, metrics in checkpoints), key=lambda e: (-e[0], e[3]))
    progress = record["progress"]
    logger.info("Best trial: %s with %s = %.4f %s; finishing it from its %d kept checkpoint(s).", row["trial_id"],
                job.validation_metric, row["score"], row["config"], len(entries))
    config = resolve_config(None, row["config"], base=job.config)
    outcome = learner.finish_search(setup, job.train, job.tuning, config, job.holdout_frac, job.seed,
                                    Trained(entries, progress))
    summary = {
        "searcher": settings.searcher, "scheduler": settings.scheduler, "num_trials": settings.num_trials,
        "num_to_keep": settings.num_to_keep, "metric": job.validation_metric,
        "greater_is_better": job.greater_is_better,
        "first_trial_config": point, "best_trial": row["trial"], "best_config": row["config"],
        "best_score": row["score"], "trials": rows, "search_seconds": round(time.time() - started, 3),
    }
    return outcome, summary
