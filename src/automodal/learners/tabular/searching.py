"""What a hyperparameter search needs from the table family before its trials start: the data prepared once with
the first trial's choices, the validation metric trials report, the data-aware values the first trial tries, and the
searched keys of models the data has no column for."""

from __future__ import annotations

from ...config import Config
from ...models.registry import FUSION, get_spec, known_names
from ..contract import SearchSetup
from .data import data_aware, prepare_data
from .network import validation_metric


def _model_group_modalities() -> dict:
    """{config group: modalities it reads} for every backbone (fusion keys always apply)."""
    groups: dict = {}
    for name in known_names():
        spec = get_spec(name)
        if FUSION not in spec.modalities:
            groups.setdefault(spec.config_group, set()).update(spec.modalities)
    return groups


def absent_model_keys(keys: list, column_types: dict) -> dict:
    """{key: why} for the keys of models that read none of the data's column types."""
    present = set(column_types.values())
    groups = _model_group_modalities()
    dropped = {}
    for key in keys:
        parts = key.split(".")
        group = parts[1] if parts[0] == "model" and len(parts) > 2 else None
        if group in groups and not groups[group] & present:
            dropped[key] = f"the data has no {' / '.join(sorted(groups[group]))} column for that model."
    return dropped


def search_setup(train, tuning, label: str, config: Config, keys: list, choices: dict, problem_type, eval_metric,
                 column_types, holdout_frac, seed: int) -> SearchSetup:
    data = prepare_data(train, tuning, label, config.updated(choices), problem_type, eval_metric, column_types,
                        holdout_frac, seed)
    dropped = absent_model_keys(keys, data.column_types)
    defaults, _ = data_aware(config.updated({k: v for k, v in choices.items() if k not in dropped}), data, 1)
    validation = validation_metric(defaults, data)
    return SearchSetup(validation.name, validation.greater_is_better, defaults,
                       {"label": label, "problem_type": data.problem_type, "eval_metric": data.metric.name},
                       {"column_types": column_types}, dropped)
