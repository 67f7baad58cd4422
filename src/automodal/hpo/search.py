"""A hyperparameter search on Ray Tune: every trial a normal fit, the best trial (by its best report) finished
into an ordinary fit result with its top checkpoints averaged, and every trial's files removed."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time

from .. import learner
from ..config import Config, resolve_config
from ..config.loader import validate_value
from ..errors import AutomodalError, ConfigError
from ..models.registry import FUSION, get_spec, known_names
from .settings import TuneSettings, parse_settings
from .space import Space
from .trial import METRIC, WEIGHTS, TrialJob, run_trial

logger = logging.getLogger("automodal")

FINISH_RESERVE = (5.0, 0.1, 60.0)   # seconds kept for finishing the best trial: at least, share, at most


def require_ray(searcher: str = "random"):
    needed = ["ray", "optuna"] if searcher == "bayes" else ["ray"]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise AutomodalError(f"A hyperparameter search runs on Ray Tune{' and Optuna' if searcher == 'bayes' else ''}"
                             f", which is not installed ({', '.join(missing)} missing). Install it with: "
                             "pip install 'automodal[hpo]'")


def ray_spaces(spaces: dict) -> dict:
    """{key: Ray Tune domain}, each checked: every value it can give must be valid for its key."""
    from .domains import probe_values

    domains = {}
    for key, space in spaces.items():
        domain = space.to_ray() if isinstance(space, Space) else space
        try:
            probes = probe_values(domain)
        except TypeError as error:
            raise ConfigError(f"hyperparameters['{key}']: {error}") from None
        for value in probes:
            try:
                validate_value(key, value)
            except ConfigError as error:
                raise ConfigError(f"The search space of '{key}' can give {value!r}, which is not valid: {error}") \
                    from None
        domains[key] = domain
    return domains


def _model_group_modalities() -> dict:
    """{config group: modalities it reads} for every backbone (fusion keys always apply)."""
    groups: dict = {}
    for name in known_names():
        spec = get_spec(name)
        if FUSION not in spec.modalities:
            groups.setdefault(spec.config_group, set()).update(spec.modalities)
    return groups


def drop_absent_models(domains: dict, column_types: dict) -> dict:
    present = set(column_types.values())
    groups = _model_group_modalities()
    kept = {}
    for key, domain in domains.items():
        parts = key.split(".")
        group = parts[1] if parts[0] == "model" and len(parts) > 2 else None
        if group in groups and not groups[group] & present:
            logger.info("Not searching %s: the data has no %s column for that model.", key,
                        " / ".join(sorted(groups[group])))
            continue
        kept[key] = domain
    if not kept:
        raise ConfigError("Every searched key belongs to a model this data has no column for: nothing to search.")
    return kept


def first_point(spaces: dict, domains: dict, config: Config) -> dict:
    """The default configuration, tried first: a space's own default, else the value fit would use (the data-aware
    one when nobody set it) if the space holds it, else the space's middle."""
    from .domains import centre, contains

    point = {}
    for key, domain in domains.items():
        space = spaces[key]
        if isinstance(space, Space) and space.default is not None:
            point[key] = space.default
        elif contains(domain, config[key]):
            point[key] = config[key]
        else:
            point[key] = centre(domain)
    return point


def connect(settings: TuneSettings, verbosity: int):
    import ray

    if ray.is_initialized():
        return
    address = settings.address or os.environ.get("RAY_ADDRESS") or None
    options = {"include_dashboard": False, "log_to_driver": verbosity >= 4, "logging_level": logging.WARNING}
    if address is None:
        if verbosity < 3:   # a new local cluster turns on token authentication and says so on every start
            logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        ray.init(**options)
        return
    try:
        ray.init(address=address, **options)
    except Exception as error:   # Ray raises ConnectionError, AuthenticationError, RuntimeError ...
        hint = ""
        if "auth" in f"{type(error).__name__} {error}".lower():
            hint = (" The cluster asks for a token: put it in RAY_AUTH_TOKEN or ~/.ray/auth_token "
                    "(`ray get-auth-token` on the head node prints it).")
        raise AutomodalError(f"Could not join the Ray cluster at {address}: {error}.{hint}") from None


