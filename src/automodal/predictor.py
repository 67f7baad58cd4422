"""MultiModalPredictor: the public facade. It validates the arguments every problem family shares, holds one
family's learner (automodal.learners) and forwards to it; deployment goes through automodal.deploy."""

from __future__ import annotations

import logging
import os
import shutil
import time

from . import persistence
from .config import Config, resolve_config
from .config.loader import parse_hyperparameters
from .deploy import export, file_prediction, quantize
from .errors import AutomodalError
from .hpo.presets import preset_search, split_preset
from .hpo.space import split_hyperparameters
from .learners.contract import FamilyLearner
from .learners.registry import family_of, load_learner
from .training.tracking import Tracking

logger = logging.getLogger("automodal")


def _configure_logging(verbosity: int):
    level = logging.WARNING if verbosity <= 1 else logging.INFO if verbosity <= 3 else logging.DEBUG
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    for noisy in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbosity < 4 else logging.INFO)


def _check_search(spaces: dict, tune_kwargs) -> bool:
    """Whether fit searches; a search space without hyperparameter_tune_kwargs (or the reverse) is an error."""
    if spaces and tune_kwargs is None:
        raise AutomodalError(f"hyperparameters has search spaces ({', '.join(spaces)}); pass hyperparameter_tune_kwargs"
                             " (for example {'searcher': 'random', 'num_trials': 8}) to search them, or fixed values.")
    if tune_kwargs is None:
        return False
    if not spaces:
        raise AutomodalError("hyperparameter_tune_kwargs needs something to search: give search spaces in "
                             "hyperparameters, e.g. {'optimization.learning_rate': automodal.hpo.loguniform(1e-4, "
                             "1e-2)}.")
    return True


