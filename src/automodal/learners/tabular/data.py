"""The data steps of a table fit: labels cleaned, the task and metric inferred, tuning rows held out, column types
chosen, processors fitted and every row turned into arrays once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ...config import Config
from ...config.data_defaults import choose_defaults
from ...data.codes import read_codes
from ...data.crosses import cross_name, find_crosses
from ...data.infer import check_problem_type, infer_column_types, infer_problem_type
from ...data.pipeline import FeaturePipeline
from ...data.processors import LabelProcessor, require_columns
from ...data.types import CATEGORICAL, CLASSIFICATION, IMAGE, REGRESSION
from ...errors import DataError
from ...folds import checked_holdout
from ...metrics import DEFAULT_METRICS, get_metric
from ...models.hashed_text import offline_text_fallback
from ...models.net import select_models, text_conversion
from ...models.registry import get_spec
from .labels import clean_labels

logger = logging.getLogger(__name__)


def holdout_split(frame: pd.DataFrame, label: str, problem_type: str, holdout_frac: float | None, seed: int):
    holdout_frac = checked_holdout(holdout_frac, len(frame))
    if len(frame) < 4:
        raise DataError(f"Training data has {len(frame)} rows; at least 4 are needed to hold out a tuning set.")
    if problem_type not in CLASSIFICATION:
        return train_test_split(frame, test_size=holdout_frac, random_state=seed)
    n_val = int(np.ceil(holdout_frac * len(frame)))
    counts = frame[label].value_counts()
    if counts.min() >= 2 and len(counts) <= min(n_val, len(frame) - n_val):
        return train_test_split(frame, test_size=holdout_frac, random_state=seed, stratify=frame[label])
    # Too few rows to split every class in proportion: one row of each class stays in training and the tuning rows
    # are drawn from the rest, so that no tuning row has a class the network has no output for.
    order = np.random.default_rng(seed).permutation(len(frame))
    spare = order[frame[label].iloc[order].duplicated().to_numpy()]
    if len(spare) == 0:
        raise DataError(f"Every class of label '{label}' has a single row, so no tuning rows can be held out with "
                        "classes seen in training. Pass tuning_data, or check that the label names classes.")
    held = np.zeros(len(frame), dtype=bool)
    held[spare[:n_val]] = True
    return frame[~held], frame[held]


def _teacher_targets(teacher, frame: pd.DataFrame, label_processor: LabelProcessor, problem_type: str) -> np.ndarray:
    """The teacher's logits for these rows, in the student's class order (or label scale for regression)."""
    if teacher.problem_type != problem_type or teacher.label != label_processor.label:
        raise DataError(f"teacher_predictor predicts '{teacher.label}' ({teacher.problem_type}); the student "
                        f"predicts '{label_processor.label}' ({problem_type}). They must match.")
    teacher_model = teacher.require_fitted()
    logits = teacher_model.logits(frame).numpy()
    if problem_type == REGRESSION:
        values = teacher_model.label_processor.inverse_regression(logits[:, 0].astype(np.float64))
        return ((values - label_processor.center) / label_processor.scale).astype(np.float32)[:, None]
    teacher_classes = [str(c) for c in teacher.class_labels]
    order = []
    for cls in label_processor.classes:
        if str(cls) not in teacher_classes:
            raise DataError(f"teacher_predictor does not know class {cls!r}; its classes are {teacher.class_labels}.")
        order.append(teacher_classes.index(str(cls)))
    return logits[:, order].astype(np.float32)


@dataclass
class PreparedData:
    """The outcome of the data steps: task, metric, column types, models, splits, fitted processors and features."""
    problem_type: str
    metric: object
    column_types: dict
    dropped: dict
    reads: dict                         # {backbone: the column types it reads}
    fusion: str | None
    train_part: pd.DataFrame
    val_part: pd.DataFrame
    label_processor: LabelProcessor
    pipeline: FeaturePipeline
    train_arrays: dict
    val_arrays: dict
    codes: dict = field(default_factory=dict)     # {column: why} for integer columns read as categories
    crosses: list = field(default_factory=list)   # pairs of columns also read together as categories (data.crosses)

    @property
    def backbones(self) -> list:
        return list(self.reads)

    @property
    def models(self) -> list:
        return self.backbones + ([self.fusion] if self.fusion else [])

    def labels(self, frame: pd.DataFrame) -> np.ndarray:
        """The label column of frame as the metrics take it: class indices, or numbers."""
        if self.problem_type in CLASSIFICATION:
            return self.label_processor.encode(frame[self.label_processor.label])
        return frame[self.label_processor.label].to_numpy(dtype=np.float64)


def keep_usable_rows(pipeline: FeaturePipeline, frame: pd.DataFrame, features: dict, what: str):
    """Drop the rows a processor asks to skip (data.image.missing_value_strategy: skip)."""
    keep = pipeline.keep_mask(features)
    if keep is None or keep.all():
        return frame, features
    logger.warning("Skipping %d of %d rows of %s with missing or unreadable images.", int((~keep).sum()),
                   len(keep), what)
    if not keep.any():
        raise DataError(f"Every row of {what} has a missing or unreadable image; check the image paths, or set "
                        "data.image.missing_value_strategy to 'zero'.")
    return frame[keep], {k: v[keep] for k, v in features.items()}


@dataclass
class Start:
    """A fitted model that a fit starts from: its processors and network weights (fit(init_from=...))."""
    fitted: object                      # inference.FittedModel
    architecture: dict
    freeze: bool = False                # train the head only; normalisation statistics stay as they are


def prepare_data(train_data, tuning_data, label, config, problem_type, eval_metric, column_types, holdout_frac,
                 seed, teacher=None, start: Start | None = None) -> PreparedData:

    train_data = clean_labels(train_data, label, "train_data")
    problem_type = check_problem_type(problem_type) or infer_problem_type(train_data[label], label)
    if problem_type in CLASSIFICATION and train_data[label].nunique() < 2:
        raise DataError(f"Label column '{label}' has a single class ({train_data[label].iloc[0]!r}); "
                        "classification needs at least two.")
    metric = get_metric(eval_metric or DEFAULT_METRICS[problem_type], problem_type)
    if tuning_data is not None:
        tuning_data = clean_labels(tuning_data, label, "tuning_data")
        train_part, val_part = train_data, tuning_data
    else:
        train_part, val_part = holdout_split(train_data, label, problem_type, holdout_frac, seed)
    codes, crosses = {}, []
    if start is not None:       # the starting model's columns, processors and backbones
        types, dropped = dict(start.fitted.pipeline.column_types), {}
        require_columns(train_data, list(types), "train_data")
        reads, fusion = dict.fromkeys(start.architecture["backbones"]), start.architecture["fusion"]
    else:
        types, dropped = infer_column_types(train_data, label, column_types)
        # judged on the training rows only: the tuning rows' labels stay out of every choice, as out of training
        types, codes = read_codes(train_part, label, types, problem_type, chosen=column_types or {})
        names = offline_text_fallback(config["model.names"], types, config)
        types = text_conversion(types, config, names)
        crosses = find_crosses(train_part, label, types, problem_type, config["data.categorical.crosses"])
        # a cross is one more categorical column: a table of numbers alone gains the categorical model for it
        read = dict(types, **{cross_name(cross["columns"]): CATEGORICAL for cross in crosses})
        reads, fusion = select_models(names, read, "model.names" in config.explicit)
        if not any(CATEGORICAL in modalities for modalities in reads.values()):
            crosses = []
    if tuning_data is not None:
        require_columns(tuning_data, list(types), "tuning_data")
    data = PreparedData(problem_type, metric, types, dropped, reads, fusion, train_part, val_part, None, None, {}, {},
                        codes, [cross["columns"] for cross in crosses])
    return _processed(data, config, label, start.fitted.pipeline if start is not None else None, teacher)


def _processed(data: PreparedData, config: Config, label: str, pipeline=None, teacher=None) -> PreparedData:
    """data with processors fitted on its training rows (or the given pipeline) and the features of its rows."""
    train_part, val_part = data.train_part, data.val_part
    pipeline = pipeline or FeaturePipeline.fit(train_part, data.column_types, config, data.reads, data.crosses)
    train_features = pipeline.transform(train_part, "train_data")
    train_part, train_features = keep_usable_rows(pipeline, train_part, train_features, "train_data")
    if len(val_part):
        val_features = pipeline.transform(val_part, "tuning data")
        val_part, val_features = keep_usable_rows(pipeline, val_part, val_features, "tuning data")
    else:
        val_features = {key: value[:0] for key, value in train_features.items()}
    label_processor = LabelProcessor(label, data.problem_type, config["data.label.numerical_label_preprocessing"],
                                     config["data.pos_label"]).fit(train_part[label])
    train_arrays = dict(train_features, label=label_processor.transform(train_part[label]))
    val_arrays = dict(val_features, label=label_processor.transform(val_part[label]))
    if teacher is not None:
        train_arrays["teacher_logits"] = _teacher_targets(teacher, train_part, label_processor, data.problem_type)
    return replace(data, train_part=train_part, val_part=val_part, label_processor=label_processor, pipeline=pipeline,
                   train_arrays=train_arrays, val_arrays=val_arrays)


def without_holdout(data: PreparedData, config: Config) -> PreparedData:
    """The same data with every row for training and none held out (bagging cuts its own folds): processors
    refitted on all rows."""
    rows = pd.concat([data.train_part, data.val_part])
    return _processed(replace(data, train_part=rows, val_part=rows.iloc[:0]), config,
                      data.label_processor.label)


def pretrained(data: PreparedData) -> bool:
    """Whether any of the fit's networks starts from pretrained weights."""
    return any(get_spec(name).pretrained for name in data.models)


def data_aware(config: Config, data: PreparedData, devices: int, can_bag: bool = False) -> tuple[Config, dict]:
    """config.data_defaults: values for the keys nobody set, from the rows and the kind of network; can_bag: the
    fit could train k-fold bagged networks (bagging.obstacle found nothing in the way)."""
    from_scratch = not pretrained(data)
    in_memory = IMAGE not in data.column_types.values()
    bag_rows = len(data.train_part) + len(data.val_part) if can_bag else None
    # model.numerical_mlp.piecewise_bins: a classification whose numbers reach numerical_mlp
    steps = data.problem_type in CLASSIFICATION and "numerical_mlp" in data.models
    config, chosen = choose_defaults(config, len(data.train_part), from_scratch, in_memory, devices, data.metric,
                                     bag_rows, steps)
    if chosen:
        logger.info("Chosen for %d training rows: %s (reasons in fit_summary()['chosen_defaults']).",
                    len(data.train_part), ", ".join(f"{k} = {e['value']}" for k, e in chosen.items()))
    return config, chosen
