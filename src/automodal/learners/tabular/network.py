"""One network of a table fit: built (on a linear start, from a starting model, adapted, compiled), trained on the
project's Fabric loop or Lightning's Trainer, and finished on its tuning rows (checkpoint soup, head scale)."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from ...config import Config
from ...data.batches import make_loader
from ...data.frames import read_frame
from ...data.infer import infer_problem_type
from ...data.processors import LabelProcessor, require_columns
from ...data.types import CATEGORICAL, CLASSIFICATION, IMAGE, REGRESSION
from ...errors import AutomodalError, ConfigError, DataError
from ...inference import FittedModel, eval_batch_size, outputs_from_logits
from ...metrics import get_metric, score, signed
from ...models.fold_bag import first_network
from ...models.hashed_text import NAME as HASHED_TEXT
from ...models.linear_start import KNOTS, own_scale_knots
from ...models.net import build_net, ensemble_members, warn_unused_keys
from ...models.tabular import CATEGORICAL_MLP
from ...models.target_encoding import TARGET_MEANS, encoded_columns, target_width
from ...training import fabric_loop, tracking
from ...training.cutmix import CutMix
from ...training.finetune import apply_efficient_finetune, check_adapters
from ...training.mixup import BatchMixer
from ...training.module import Distillation, TrainingModule
from ...training.multitask import CoTask, CoTaskStreams, check_weights
from ...training.session import train, watchers
from ...training.soup import choose_weights, load_state
from ...training.tracking import Tracking
from ...training.trainer import build_trainer
from ..contract import Trained
from .data import PreparedData, Start, keep_usable_rows, pretrained
from .labels import clean_labels

logger = logging.getLogger(__name__)


def _start_weights(net, start: Start, data: PreparedData):
    """The starting model's weights in net (a bagged model's first network's); its head too when the label space
    is the same."""
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
    return HASHED_TEXT if HASHED_TEXT in data.backbones and data.problem_type in CLASSIFICATION else None


def uses_linear_start(config: Config, data: PreparedData, inputs: dict) -> bool:
    """model.linear_start applies to networks trained from scratch that read numerical or categorical columns, or a
    classification's text read by hashed_text."""
    return bool(config["model.linear_start"]
                and (inputs["num_numerical"] or inputs["num_categories"] or linear_text(data))
                and not pretrained(data))


def target_encoding_plan(config: Config, data: PreparedData, inputs: dict) -> dict | None:
    """The categorical columns the categorical MLP also reads as their categories' mean labels
    (model.categorical_mlp.target_encoding), or None."""
    if CATEGORICAL_MLP not in data.backbones:
        return None
    columns = encoded_columns(inputs["num_categories"], config["model.categorical_mlp.target_encoding"])
    if not columns:
        return None
    return {"columns": columns, "width": target_width(data.label_processor.num_outputs)}


def build_network(data: PreparedData, config: Config, plan, start: Start | None = None, seed: int = 0):
    """The architecture, the network to train (weights live here), the module that runs forward passes (compiled,
    DataParallel) and the training rows' arrays (with the out-of-fold category means of a target encoding)."""
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
    encoding = start.architecture.get("target_encoding") if start is not None else \
        target_encoding_plan(config, data, inputs)
    architecture = {"backbones": data.backbones, "fusion": data.fusion, "inputs": inputs,
                    "num_outputs": data.label_processor.num_outputs, "members": members, "linear_start": linear,
                    "linear_text": text, "linear_knots": linear_knots, "target_encoding": encoding}
    net = build_net(architecture, config)
    train_arrays = data.train_arrays
    if start is not None:   # the start's category means come with its weights
        _start_weights(net, start, data)
    elif linear:
        net.linear_start.fit(data.train_arrays, data.train_arrays["label"], data.problem_type == REGRESSION, knots)
        architecture["linear_knots"] = net.linear_start.knots       # 0 when the scores predicted better
        with torch.no_grad():       # training starts from exactly the linear model's predictions
            for parameter in net.head.parameters():
                parameter.zero_()
    check_adapters(net, config["optimization.efficient_finetune"])
    net = apply_efficient_finetune(net, config["optimization.efficient_finetune"])
    forward_net = net
    if config["env.compile.turn_on"]:
        forward_net = torch.compile(net, mode=config["env.compile.mode"], dynamic=config["env.compile.dynamic"],
                                    backend=config["env.compile.backend"])
    if plan.dp_device_ids:
        forward_net = torch.nn.DataParallel(forward_net, device_ids=plan.dp_device_ids)
    if encoding and start is None:
        encoder = net.backbones[CATEGORICAL_MLP].target_encoding
        means = encoder.fit(data.train_arrays[CATEGORICAL], data.train_arrays["label"],
                            data.label_processor.num_outputs, seed)
        train_arrays = dict(train_arrays, **{TARGET_MEANS: means})
    return architecture, net, forward_net, train_arrays


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
    return BatchMixer(config, data.label_processor.num_outputs)


