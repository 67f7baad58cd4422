"""fit(): from frames to a FittedModel. Each step is one call; the predictor facade only delegates here."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .config import Config
from .data.codes import read_codes
from .data.frames import read_frame
from .data.infer import check_problem_type, infer_column_types, infer_problem_type
from .data.markers import is_marker, read_numbers
from .data.pipeline import FeaturePipeline
from .data.processors import LabelProcessor, require_columns
from .data.types import CLASSIFICATION, IMAGE, REGRESSION
from .errors import AutomodalError, ConfigError, DataError
from .metrics import DEFAULT_METRICS, get_metric, score, signed

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


def clean_labels(frame: pd.DataFrame, label: str, what: str) -> pd.DataFrame:
    if label not in frame.columns:
        raise DataError(f"Label column '{label}' is not in {what}. Columns are: {list(frame.columns)}.")
    labels = frame[label]
    if is_marker(labels).any():
        numbers, not_numbers = read_numbers(labels)
        frame = frame.copy()
        if numbers.notna().any() and not not_numbers.any():
            frame[label] = numbers      # numbers with '?' for unknown ones: those rows have no label
        else:       # of other markers only a blank cell surely means "no label" ('n/a' may be a class)
            frame[label] = labels.mask(labels.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool))
    missing = frame[label].isna()
    if pd.api.types.is_float_dtype(frame[label]):
        missing |= np.isinf(frame[label].to_numpy(dtype=np.float64, na_value=np.nan))
    if missing.all():
        raise DataError(f"Label column '{label}' in {what} has no values (all NaN or infinite).")
    if missing.any():
        logger.warning("Dropping %d rows of %s whose label '%s' is missing or infinite.", int(missing.sum()), what,
                       label)
        frame = frame[~missing]
    return frame


def checked_holdout(holdout_frac: float | None, rows: int) -> float:
    """holdout_frac, by default a fifth of small data sets and a tenth of larger ones."""
    if holdout_frac is None:
        return 0.2 if rows < 500 else 0.1
    if not 0 < holdout_frac < 1:
        raise DataError(f"holdout_frac must lie in (0, 1), got {holdout_frac}.")
    return holdout_frac


def holdout_split(frame: pd.DataFrame, label: str, problem_type: str, holdout_frac: float | None, seed: int):
    holdout_frac = checked_holdout(holdout_frac, len(frame))
    from sklearn.model_selection import train_test_split

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
    teacher_model = teacher._require_fitted()
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


def _keep_usable_rows(pipeline: FeaturePipeline, frame: pd.DataFrame, features: dict, what: str):
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
class Trained:
    """Training done elsewhere for this very configuration, data and seed (a search's best trial): fit rebuilds
    the network and finishes from these checkpoints instead of training."""
    entries: list                       # (score, higher is better; step; safetensors path; loss), best first
    progress: dict                      # epochs, global_step, stop_reason


@dataclass
class Start:
    """A fitted model that a fit starts from: its processors and network weights (fit(init_from=...))."""
    fitted: object                      # inference.FittedModel
    architecture: dict
    freeze: bool = False                # train the head only; normalisation statistics stay as they are


def prepare_data(train_data, tuning_data, label, config, problem_type, eval_metric, column_types, holdout_frac,
                 seed, teacher=None, start: Start | None = None) -> PreparedData:
    from .models.hashed_text import offline_text_fallback
    from .models.net import select_models, text_conversion

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
    codes = {}
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
        reads, fusion = select_models(names, types, "model.names" in config.explicit)
    if tuning_data is not None:
        require_columns(tuning_data, list(types), "tuning_data")
    data = PreparedData(problem_type, metric, types, dropped, reads, fusion, train_part, val_part, None, None, {}, {},
                        codes)
    return _processed(data, config, label, start.fitted.pipeline if start is not None else None, teacher)


def _processed(data: PreparedData, config: Config, label: str, pipeline=None, teacher=None) -> PreparedData:
    """data with processors fitted on its training rows (or the given pipeline) and the features of its rows."""
    train_part, val_part = data.train_part, data.val_part
    pipeline = pipeline or FeaturePipeline.fit(train_part, data.column_types, config, data.reads)
    train_features = pipeline.transform(train_part, "train_data")
    train_part, train_features = _keep_usable_rows(pipeline, train_part, train_features, "train_data")
    if len(val_part):
        val_features = pipeline.transform(val_part, "tuning data")
        val_part, val_features = _keep_usable_rows(pipeline, val_part, val_features, "tuning data")
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


def _start_weights(net, start: Start, data: PreparedData):
    """The starting model's weights in net (a bagged model's first network's); its head too when the label space
    is the same."""
    from .models.fold_bag import first_network

    old_labels = start.fitted.label_processor
    same_labels = (old_labels.problem_type, old_labels.classes) == (data.problem_type, data.label_processor.classes)
    own = net.state_dict()
    weights = {k: v for k, v in first_network(start.fitted.net).state_dict().items()
               if k in own and own[k].shape == v.shape and (same_labels or not k.startswith("head."))}
    net.load_state_dict(weights, strict=False)
    logger.info("Starting from %d of %d weight tensors of the given model%s.", len(weights), len(own),
                "" if same_labels else " (a new head: the label space differs)")
    if start.freeze:
        for name, parameter in net.named_parameters():
            parameter.requires_grad = name.startswith("head.")


def linear_text(data: PreparedData) -> str | None:
    """The hashed-text model whose n-grams a classification's linear start reads. On airline tweets the start moved
    accuracy from 0.75 to 0.79; a regression leaves text to the network, since on the ratings of clothing reviews a
    ridge start cost R² 0.02 and its cross-validation (no leave-one-out shortcut for so many columns) 28 s."""
    from .models.hashed_text import NAME as HASHED_TEXT

    return HASHED_TEXT if HASHED_TEXT in data.backbones and data.problem_type in CLASSIFICATION else None


def uses_linear_start(config: Config, data: PreparedData, inputs: dict) -> bool:
    """model.linear_start applies to networks trained from scratch that read numerical or categorical columns, or a
    classification's text read by hashed_text."""
    return bool(config["model.linear_start"]
                and (inputs["num_numerical"] or inputs["num_categories"] or linear_text(data))
                and not pretrained(data))


def build_network(data: PreparedData, config: Config, plan, start: Start | None = None):
    """The network to train (weights live here) and the module that runs forward passes (compiled, DataParallel)."""
    import torch

    from .models.linear_start import KNOTS, own_scale_knots
    from .models.net import build_net, ensemble_members, warn_unused_keys
    from .training.finetune import apply_efficient_finetune

    if start is None:   # a saved model's configuration names every key; only a user's own choices are checked
        warn_unused_keys(config, data.models, data.column_types)
    members = start.architecture.get("members", 1) if start is not None else \
        ensemble_members(config, data.backbones, data.fusion)
    inputs = data.pipeline.model_inputs()
    linear = start.architecture.get("linear_start", False) if start is not None else \
        uses_linear_start(config, data, inputs)
    text = start.architecture.get("linear_text") if start is not None else linear_text(data) if linear else None
    if start is not None:
        knots, linear_knots = None, start.architecture.get("linear_knots", 0)
    else:
        knots = own_scale_knots(data.pipeline.processors.get("numerical")) if linear else None
        linear_knots = KNOTS if knots is not None else 0        # the fit below may drop them
    architecture = {"backbones": data.backbones, "fusion": data.fusion, "inputs": inputs,
                    "num_outputs": data.label_processor.num_outputs, "members": members, "linear_start": linear,
                    "linear_text": text, "linear_knots": linear_knots}
    net = build_net(architecture, config)
    if start is not None:
        _start_weights(net, start, data)
    elif linear:
        net.linear_start.fit(data.train_arrays, data.train_arrays["label"], data.problem_type == REGRESSION, knots)
        architecture["linear_knots"] = net.linear_start.knots       # 0 when the scores predicted better
        with torch.no_grad():       # training starts from exactly the linear model's predictions
            for parameter in net.head.parameters():
                parameter.zero_()
    net = apply_efficient_finetune(net, config["optimization.efficient_finetune"])
    forward_net = net
    if config["env.compile.turn_on"]:
        forward_net = torch.compile(net, mode=config["env.compile.mode"], dynamic=config["env.compile.dynamic"],
                                    backend=config["env.compile.backend"])
    if plan.dp_device_ids:
        forward_net = torch.nn.DataParallel(forward_net, device_ids=plan.dp_device_ids)
    return architecture, net, forward_net


def validation_metric(config: Config, data: PreparedData):
    """optimization.val_metric (chosen by data_aware when nobody set it), else the eval_metric."""
    name = config["optimization.val_metric"]
    if name is None:
        return data.metric
    try:
        return get_metric(name, data.problem_type)
    except ConfigError as error:
        raise ConfigError(f"optimization.val_metric: {error}") from None


def select_weights(net, fitted, data: PreparedData, entries: list, method: str, validation) -> dict:
    """Load the final weights into net: a soup of the top-k checkpoints, or the last weights if none was kept,
    chosen by the validation metric; info["eval_score"] is the eval_metric's signed score of the final weights."""
    from .inference import outputs_from_logits
    from .training.soup import choose_weights, load_state

    problem_type = data.problem_type
    y_val = data.labels(data.val_part)
    val_inputs = {k: v for k, v in data.val_arrays.items() if k != "label"}

    def evaluate(state=None, metric=validation):
        if state is not None:
            load_state(net, state)
        outputs = outputs_from_logits(fitted.logits_from_arrays(val_inputs), problem_type, data.label_processor)
        return signed(metric, score(metric, y_val, outputs))

    info = choose_weights(net, entries, method, evaluate)
    if getattr(net, "linear_start", None) is not None:
        info = _shrink_towards_linear(net, evaluate, info)
    return dict(info, eval_score=info["score"] if validation is data.metric else evaluate(metric=data.metric))


HEAD_SCALES = (0.5, 0.75, 1.0)
CLEARLY_BETTER = 0.01       # relative score gain a larger scale needs over a smaller one


def _shrink_towards_linear(net, evaluate, info: dict) -> dict:
    """A network on a linear start: its learned part (the head) halved, unless a larger scale scores clearly better
    on the tuning rows. On small noisy tables the network's correction over-fits and a small tuning set cannot tell;
    halving it brought scikit-learn's diabetes from R² 0.44 to 0.47 (ten splits), while tables where the network
    matters (diamonds: R² 0.97 halved, 0.99 whole) keep the full head. Classifications too: with the linear start's
    choice of number scale, it moved ISLP's Default from 0.013 to 0.006 ROC AUC below logistic regression."""
    import torch

    original = {k: v.clone() for k, v in net.head.state_dict().items()}
    best_score = best_scale = None
    for scale in HEAD_SCALES:
        net.head.load_state_dict({k: v * scale for k, v in original.items()})
        value = info["score"] if scale == 1.0 else evaluate()
        if best_score is None or value > best_score + CLEARLY_BETTER * abs(best_score):
            best_score, best_scale = value, scale
    with torch.no_grad():
        net.head.load_state_dict({k: v * best_scale for k, v in original.items()})
    return dict(info, score=best_score, head_scale=best_scale)


def _mixer(config: Config, data: PreparedData):
    """data.mixup.*: mix images and labels of classification tasks with image columns."""
    if not config["data.mixup.turn_on"] or IMAGE not in data.column_types.values():
        return None
    if data.problem_type not in CLASSIFICATION:
        logger.warning("data.mixup.turn_on mixes class labels; this task is %s, so no mixing happens.",
                       data.problem_type)
        return None
    from .training.mixup import BatchMixer

    return BatchMixer(config, data.label_processor.num_outputs)


def co_task_streams(co_tasks: list, task_weights, data: PreparedData, config: Config, seed: int, width: int):
    """training.multitask.CoTaskStreams for fit(co_tasks=[(frame, label), ...]): each co-task's rows through the
    pivot's processors, its own label encoding, and its weight; plus the pivot's weight."""
    from .data.batches import make_loader
    from .training.multitask import CoTask, CoTaskStreams, check_weights

    try:
        weights = check_weights(task_weights, 1 + len(co_tasks))
    except ValueError as error:
        raise AutomodalError(str(error)) from None
    tasks = []
    for index, item in enumerate(co_tasks):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], str)):
            raise AutomodalError("co_tasks takes (data, label column) pairs, e.g. co_tasks=[(other_df, 'churned')].")
        what = f"co-task {index + 1} (label '{item[1]}')"
        frame, label = read_frame(item[0], what), item[1]
        frame = clean_labels(frame, label, what)
        require_columns(frame, list(data.column_types), what)
        problem_type = infer_problem_type(frame[label], label)
        labels = LabelProcessor(label, problem_type, config["data.label.numerical_label_preprocessing"]).fit(
            frame[label])
        features = data.pipeline.transform(frame, what)
        frame, features = _keep_usable_rows(data.pipeline, frame, features, what)
        loader = make_loader(dict(features, label=labels.transform(frame[label])), config["env.per_gpu_batch_size"],
                             shuffle=True, num_workers=config["env.num_workers"], seed=seed + index + 1,
                             collators=data.pipeline.collators, lengths=data.pipeline.lengths(features))
        tasks.append(CoTask(label, problem_type, labels.num_outputs, loader, weights[index + 1]))
    return CoTaskStreams(tasks, width), weights[0]


