"""Defaults chosen for the data at hand.

The documented defaults (learning rate 1e-4, 8 rows per device accumulated to 128, 10 epochs) suit fine-tuning a
pretrained backbone. A network trained from scratch (tabular MLPs, FT-Transformers, fusion, the built-in text
model) needs a larger learning rate and, on small tables, far more optimizer steps than 10 epochs of 128-row steps
give: 400 rows would get 30 steps. So for keys that neither the user nor a preset set, fit chooses values from the
number of training rows, and for any network a validation metric when the eval_metric counts predicted classes;
fit_summary()["chosen_defaults"] lists each value and why.
"""

from __future__ import annotations

import math

from ..errors import ConfigError
from ..metrics import default_validation_metric
from .loader import Config, default_flat

FROM_SCRATCH_LR = 1e-3
MIN_BATCH, MAX_BATCH = 32, 512
ROWS_PER_STEP = 16          # a batch of about 1/16 of the rows gives 16 steps per epoch on small tables
TARGET_STEPS = 4000         # optimizer steps the epoch budget aims at; early stopping usually ends sooner
MIN_EPOCHS, MAX_EPOCHS = 20, 300
WARMUP_EPOCHS = 2
BAG_FOLDS, BAG_MAX_ROWS = 5, 1000     # a bag costs its folds' time: five fits of 1,000 rows take about 6 s
CLASSIFICATION_BINS = 48    # model.numerical_mlp.piecewise_bins of a classification


def batch_size_for(rows: int) -> int:
    """A power of two near rows / 16, within [32, 512]."""
    size = 2 ** round(math.log2(max(1, rows) / ROWS_PER_STEP))
    return int(min(MAX_BATCH, max(MIN_BATCH, size)))