class MultiModalPredictor:
    """Train and use a deep model on a data frame of numerical, categorical, text and image columns, or on images
    with boxes or masks.

    Parameters mirror AutoGluon's MultiModalPredictor: `label` names the target column; `problem_type` is
    binary / multiclass / regression (inferred when None), or object_detection / semantic_segmentation (images
    with boxes or masks: see automodal.learners); `eval_metric` is the metric fit reports and evaluate uses;
    `validation_metric` the one early stopping and checkpoint choice follow (optimization.val_metric); `path` is
    where fit() saves the model; `presets` is medium_quality / high_quality / best_quality, or one of them with
    "_hpo" (a search: see automodal.hpo.presets); `hyperparameters`
    overrides configuration keys (a dict of dotted keys, a list of "key=value" strings, or one such string).
    """

    def __init__(self, label: str | None = None, problem_type: str | None = None, eval_metric: str | None = None,
                 path: str | None = None, presets: str | None = None, hyperparameters=None, verbosity: int = 2,
                 validation_metric: str | None = None):
        family = family_of(problem_type)
        quality, self._searching_preset = split_preset(presets)
        if self._searching_preset:
            family.require("search", f"presets '{presets}' (a hyperparameter search)")
        config = resolve_config(quality, hyperparameters, preset_section=family.preset_section)
        self._learner: FamilyLearner = family(label, problem_type, eval_metric, config, validation_metric, verbosity)
        self._path, self._presets, self._verbosity = path, presets, verbosity
        _configure_logging(verbosity)

    @classmethod
    def _of(cls, learner: FamilyLearner, path: str | None, verbosity: int) -> "MultiModalPredictor":
        predictor = cls.__new__(cls)
        predictor._learner, predictor._path, predictor._verbosity = learner, path, verbosity
        predictor._presets = learner.meta.get("presets")
        predictor._searching_preset = split_preset(predictor._presets)[1]
        _configure_logging(verbosity)
        return predictor

    # ------------------------------------------------------------------ properties
    @property
    def label(self) -> str:
        return self._learner.label

    @property
    def problem_type(self) -> str | None:
        return self._learner.problem_type

    @property
    def validation_metric(self) -> str | None:
        """The metric fit follows on the tuning data; None until fit (or a set validation_metric) decides it."""
        return self._learner.validation_metric

    @property
    def eval_metric(self) -> str | None:
        return self._learner.eval_metric

    @property
    def column_types(self) -> dict | None:
        return self._learner.column_types

    @property
    def class_labels(self) -> list | None:
        return self._learner.class_labels

    @property
    def positive_class(self):
        return self._learner.positive_class

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def config(self) -> dict:
        """The resolved configuration as nested dicts."""
        return self._learner.config.to_nested()

    @property
    def learner(self) -> FamilyLearner:
        """The problem family's learner behind this predictor (what the server, the command line and
        automodal.deploy work with)."""
        return self._learner

    # ------------------------------------------------------------------ training
    def fit(self, train_data, tuning_data=None, time_limit: float | None = None, hyperparameters=None,
            holdout_frac: float | None = None, seed: int = 0, presets: str | None = None,
            save_path: str | None = None, hyperparameter_tune_kwargs=None, column_types: dict | None = None,
            teacher_predictor=None, callbacks: list | None = None, init_from=None, freeze_backbone: bool = False,
            co_tasks: list | None = None, task_weights: list | None = None, loggers: list | None = None):
        """Train on `train_data` (a DataFrame or a CSV / Parquet path; for image tasks also a COCO json); returns
        self.

        `tuning_data` is used for validation and checkpoint selection; without it `holdout_frac` of the training
        rows are held out (stratified for classification; where a class is too rare for that, every class keeps
        at least one row in training). `time_limit` (seconds) bounds the whole fit. `loggers`: experiment trackers,
        Lightning loggers or their names ("tensorboard", "mlflow", "csv", "wandb"), which see every validation
        score, the training loss, the learning rate and the configuration (one run per trial of a search); left
        out, TensorBoard event files are saved in the predictor's tensorboard/ directory when TensorBoard is
        installed, and [] logs to training_log.csv only.
        `hyperparameter_tune_kwargs` ({"searcher", "scheduler", "num_trials", "num_to_keep", ...}) searches the
        spaces in `hyperparameters` (automodal.hpo's or Ray Tune's) on Ray Tune, each trial a fit like this one;
        the best trial becomes this predictor, and fit_summary()["hpo"] lists every trial.

        Table tasks also take: `column_types` ({column: type}); `teacher_predictor` (distils a fitted predictor
        into this one with the distiller.* keys); `callbacks`, Lightning callbacks added to the trainer (a fit
        given callbacks trains on Lightning's Trainer), such as `automodal.CutMix(alpha=0.2)`, which mixes the
        image columns; `init_from` (a fitted predictor or its path), which starts from that model: its processors,
        backbones and fusion weights, its head too when the label space is the same, and its configuration under
        `hyperparameters`; `freeze_backbone`, which then trains the head only, with normalisation statistics frozen
        too; `co_tasks` ([(data, label column), ...]), which trains a head per co-task on the same network, one
        batch of each per step, with the loss weighted by `task_weights` (pivot first; equal when None); the
        co-tasks' data need this task's feature columns, and only this task's head is saved.
        """
        learner = self._learner
        family_keywords = {"column_types": column_types, "teacher_predictor": teacher_predictor, "callbacks": callbacks,
                           "init_from": init_from, "freeze_backbone": freeze_backbone, "co_tasks": co_tasks,
                           "task_weights": task_weights}
        learner.check_fit_keywords(family_keywords)
        family_keywords = {k: v for k, v in family_keywords.items() if k in learner.capabilities.fit_keywords}
        if time_limit is not None and time_limit <= 0:
            raise AutomodalError(f"time_limit must be a positive number of seconds, got {time_limit}.")
        family_keywords = self._unwrapped(family_keywords)
        base = learner.base_config(**family_keywords)
        hyperparameters, spaces = split_hyperparameters(hyperparameters)
        presets, searching_preset = split_preset(presets)
        if searching_preset or (presets is None and self._searching_preset):
            learner.require("search", "a searching preset")
            fixed = set(parse_hyperparameters(hyperparameters)) | set(base.explicit)
            spaces, hyperparameter_tune_kwargs = preset_search(learner.search_space(), spaces, fixed,
                                                               hyperparameter_tune_kwargs, time_limit)
        searching = _check_search(spaces, hyperparameter_tune_kwargs)
        if searching:
            learner.require("search", "fit(hyperparameter_tune_kwargs=...)")
        config: Config = resolve_config(presets, hyperparameters, base=base, preset_section=learner.preset_section) \
            if (hyperparameters or presets) else base
        path = os.path.abspath(save_path or self._path
                               or os.path.join("automodal_models", time.strftime("%Y%m%d_%H%M%S")))
        persistence.check_target(path)   # before training, not after it
        tracked = loggers if isinstance(loggers, Tracking) else Tracking(loggers, os.path.basename(path),
                                                                          {"path": path})
        outcome = learner.fit(train_data, tuning_data, config, time_limit, holdout_frac, seed,
                              (spaces, hyperparameter_tune_kwargs) if searching else None, tracked,
                              **family_keywords)
        learner.meta["presets"] = self._presets
        self._path = path
        try:
            if outcome.saves:
                self._save_to(path, outcome.log_csv, outcome.tensorboard)
        finally:
            if outcome.workdir:
                shutil.rmtree(outcome.workdir, ignore_errors=True)
        if not outcome.saves:
            logger.info("This process helped a ddp fit; the first process saves the predictor to %s.", path)
            return self
        logger.info("Fit done: %s = %.4f on the tuning data; saved to %s", learner.eval_metric,
                    learner.meta["fit_summary"]["val_score"], path)
        return self

    @staticmethod
    def _unwrapped(family_keywords: dict) -> dict:
        """Predictors given to fit (teacher_predictor, init_from) as their learners; a path as the saved one's."""
        keywords = dict(family_keywords)
        teacher = keywords.get("teacher_predictor")
        if teacher is not None:
            if not isinstance(teacher, MultiModalPredictor):
                raise AutomodalError("teacher_predictor must be a fitted MultiModalPredictor.")
            keywords["teacher_predictor"] = teacher._learner
        start = keywords.get("init_from")
        if start is not None:
            keywords["init_from"] = start._learner if isinstance(start, MultiModalPredictor) else load_learner(start)
        return keywords

    # ------------------------------------------------------------------ prediction
    def _streamed(self, data, chunk_size, output_path, on_ray, method: str, kwargs: dict):
        """Chunked prediction of a file (chunk_size or output_path given), else None."""
        if chunk_size is None and output_path is None and not on_ray:
            return None
        self._learner.require("chunked_prediction", "predict(chunk_size=..., output_path=..., on_ray=...)")
        return file_prediction.predict_file(self._learner, self._path, data, chunk_size, output_path, on_ray,
                                            method, kwargs)

    def predict_proba(self, data, as_pandas: bool | None = None, as_multiclass: bool = True,
                      chunk_size: int | None = None, output_path: str | None = None, on_ray: bool | None = None):
        """Class probabilities; a binary task with as_multiclass=False gives the positive class's column only.

        With `chunk_size` (rows) or `output_path`, `data` is a CSV / Parquet file read in chunks, so memory holds
        one chunk at a time: the probabilities are written to `output_path` (.parquet or .csv, with a `row`
        column) as they come and the path is returned, or gathered into one frame without it. `on_ray` (default:
        when RAY_ADDRESS is set) runs the chunks on a Ray cluster through Ray Data, each worker loading the saved
        predictor once; the results are the same."""
        self._learner.require("predict_proba", "predict_proba")
        streamed = self._streamed(data, chunk_size, output_path, on_ray, "predict_proba",
                                  {"as_multiclass": as_multiclass})
        if streamed is not None:
            return streamed
        return self._learner.predict_proba(data, as_pandas=as_pandas, as_multiclass=as_multiclass)

    def predict(self, data, as_pandas: bool | None = None, chunk_size: int | None = None,
                output_path: str | None = None, on_ray: bool | None = None, **options):
        """Predicted class labels, or values for regression; boxes per image (object_detection: `as_coco`,
        `save_results`) or a mask per image (semantic_segmentation). `chunk_size` / `output_path` / `on_ray`: as
        in predict_proba."""
        streamed = self._streamed(data, chunk_size, output_path, on_ray, "predict", {})
        if streamed is not None:
            return streamed
        return self._learner.predict(data, as_pandas=as_pandas, **options)

    def evaluate(self, data, metrics=None, return_pred: bool = False):
        """Scores on labelled data: {metric: value} for `metrics` (a name or list), default the eval_metric (every
        metric of the family for image tasks)."""
        return self._learner.evaluate(data, metrics, return_pred)

    def optimize_for_inference(self, data, tolerance: float = 0.002) -> dict:
        """Predict on the CPU with int8 Linear layers, if that moves the eval_metric (and accuracy) on `data`,
        labelled rows the model did not train on, by at most `tolerance`; otherwise keep the float network.
        Returns the scores and one-row times measured. Saving still writes the float weights."""
        return quantize.optimize_for_inference(self._learner, data, tolerance)

    def export_onnx(self, data, path: str | None = None, batch_size: int | None = None, verbose: bool = False,
                    opset_version: int = 16, truncate_long_and_double: bool = False):
        """An ONNX model of the network, checked against the predictor on `data`'s rows (ONNX Runtime within 1e-4).

        Its inputs are the processed features of a batch (their names, dtypes and shapes are in the model's doc
        string); its output is `logits`. Returns the model as bytes when `path` is None, else the file written;
        a directory `path` also gets the processors, which `automodal.onnx_predictor.OnnxPredictor` reads to
        predict without torch (numerical and categorical columns).
        `batch_size` rows of `data` trace and check it; `truncate_long_and_double` makes int64 / float64 inputs
        int32 / float32."""
        return export.export_onnx(self._learner, data, path, batch_size, verbose, opset_version,
                                  truncate_long_and_double)

    def extract_embedding(self, data, as_pandas: bool = False):
        """The fused feature vector each row gets just before the prediction head, shape (rows, dim)."""
        return self._learner.extract_embedding(data, as_pandas=as_pandas)

    def fit_summary(self, verbosity: int = 0) -> dict:
        """What fit() did: scores, checkpoints, stop reason, sizes, and the resolved configuration."""
        summary = self._learner.fit_summary()
        if verbosity > 0:
            for key, value in summary.items():
                if key != "config":
                    print(f"{key}: {value}")
        return summary

    # ------------------------------------------------------------------ persistence
    def _save_to(self, path: str, log_csv: str | None = None, tensorboard: str | None = None):
        processors, net, save_assets = self._learner.saved_parts()
        persistence.save(path, self._learner.meta, self._learner.config, processors, net, log_csv, save_assets,
                         tensorboard)

    def save(self, path: str):
        """Write the predictor to a directory of YAML, JSON and safetensors files."""
        # The training log lives in the directory fit() saved to (or the predictor was loaded from).
        logs = (os.path.join(self._path, persistence.LOG_FILE),
                os.path.join(self._path, persistence.TENSORBOARD_DIRECTORY)) if self._path else (None, None)
        self._save_to(path, *logs)
        self._path = os.path.abspath(path)
        return self

    @classmethod
    def load(cls, path: str, verbosity: int = 2) -> "MultiModalPredictor":
        """The predictor saved at `path`, of whichever problem family it was trained for."""
        return cls._of(load_learner(path, verbosity), path, verbosity)

    def __repr__(self):
        state = "fitted" if self._learner.fitted else "not fitted"
        return f"MultiModalPredictor(label={self.label!r}, problem_type={self.problem_type!r}, {state})"