def user_callbacks(callbacks, data: PreparedData) -> list:
    from lightning.pytorch.callbacks import Callback

    from .training.cutmix import CutMix

    callbacks = list(callbacks or [])
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise AutomodalError(f"fit(callbacks=...) takes Lightning callbacks (lightning.pytorch.Callback), such "
                                 f"as automodal.CutMix; got {type(callback).__name__}.")
        if isinstance(callback, CutMix) and IMAGE not in data.column_types.values():
            logger.warning("CutMix mixes image columns; this data has none, so nothing is mixed.")
    return callbacks


def pretrained(data: PreparedData) -> bool:
    """Whether any of the fit's networks starts from pretrained weights."""
    from .models.registry import get_spec

    return any(get_spec(name).pretrained for name in data.models)


def data_aware(config: Config, data: PreparedData, devices: int, can_bag: bool = False) -> tuple[Config, dict]:
    """config.data_defaults: values for the keys nobody set, from the rows and the kind of network; can_bag: the
    fit could train k-fold bagged networks (bagging.obstacle found nothing in the way)."""
    from .config.data_defaults import choose_defaults

    from_scratch = not pretrained(data)
    in_memory = IMAGE not in data.column_types.values()
    bag_rows = len(data.train_part) + len(data.val_part) if can_bag and data.problem_type == REGRESSION else None
    config, chosen = choose_defaults(config, len(data.train_part), from_scratch, in_memory, devices, data.metric,
                                     bag_rows)
    if chosen:
        logger.info("Chosen for %d training rows: %s (reasons in fit_summary()['chosen_defaults']).",
                    len(data.train_part), ", ".join(f"{k} = {e['value']}" for k, e in chosen.items()))
    return config, chosen