def co_task_streams(co_tasks: list, task_weights, data: PreparedData, config: Config, seed: int, width: int):
    """training.multitask.CoTaskStreams for fit(co_tasks=[(frame, label), ...]): each co-task's rows through the
    pivot's processors, its own label encoding, and its weight; plus the pivot's weight."""
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
        frame, features = keep_usable_rows(data.pipeline, frame, features, what)
        loader = make_loader(dict(features, label=labels.transform(frame[label])), config["env.per_gpu_batch_size"],
                             shuffle=True, num_workers=config["env.num_workers"], seed=seed + index + 1,
                             collators=data.pipeline.collators, lengths=data.pipeline.lengths(features))
        tasks.append(CoTask(label, problem_type, labels.num_outputs, loader, weights[index + 1]))
    return CoTaskStreams(tasks, width), weights[0]


def user_callbacks(callbacks, data: PreparedData) -> list:
    callbacks = list(callbacks or [])
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise AutomodalError(f"fit(callbacks=...) takes Lightning callbacks (lightning.pytorch.Callback), such "
                                 f"as automodal.CutMix; got {type(callback).__name__}.")
        if isinstance(callback, CutMix) and IMAGE not in data.column_types.values():
            logger.warning("CutMix mixes image columns; this data has none, so nothing is mixed.")
    return callbacks


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
                  trained: Trained | None = None, tracked: Tracking | None = None) -> TrainedNet:
    """Build one network, train it on data's training rows and finish it on its tuning rows (checkpoint soup,
    head scale); checkpoints and logs go under workdir, and training stops after `remaining` seconds. `tracked`:
    the experiment trackers this run logs to (training.tracking)."""
    pl.seed_everything(seed, verbose=False)  # the teacher's predictions must not change the initial weights
    architecture, net, forward_net, train_arrays = build_network(data, config, plan, start, seed)

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
    train_loader = make_loader(train_arrays, batch_size, shuffle=True, num_workers=config["env.num_workers"],
                               seed=seed, collators=collators, lengths=data.pipeline.lengths(train_arrays),
                               processes=processes)
    val_loader = make_loader(data.val_arrays, eval_batch_size(config),
                             num_workers=config["env.num_workers_evaluation"], collators=collators,
                             processes=processes)

    os.makedirs(workdir, exist_ok=True)
    watched = watchers(config, workdir, remaining is not None, keeper)
    extra_callbacks = user_callbacks(callbacks, data)
    # a search's trials report through a Lightning callback, so a finished trial trained on the Trainer
    on_fabric = trained is None and fabric_loop.applies(plan, pretrained(data), module, extra_callbacks, keeper)
    loggers = tracked.loggers(workdir) if tracked is not None and trained is None else []
    tracking.start(loggers, config, tracked.tags if tracked is not None else {})
    if trained is not None:
        progress, entries, saves = dict(trained.progress), trained.entries, True
    elif on_fabric:
        progress, entries, saves = fabric_loop.train(config, plan, module, train_loader, val_loader, watched,
                                                     workdir, remaining, verbosity, loggers)
    else:
        trainer = build_trainer(config, plan, [*watched.callbacks, *extra_callbacks], workdir, remaining, verbosity,
                                loggers)
        progress, entries, saves = train(trainer, module, net, train_loader, val_loader, watched)
    net = net.to(f"cuda:{plan.devices[0]}" if plan.accelerator == "gpu" else "cpu")
    fitted = FittedModel.from_config(net, data.pipeline, data.label_processor, data.problem_type, config)
    soup_info = select_weights(net, fitted, data, entries if saves else [], config["optimization.top_k_average_method"],
                               validation)
    if watched.keeper.directory:
        shutil.rmtree(watched.keeper.directory, ignore_errors=True)   # merged into net by now
    return TrainedNet(architecture, net, progress, entries, saves, soup_info, on_fabric, module, workdir)
