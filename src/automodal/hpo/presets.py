"""Presets that search, as AutoGluon's: "medium_quality_hpo", "high_quality_hpo", "best_quality_hpo" apply their
quality preset and search a default space with Bayesian optimisation and ASHA, bounded by time_limit."""

from __future__ import annotations

import logging

from .space import choice, loguniform

logger = logging.getLogger("automodal")

SUFFIX = "_hpo"
TRIALS_WITH_TIME_LIMIT = 512    # time_limit ends the search long before
TRIALS_WITHOUT_TIME_LIMIT = 16


def split_preset(presets):
    """(the quality preset, whether it searches) of a presets name."""
    if isinstance(presets, str) and presets.lower().endswith(SUFFIX):
        return presets[: -len(SUFFIX)], True
    return presets, False


def default_space() -> dict:
    """The space a searching preset searches unless the family has its own (FamilyLearner.search_space)."""
    return {"optimization.learning_rate": loguniform(1e-5, 1e-2),
            "optimization.optim_type": choice(["adamw", "sgd"]),
            "optimization.weight_decay": loguniform(1e-5, 1e-1)}


def preset_search(default: dict, spaces: dict, fixed: set, tune_kwargs, time_limit) -> tuple[dict, dict]:
    """(spaces, hyperparameter_tune_kwargs) of a searching preset: the family's `default` space under the user's own
    spaces, without the keys the user fixed; its settings under the user's."""
    merged = {key: space for key, space in default.items() if key not in fixed}
    merged.update(spaces)
    trials = TRIALS_WITH_TIME_LIMIT if time_limit else TRIALS_WITHOUT_TIME_LIMIT
    if not time_limit and not (tune_kwargs or {}).get("num_trials"):
        logger.warning("A searching preset without time_limit runs %d trials; pass time_limit (seconds) to bound "
                       "the search instead, or hyperparameter_tune_kwargs={'num_trials': N}.", trials)
    settings = {"searcher": "bayes", "scheduler": "ASHA", "num_trials": trials, **(tune_kwargs or {})}
    return merged, settings