@dataclass
class TrainedNet:
    """One network trained and finished: its weights are the chosen soup (or the last weights) by now."""
    architecture: dict
    net: object
    progress: dict                      # epochs, global_step, stop_reason, throughput
    entries: list                       # the kept checkpoints' (score, step, ...), best first
    saves: bool                         # False in the other processes of a ddp run
    soup_info: dict
    on_fabric: bool
    module: object                      # the TrainingModule (co-task heads live there)
    workdir: str                        # its logs


def train_network(data: PreparedData, config: Config, plan, seed: int, workdir: str, remaining: float | None,
                  verbosity: int, teacher=None, callbacks: list | None = None, start: Start | None = None,
                  co_tasks: list | None = None, task_weights=None, keeper=None,
                  trained: Trained | None = None) -> TrainedNet:
    """Build one network, train it on data's training rows and finish it on its tuning rows (checkpoint soup,
    head scale); checkpoints and logs go under workdir, and training stops after `remaining` seconds."""
    import lightning.pytorch as pl

    from .data.batches import make_loader
    from .inference import FittedModel, eval_batch_size
    from .training import fabric_loop
    from .training.module import Distillation, TrainingModule
    from .training.session import train, watchers
    from .training.trainer import build_trainer

    pl.seed_everything(seed, verbose=False)  # the teacher's predictions must not change the initial weights
    architecture, net, forward_net = build_network(data, config, plan, start)

    validation = validation_metric(config, data)
    distillation = Distillation(config, data.problem_type) if teacher is not None else None
    module = TrainingModule(net, config, data.problem_type, validation, data.label_processor, forward_net,
                            distillation, _mixer(config, data))
    module.freeze_norms = start is not None and start.freeze
    if co_tasks:
        module.co_tasks, module.pivot_weight = co_task_streams(co_tasks, task_weights, data, config, seed,
                                                               net.feature_width)
    elif task_weights is not None:
        raise AutomodalError("task_weights weighs the pivot against co-tasks; pass co_tasks as well.")
    batch_size = config["env.per_gpu_batch_size"]
    collators = data.pipeline.collators
    processes = plan.world_size if plan.distributed else 1
    if len(data.val_part) < processes:    # a process without a tuning row would skip validation and stall the rest
        raise DataError(f"The tuning data has {len(data.val_part)} row(s); training in {processes} processes needs at "
                        "least one per process. Pass more tuning rows or train in fewer processes.")
    train_loader = make_loader(data.train_arrays, batch_size, shuffle=True, num_workers=config["env.num_workers"],
                               seed=seed, collators=collators, lengths=data.pipeline.lengths(data.train_arrays),
                               processes=processes)
    val_loader = make_loader(data.val_arrays, eval_batch_size(config),
                             num_workers=config["env.num_workers_evaluation"], collators=collators,
                             processes=processes)

    os.makedirs(workdir, exist_ok=True)
    watched = watchers(config, workdir, remaining is not None, keeper)
    extra_callbacks = user_callbacks(callbacks, data)
    # a search's trials report through a Lightning callback, so a finished trial trained on the Trainer
    on_fabric = trained is None and fabric_loop.applies(plan, pretrained(data), module, extra_callbacks, keeper)
    if trained is not None:
        progress, entries, saves = dict(trained.progress), trained.entries, True
    elif on_fabric:
        progress, entries, saves = fabric_loop.train(config, plan, module, train_loader, val_loader, watched,
                                                     workdir, remaining, verbosity)
    else:
        trainer = build_trainer(config, plan, [*watched.callbacks, *extra_callbacks], workdir, remaining, verbosity)
        progress, entries, saves = train(trainer, module, net, train_loader, val_loader, watched)
    net = net.to(f"cuda:{plan.devices[0]}" if plan.accelerator == "gpu" else "cpu")
    fitted = FittedModel.from_config(net, data.pipeline, data.label_processor, data.problem_type, config)
    soup_info = select_weights(net, fitted, data, entries if saves else [], config["optimization.top_k_average_method"],
                               validation)
    if watched.keeper.directory:
        shutil.rmtree(watched.keeper.directory, ignore_errors=True)   # merged into net by now
    return TrainedNet(architecture, net, progress, entries, saves, soup_info, on_fabric, module, workdir)