def from_scratch_choices(train_rows: int, user_batch: int | None = None, devices: int = 1) -> dict:
    """{key: (value, reason)} for a network with no pretrained backbone; user_batch is an env.batch_size someone
    chose, which the batch must not exceed; devices (GPUs or CPU processes) share each batch."""
    batch = batch_size_for(train_rows)
    if user_batch is not None:
        batch = min(batch, user_batch)
    per_device = max(1, batch // devices)
    batch = per_device * devices
    steps_per_epoch = max(1, math.ceil(train_rows / batch))
    epochs = int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch))))
    patience = int(min(30, max(10, epochs // 8)))
    why_steps = (f"{train_rows} training rows in batches of {batch} give {steps_per_epoch} steps per epoch; "
                 f"{epochs} epochs aim at about {TARGET_STEPS} steps, and early stopping ends training sooner")
    return {
        "optimization.learning_rate": (FROM_SCRATCH_LR, "no pretrained backbone: a network trained from scratch "
                                                        "needs a larger learning rate than fine-tuning"),
        "optimization.lr_choice": ("", "a network trained from scratch has no pretrained layers to protect with "
                                    "smaller rates: one uniform rate"),
        "env.per_gpu_batch_size": (per_device, f"about 1/{ROWS_PER_STEP} of the {train_rows} training rows, a power "
                                               f"of two within [{MIN_BATCH}, {MAX_BATCH}]"
                                               + (f", shared by {devices} devices" if devices > 1 else "")),
        "env.batch_size": (batch, "env.per_gpu_batch_size on every device: no gradient accumulation"),
        "optimization.max_epochs": (epochs, why_steps),
        "optimization.val_check_interval": (1.0, "validate once per epoch: epochs are short"),
        "optimization.patience": (patience, f"an eighth of the {epochs} epochs, within [10, 30] validations"),
        "optimization.warmup_steps": (round(min(0.1, WARMUP_EPOCHS / epochs), 4),
                                      f"warm up over the first {WARMUP_EPOCHS} of {epochs} epochs"),
    }


def in_memory_choices() -> dict:
    return {key: (0, "every feature is already in memory: worker processes would only add start-up and copying")
            for key in ("env.num_workers", "env.num_workers_evaluation")}


def validation_choice(eval_metric) -> dict:
    """optimization.val_metric for an eval_metric (metrics.Metric) of predicted classes."""
    chosen = default_validation_metric(eval_metric)
    if chosen == eval_metric.name:
        return {}
    return {"optimization.val_metric": (chosen, f"{eval_metric.name} counts predicted classes: on a small tuning set "
                                                "it moves in steps of one row and picks checkpoints by chance; the "
                                                "log loss follows the same goal smoothly")}


def bagging_choice(rows: int | None) -> dict:
    """optimization.bag_folds for a table of `rows` rows that could bag (see bagging), or for a fit that cannot
    (None); always a value, so that a choice made for an earlier fit does not linger. Measured on the quality
    suites (three seeds, README: k-fold bagging): regressions of at most 1,000 rows gained most (hitters R² -0.027
    -> +0.011), the 17 classifications of at most 1,000 rows +0.023 ROC AUC / accuracy in sum (participation
    +0.011, oj +0.007, braincancer +0.020); classifications of 1,000 to 3,000 rows did not gain."""
    if rows is None or rows > BAG_MAX_ROWS:
        why = (f"one network: bagging is chosen for tables of at most {BAG_MAX_ROWS} rows without images, "
               "trained from scratch, with no tuning_data")
        return {"optimization.bag_folds": (0, why)}
    return {"optimization.bag_folds": (BAG_FOLDS, f"a table of {rows} rows (at most {BAG_MAX_ROWS}): one "
                                                  f"network's fit varies much with chance and a fifth held out "
                                                  f"for tuning is too few rows to catch it; the mean of "
                                                  f"{BAG_FOLDS} networks, each tuned on another fifth, does not")}


def piecewise_choice(classification: bool) -> dict:
    """model.numerical_mlp.piecewise_bins: step features for a classification's numbers, none for a regression's;
    always a value, so that a choice made for an earlier fit does not linger. Measured on 49 small tables and 8
    mid-size classifications (three seeds each, README: Tabular columns): classifications gained (cars 0.804 ->
    0.820, catsup +0.012, caravan +0.011), regressions lost (doctorcontacts and males -0.014 R²)."""
    if classification:
        return {"model.numerical_mlp.piecewise_bins": (
            CLASSIFICATION_BINS, f"a classification: each number also as {CLASSIFICATION_BINS} steps over bins of "
                                 "equal training share, thresholds a class often turns on")}
    return {"model.numerical_mlp.piecewise_bins": (0, "a regression: its numbers read smoothly (step features "
                                                      "cost regressions R² on the quality suites)")}


# the per-layer learning-rate rule (optimization.lr_choice) that reads each key
RATE_KEYS = {"optimization.lr_decay": "layerwise_decay", "optimization.lr_mult": "two_stages"}


def rate_choice(config: Config) -> dict:
    """optimization.lr_choice for an lr_decay or lr_mult set to another value than its default: the rule that reads
    it, so that the key acts
    (a network trained from scratch otherwise gets one uniform rate, and lr_mult acts under two_stages only). A key
    whose rule another setting rules out is a ConfigError naming both."""
    documented = default_flat()      # a saved configuration (a blueprint, init_from) sets every key to a value
    given = [key for key in RATE_KEYS if config.chosen(key) and config[key] != documented[key]]
    if not given:
        return {}
    if config.chosen("optimization.lr_choice"):
        for key in given:
            if config["optimization.lr_choice"] != RATE_KEYS[key]:
                raise ConfigError(f"{key} acts under optimization.lr_choice: {RATE_KEYS[key]}, and lr_choice is "
                                  f"{config['optimization.lr_choice']!r}. Set lr_choice to {RATE_KEYS[key]}, or "
                                  f"leave {key} out.")
        return {}
    if len(given) > 1:
        raise ConfigError("optimization.lr_decay acts under lr_choice layerwise_decay and optimization.lr_mult "
                          "under two_stages: set optimization.lr_choice to the one you want, or set one of them.")
    return {"optimization.lr_choice": (RATE_KEYS[given[0]], f"{given[0]} is set, and the {RATE_KEYS[given[0]]} "
                                                            "rule is what reads it")}


def data_aware_keys() -> set:
    """The keys that fit may choose for the data."""
    return (set(from_scratch_choices(1)) | set(in_memory_choices()) | set(bagging_choice(None))
            | set(piecewise_choice(False)) | {"optimization.val_metric"})


def choose_defaults(config: Config, train_rows: int, from_scratch: bool, in_memory: bool,
                    devices: int = 1, eval_metric=None, bag_rows: int | None = None,
                    classification: bool = False) -> tuple[Config, dict]:
    """The config with data-aware values for the keys nobody chose, and {key: {"value", "reason"}} for those;
    bag_rows: the rows of a table that could train k-fold bagged networks, else None; classification: a
    classification's numbers reach numerical_mlp. Every key that could be chosen starts from its documented
    default, so that what was chosen for an earlier fit of the same predictor (a table trained from scratch, then
    text on a pretrained backbone) does not linger."""
    documented = default_flat()
    config = config.with_defaults({key: documented[key] for key in data_aware_keys()})
    choices = validation_choice(eval_metric) if eval_metric is not None else {}
    choices.update(bagging_choice(bag_rows if from_scratch else None))
    choices.update(piecewise_choice(classification))
    if from_scratch:
        chosen_batch = config["env.batch_size"] if config.chosen("env.batch_size") else None
        choices.update(from_scratch_choices(train_rows, chosen_batch, devices))
    if in_memory:
        choices.update(in_memory_choices())
    choices.update(rate_choice(config))
    applied = {key: {"value": value, "reason": reason} for key, (value, reason) in choices.items()
               if not config.chosen(key) and config[key] != value}
    return config.with_defaults({key: entry["value"] for key, entry in applied.items()}), applied
