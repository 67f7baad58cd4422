"""fit's `hyperparameter_tune_kwargs`, checked before anything starts: an unknown key or value is an error that
lists the choices, never a failure in the middle of a search."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError

SEARCHERS = ("random", "bayes")
SCHEDULERS = ("FIFO", "ASHA")
ASHA_ARGS = ("grace_period", "reduction_factor", "max_t", "brackets")
KEYS = ("searcher", "scheduler", "num_trials", "num_to_keep", "scheduler_init_args", "max_concurrent_trials",
        "resources_per_trial", "address", "storage_path")


@dataclass
class TuneSettings:
    searcher: str = "random"
    scheduler: str = "FIFO"
    num_trials: int = 8
    num_to_keep: int = 3            # checkpoints kept per trial, ordered by the metric's direction
    scheduler_init_args: dict = field(default_factory=dict)
    max_concurrent_trials: int | None = None
    resources_per_trial: dict | None = None   # {"cpu": n, "gpu": m}; by default the machine shared among trials
    address: str | None = None      # an existing Ray cluster; else RAY_ADDRESS, else a local one
    storage_path: str | None = None  # where trials write checkpoints; every node must reach it


def _choice(key: str, value, allowed: tuple) -> str:
    for option in allowed:
        if str(value).lower() == option.lower():
            return option
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"hyperparameter_tune_kwargs['{key}'] = {value!r} is not known.{hint} Use one of "
                      f"{', '.join(allowed)}.")


def _positive_int(key: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"hyperparameter_tune_kwargs['{key}'] must be an integer of at least {minimum}, "
                          f"got {value!r}.")
    return value


def parse_settings(kwargs) -> TuneSettings:
    if not isinstance(kwargs, Mapping):
        raise ConfigError("hyperparameter_tune_kwargs must be a dict such as {'searcher': 'bayes', 'scheduler': "
                          f"'ASHA', 'num_trials': 8}}; got {type(kwargs).__name__}.")
    for key in kwargs:
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"hyperparameter_tune_kwargs has an unknown key '{key}'.{hint} Known keys: "
                              f"{', '.join(KEYS)}.")
    settings = TuneSettings()
    if kwargs.get("searcher") is not None:
        settings.searcher = _choice("searcher", kwargs["searcher"], SEARCHERS)
    if kwargs.get("scheduler") is not None:
        settings.scheduler = _choice("scheduler", kwargs["scheduler"], SCHEDULERS)
    if kwargs.get("num_trials") is not None:
        settings.num_trials = _positive_int("num_trials", kwargs["num_trials"])
    if kwargs.get("num_to_keep") is not None:
        settings.num_to_keep = _positive_int("num_to_keep", kwargs["num_to_keep"])
    if kwargs.get("max_concurrent_trials") is not None:
        settings.max_concurrent_trials = _positive_int("max_concurrent_trials", kwargs["max_concurrent_trials"])
    init_args = dict(kwargs.get("scheduler_init_args") or {})
    if init_args and settings.scheduler != "ASHA":
        raise ConfigError("hyperparameter_tune_kwargs['scheduler_init_args'] configures ASHA; set 'scheduler': "
                          "'ASHA' or leave the arguments out.")
    for key, value in init_args.items():
        if key not in ASHA_ARGS:
            raise ConfigError(f"scheduler_init_args has an unknown key '{key}'; ASHA takes {', '.join(ASHA_ARGS)}.")
        init_args[key] = _positive_int(f"scheduler_init_args.{key}", value, 2 if key == "reduction_factor" else 1)
    settings.scheduler_init_args = init_args
    resources = kwargs.get("resources_per_trial")
    if resources is not None:
        if not isinstance(resources, Mapping) or not set(resources) <= {"cpu", "gpu"} or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in resources.values()):
            raise ConfigError("hyperparameter_tune_kwargs['resources_per_trial'] must look like {'cpu': 2, 'gpu': 1}"
                              f"; got {resources!r}.")
        settings.resources_per_trial = {"cpu": resources.get("cpu", 1), "gpu": resources.get("gpu", 0)}
    for key in ("address", "storage_path"):
        if kwargs.get(key) is not None:
            if not isinstance(kwargs[key], str) or not kwargs[key]:
                raise ConfigError(f"hyperparameter_tune_kwargs['{key}'] must be a non-empty string.")
            setattr(settings, key, kwargs[key])
    return settings