def fit(train_data: pd.DataFrame, tuning_data: pd.DataFrame | None, label: str, config: Config,
        problem_type: str | None, eval_metric: str | None, column_types: dict | None, holdout_frac: float | None,
        seed: int, time_limit: float | None, verbosity: int, teacher=None, callbacks: list | None = None,
        start: Start | None = None, co_tasks: list | None = None, task_weights=None, keeper=None,
        trained: Trained | None = None) -> FitResult:
    """`keeper` replaces the top-k checkpoint callback (a search's trial reports to Ray Tune instead); like
    training.checkpoints.TopKCheckpoints it has `reload()` and a `directory` to remove (None: nothing to remove).
    `trained` skips training: the network is rebuilt and finished from a search's best trial. With
    optimization.bag_folds (module bagging) one network is trained per fold and the model averages them."""
    started = time.time()
    import lightning.pytorch as pl

    from . import bagging
    from .inference import FittedModel
    from .training.trainer import plan_devices

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
            bag = bagging.train_folds(data, config, plan, folds, seed, workdir, time_limit, started, verbosity)
            net, architecture, runs, val_score = bag.net, bag.architecture, bag.runs, bag.val_score
        else:
            remaining = None if time_limit is None else time_limit - (time.time() - started)
            runs = [train_network(data, config, plan, seed, workdir, remaining, verbosity, teacher, callbacks,
                                  start, co_tasks, task_weights, keeper, trained)]
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
    }
    if folds:       # the values above are the first network's; each network's are here
        summary["folds"] = bag.folds
    if co_tasks:
        summary["co_tasks"] = first.module.co_tasks.summary()
        summary["pivot_weight"] = first.module.pivot_weight
    log_csv = os.path.join(first.workdir, "logs", "metrics.csv")
    return FitResult(fitted, config, data.problem_type, metric.name, data.column_types, data.dropped, architecture,
                     summary, log_csv if os.path.exists(log_csv) else None, workdir, first.saves)