def trial_resources(settings: TuneSettings) -> dict:
    """{"cpu", "gpu"} per trial: a GPU each when there are GPUs, else the CPUs shared by the concurrent trials."""
    import ray

    if settings.resources_per_trial is not None:
        return dict(settings.resources_per_trial)
    cluster = ray.cluster_resources()
    cpus, gpus = int(cluster.get("CPU", 1)), int(cluster.get("GPU", 0))
    if gpus:
        return {"cpu": max(1, cpus // gpus), "gpu": 1}
    concurrent = min(settings.num_trials, settings.max_concurrent_trials or cpus, cpus)
    return {"cpu": max(1, cpus // max(1, concurrent)), "gpu": 0}


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


def run_search(train, tuning, label: str, config: Config, spaces: dict, tune_kwargs, problem_type, eval_metric,
               column_types, holdout_frac, seed: int, time_limit: float | None, verbosity: int):
    """Search `spaces` ({key: space}) around `config`; returns learner.FitResult with summary['hpo']."""
    started = time.time()
    settings = parse_settings(tune_kwargs)
    require_ray(settings.searcher)
    domains = ray_spaces(spaces)
    # the data is checked, and the task and metric known, before any trial starts
    data = learner.prepare_data(train, tuning, label, config, problem_type, eval_metric, column_types,
                                holdout_frac, seed)
    domains = drop_absent_models(domains, data.column_types)
    defaults_config, _ = learner.data_aware(config, data, 1)
    point = first_point(spaces, domains, defaults_config)
    logger.info("Searching %s; the first trial tries %s.", ", ".join(f"{k} in {spaces[k]!r}" for k in domains),
                point)
    connect(settings, verbosity)
    reserve = min(FINISH_RESERVE[2], max(FINISH_RESERVE[0], FINISH_RESERVE[1] * (time_limit or 0)))
    budget = None if time_limit is None else time_limit - (time.time() - started) - reserve
    if budget is not None and budget <= 0:
        raise AutomodalError(f"time_limit={time_limit} s leaves no time for a search after preparing the data; "
                             "give it more time.")
    resources = trial_resources(settings)
    job = TrialJob(train, tuning, label, config, data.problem_type, data.metric.name, column_types, holdout_frac,
                   seed, data.metric.greater_is_better, settings.num_to_keep, int(max(1, resources["cpu"])),
                   None if budget is None else time.time() + budget, os.getcwd())
    storage = os.path.abspath(settings.storage_path or tempfile.mkdtemp(
        prefix="automodal-hpo-", dir=os.environ.get("AUTOMODAL_SCRATCH") or None))
    name = f"search-{time.strftime('%Y%m%d_%H%M%S')}-{os.getpid()}"
    try:
        table = _tune(job, settings, domains, point, resources, budget, storage, name, verbosity)
        return _finish(job, settings, spaces, table, started, point)
    finally:
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
    if verbosity < 4:
        ray_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        ray_logger.setLevel(level)
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _tune(job, settings, domains, point, resources, budget, storage, name, verbosity):
    from ray import tune

    from .progress import TrialTable

    table = TrialTable(job.greater_is_better, settings.num_trials)
    mode = "max" if job.greater_is_better else "min"
    tune_config = tune.TuneConfig(
        metric=METRIC, mode=mode, search_alg=_searcher(settings, point, job.seed), scheduler=_scheduler(settings),
        num_samples=settings.num_trials, time_budget_s=budget, reuse_actors=True,
        max_concurrent_trials=settings.max_concurrent_trials)
    run_config = tune.RunConfig(
        name=name, storage_path=storage, verbose=0, callbacks=[table],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=settings.num_to_keep, checkpoint_score_attribute=METRIC,
                                                checkpoint_score_order=mode),
        failure_config=tune.FailureConfig(max_failures=0))
    trainable = tune.with_resources(tune.with_parameters(run_trial, job=job), resources)
    with _quiet_tune(verbosity):
        table.results = tune.Tuner(trainable, param_space=domains, tune_config=tune_config,
                                   run_config=run_config).fit()
    return table


def _kept_scores(result, greater_is_better: bool) -> list:
    """The scores of the trial's checkpoints still on disk, best first."""
    scores = [metrics[METRIC] for checkpoint, metrics in (result.best_checkpoints or [])
              if checkpoint is not None and os.path.isdir(checkpoint.path)]
    return sorted(scores, reverse=greater_is_better)


def _finish(job: TrialJob, settings: TuneSettings, spaces: dict, table, started: float, point: dict):
    rows, best = [], None
    # a trial the time limit kept from starting has no configuration: it is no trial
    records = [(table.record(result.path), result) for result in table.results if result.config is not None]
    records.sort(key=lambda pair: pair[0]["order"])
    for number, (record, result) in enumerate(records):
        row = {"trial": number, "trial_id": record["trial_id"] or os.path.basename(result.path),
               "config": {k: result.config.get(k) for k in spaces if k in result.config},
               "score": record["best"], "last_score": record["last"], "reports": record["reports"],
               "status": record["status"], "seconds": record["seconds"], "fit_seconds": record["fit_seconds"],
               "scores": record["scores"],
               "checkpoints": _kept_scores(result, job.greater_is_better)}
        if result.error is not None:
            row["status"], row["error"] = "error", f"{type(result.error).__name__}: {result.error}"[:2000]
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
                job.eval_metric, row["score"], row["config"], len(entries))
    config = resolve_config(None, row["config"], base=job.config)
    fit = learner.fit(job.train, job.tuning, job.label, config, job.problem_type, job.eval_metric,
                      job.column_types, job.holdout_frac, job.seed, None, 0, trained=learner.Trained(entries, progress))
    fit.summary["hpo"] = {
        "searcher": settings.searcher, "scheduler": settings.scheduler, "num_trials": settings.num_trials,
        "num_to_keep": settings.num_to_keep, "metric": job.eval_metric, "greater_is_better": job.greater_is_better,
        "first_trial_config": point, "best_trial": row["trial"], "best_config": row["config"],
        "best_score": row["score"], "trials": rows, "search_seconds": round(time.time() - started, 3),
    }
    fit.summary["fit_seconds"] = round(time.time() - started, 3)
    return fit
