"""MultiModalPredictor: the public facade. It validates arguments and delegates to learner, inference, persistence."""

from __future__ import annotations

import logging
import os
import shutil
import time

import numpy as np
import pandas as pd

from .config import Config, resolve_config
from .data.frames import read_frame, require_string_names
from .data.types import BINARY, CLASSIFICATION, REGRESSION
from .errors import AutomodalError, NotFittedError

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


def _check_search(spaces: dict, tune_kwargs, teacher, callbacks, init_from, co_tasks) -> bool:
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
    for value, name in ((teacher, "teacher_predictor"), (callbacks, "callbacks"), (init_from, "init_from"),
                        (co_tasks, "co_tasks")):
        if value:
            raise AutomodalError(f"A hyperparameter search does not take {name}; fit without "
                                 "hyperparameter_tune_kwargs to use it.")
    return True


class MultiModalPredictor:
    """Train and use a deep model on a data frame of numerical, categorical (and later text and image) columns.

    Parameters mirror AutoGluon's MultiModalPredictor: `label` names the target column; `problem_type` is
    binary / multiclass / regression (inferred when None), or object_detection / semantic_segmentation (images
    with boxes or masks: see automodal.learners); `eval_metric` is the metric fit reports and evaluate uses;
    `validation_metric` the one early stopping and checkpoint choice follow (optimization.val_metric); `path` is
    where fit() saves the model; `presets` is medium_quality / high_quality / best_quality, or one of them with
    "_hpo" (a search: see automodal.hpo.presets); `hyperparameters`
    overrides configuration keys (a dict of dotted keys, a list of "key=value" strings, or one such string).
    """

    def __new__(cls, *args, **kwargs):
        # object detection and semantic segmentation are their own families (automodal.learners) behind this API
        if cls is MultiModalPredictor:
            from .learners import predictor_class

            family = predictor_class(kwargs.get("problem_type", args[1] if len(args) > 1 else None))
            cls = family or cls
        return super().__new__(cls)

    def __init__(self, label: str | None = None, problem_type: str | None = None, eval_metric: str | None = None,
                 path: str | None = None, presets: str | None = None, hyperparameters=None, verbosity: int = 2,
                 validation_metric: str | None = None):
        if not isinstance(label, str) or not label:
            raise AutomodalError("label must be the name of the label column (a non-empty string).")
        self._label = label
        self._problem_type = problem_type
        self._eval_metric = eval_metric
        self._path = path
        from .hpo.presets import split_preset

        self._presets = presets
        self._verbosity = verbosity
        quality, self._searching_preset = split_preset(presets)
        self._config: Config = resolve_config(quality, hyperparameters)
        if validation_metric is not None:
            self._config = resolve_config(None, {"optimization.val_metric": validation_metric}, base=self._config)
        self._result = None
        self._model = None
        self._meta: dict = {}
        _configure_logging(verbosity)

    # ------------------------------------------------------------------ properties
    @property
    def label(self) -> str:
        return self._label

    @property
    def problem_type(self) -> str | None:
        return self._meta.get("problem_type", self._problem_type)

    @property
    def validation_metric(self) -> str | None:
        """The metric fit follows on the tuning data; None until fit (or a set validation_metric) decides it."""
        return self._meta.get("fit_summary", {}).get("validation_metric", self._config["optimization.val_metric"])

    @property
    def eval_metric(self) -> str | None:
        return self._meta.get("eval_metric", self._eval_metric)

    @property
    def column_types(self) -> dict | None:
        return self._meta.get("column_types")

    @property
    def class_labels(self) -> list | None:
        if self._model is None or self.problem_type not in CLASSIFICATION:
            return None
        return list(self._model.label_processor.classes)

    @property
    def positive_class(self):
        return self.class_labels[1] if self.problem_type == BINARY else None

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def config(self) -> dict:
        """The resolved configuration as nested dicts."""
        return self._config.to_nested()

    # ------------------------------------------------------------------ training
    def fit(self, train_data, tuning_data=None, time_limit: float | None = None, hyperparameters=None,
            column_types: dict | None = None, holdout_frac: float | None = None, seed: int = 0,
            presets: str | None = None, teacher_predictor=None, save_path: str | None = None,
            callbacks: list | None = None, init_from=None, freeze_backbone: bool = False,
            co_tasks: list | None = None, task_weights: list | None = None, hyperparameter_tune_kwargs=None):
        """Train on `train_data` (a DataFrame or a CSV / Parquet path); returns self.

        `tuning_data` is used for validation and checkpoint selection; without it `holdout_frac` of the training
        rows are held out (stratified for classification; where a class is too rare for that, every class keeps
        at least one row in training). `time_limit` (seconds) bounds the whole fit.
        `teacher_predictor` distils a fitted predictor into this one with the distiller.* keys. `callbacks` are
        Lightning callbacks added to the trainer (a fit given callbacks trains on Lightning's Trainer), such as
        `automodal.CutMix(alpha=0.2)`, which mixes the image columns. `init_from` (a fitted predictor or its path)
        starts from that model: its processors, backbones and fusion weights, its head too when the label space is
        the same, and its configuration under `hyperparameters`; the data needs its feature columns.
        `freeze_backbone` then trains the head only, with normalisation statistics frozen too. `co_tasks`
        ([(data, label column), ...]) trains a head per co-task on the same network, one batch of each per step,
        with the loss weighted by `task_weights` (pivot first; equal when None); the co-tasks' data need this
        task's feature columns, and only this task's head is saved.
        `hyperparameter_tune_kwargs` ({"searcher", "scheduler", "num_trials", "num_to_keep", ...}) searches the
        spaces in `hyperparameters` (automodal.hpo's or Ray Tune's) on Ray Tune, each trial a fit like this one;
        the best trial becomes this predictor, and fit_summary()["hpo"] lists every trial.
        """
        from . import learner, persistence

        if time_limit is not None and time_limit <= 0:
            raise AutomodalError(f"time_limit must be a positive number of seconds, got {time_limit}.")
        start = None
        base = self._config
        if init_from is not None:
            initial = init_from if isinstance(init_from, MultiModalPredictor) else MultiModalPredictor.load(init_from)
            start = learner.Start(initial._require_fitted(), initial._meta["architecture"], bool(freeze_backbone))
            base = initial._config
        elif freeze_backbone:
            raise AutomodalError("freeze_backbone=True needs init_from: a fitted predictor whose backbones to keep.")
        from .config.loader import parse_hyperparameters
        from .hpo.presets import preset_search, split_preset
        from .hpo.space import split_hyperparameters

        hyperparameters, spaces = split_hyperparameters(hyperparameters)
        presets, searching_preset = split_preset(presets)
        if searching_preset or (presets is None and self._searching_preset):
            fixed = set(parse_hyperparameters(hyperparameters)) | set(base.explicit)
            spaces, hyperparameter_tune_kwargs = preset_search(spaces, fixed, hyperparameter_tune_kwargs, time_limit)
        searching = _check_search(spaces, hyperparameter_tune_kwargs, teacher_predictor, callbacks, init_from,
                                  co_tasks)
        config = resolve_config(presets, hyperparameters, base=base) if (hyperparameters or presets) else base
        train = read_frame(train_data, "train_data")
        tuning = read_frame(tuning_data, "tuning_data") if tuning_data is not None else None
        for frame, what in ((train, "train_data"), (tuning, "tuning_data")):
            if frame is not None:
                require_string_names(frame, what)
        if teacher_predictor is not None and not isinstance(teacher_predictor, MultiModalPredictor):
            raise AutomodalError("teacher_predictor must be a fitted MultiModalPredictor.")
        path = os.path.abspath(save_path or self._path
                               or os.path.join("automodal_models", time.strftime("%Y%m%d_%H%M%S")))
        persistence.check_target(path)   # before training, not after it
        if searching:
            from .hpo.search import run_search

            result = run_search(train, tuning, self._label, config, spaces, hyperparameter_tune_kwargs,
                                self._problem_type, self._eval_metric, column_types, holdout_frac, seed, time_limit,
                                self._verbosity)
        else:
            result = learner.fit(train, tuning, self._label, config, self._problem_type, self._eval_metric,
                                 column_types, holdout_frac, seed, time_limit, self._verbosity, teacher_predictor,
                                 callbacks, start, co_tasks, task_weights)
        self._config = result.config
        self._result = result
        self._model = result.model
        self._meta = {
            "label": self._label, "problem_type": result.problem_type, "eval_metric": result.eval_metric,
            "column_types": result.column_types, "dropped_columns": result.dropped_columns,
            "architecture": result.architecture, "fit_summary": result.summary, "presets": self._presets,
        }
        self._path = path
        try:
            if result.saves:
                self._save_to(path, result.log_csv)
        finally:
            if result.workdir:
                shutil.rmtree(result.workdir, ignore_errors=True)
        if not result.saves:
            logger.info("This process helped a ddp fit; the first process saves the predictor to %s.", path)
            return self
        logger.info("Fit done: %s = %.4f on the tuning data; saved to %s", result.eval_metric,
                    result.summary["val_score"], os.path.abspath(path))
        return self

    def _require_fitted(self):
        if self._model is None:
            raise NotFittedError("This predictor is not fitted; call fit() or MultiModalPredictor.load(path) first.")
        return self._model

    # ------------------------------------------------------------------ prediction
    def _frame(self, data) -> pd.DataFrame:
        return read_frame(data, "data")

    def _streamed(self, data, chunk_size, output_path, on_ray, predict_chunk, method: str, kwargs: dict,
                  columns: list):
        """Chunked prediction of a file (chunk_size or output_path given), else None; on a Ray cluster through
        Ray Data when on_ray (or, with on_ray None, RAY_ADDRESS) says so."""
        from .ray_predict import predict_on_ray, use_ray
        from .streaming import chunks, check_chunk_size, collect

        if chunk_size is None and output_path is None:
            if on_ray:
                raise AutomodalError("on_ray=True predicts a file in chunks: pass chunk_size or output_path too.")
            return None
        if not isinstance(data, (str, os.PathLike)):
            raise AutomodalError("chunk_size and output_path read the data in chunks from a file: pass the path of a "
                                 "CSV or Parquet file as data.")
        chunk_size = check_chunk_size(chunk_size)
        if use_ray(on_ray):
            results = predict_on_ray(data, self._path, method, kwargs, chunk_size, columns)
        else:
            results = (predict_chunk(chunk) for chunk in chunks(os.fspath(data), chunk_size))
        return collect(results, output_path)

    def predict_proba(self, data, as_pandas: bool | None = None, as_multiclass: bool = True,
                      chunk_size: int | None = None, output_path: str | None = None, on_ray: bool | None = None):
        """Class probabilities; a binary task with as_multiclass=False gives the positive class's column only.

        With `chunk_size` (rows) or `output_path`, `data` is a CSV / Parquet file read in chunks, so memory holds
        one chunk at a time: the probabilities are written to `output_path` (.parquet or .csv, with a `row`
        column) as they come and the path is returned, or gathered into one frame without it. `on_ray` (default:
        when RAY_ADDRESS is set) runs the chunks on a Ray cluster through Ray Data, each worker loading the saved
        predictor once; the results are the same."""
        model = self._require_fitted()
        if self.problem_type not in CLASSIFICATION:
            raise AutomodalError(f"predict_proba needs a classification task; this one is {self.problem_type}. "
                                 "Use predict().")
        columns = self.class_labels if as_multiclass or self.problem_type != BINARY else [self.positive_class]
        streamed = self._streamed(data, chunk_size, output_path, on_ray, lambda chunk: pd.DataFrame(
            self.predict_proba(chunk, as_pandas=True, as_multiclass=as_multiclass)), "predict_proba",
            {"as_multiclass": as_multiclass}, columns)
        if streamed is not None:
            return streamed
        frame = self._frame(data)
        proba = model.outputs(frame)
        as_pandas = isinstance(data, pd.DataFrame) if as_pandas is None else as_pandas
        if self.problem_type == BINARY and not as_multiclass:
            positive = proba[:, 1]
            return pd.Series(positive, index=frame.index, name=self.positive_class) if as_pandas else positive
        if as_pandas:
            return pd.DataFrame(proba, index=frame.index, columns=self.class_labels)
        return proba

    def predict(self, data, as_pandas: bool | None = None, chunk_size: int | None = None,
                output_path: str | None = None, on_ray: bool | None = None):
        """Predicted class labels, or values for regression. `chunk_size` / `output_path` / `on_ray`: as in
        predict_proba."""
        model = self._require_fitted()
        streamed = self._streamed(data, chunk_size, output_path, on_ray,
                                  lambda chunk: self.predict(chunk, as_pandas=True).to_frame(), "predict", {},
                                  [self._label])
        if streamed is not None:
            return streamed
        frame = self._frame(data)
        outputs = model.outputs(frame)
        if self.problem_type == REGRESSION:
            values = outputs
        else:
            classes = np.asarray(self.class_labels, dtype=object)
            values = classes[outputs.argmax(axis=1)]
            try:
                values = values.astype(np.asarray(self.class_labels).dtype)
            except (TypeError, ValueError):
                pass
        as_pandas = isinstance(data, pd.DataFrame) if as_pandas is None else as_pandas
        return pd.Series(values, index=frame.index, name=self._label) if as_pandas else values

    def evaluate(self, data, metrics=None, return_pred: bool = False):
        """Scores on labelled data: {metric: value} for `metrics` (a name or list), default the eval_metric."""
        from .learner import clean_labels
        from .metrics import get_metric, score

        model = self._require_fitted()
        frame = clean_labels(self._frame(data), self._label, "evaluation data")
        names = [metrics] if isinstance(metrics, str) else list(metrics or [self.eval_metric])
        chosen = [get_metric(name, self.problem_type) for name in names]
        outputs = model.outputs(frame)
        if self.problem_type == REGRESSION:
            y_true = pd.to_numeric(frame[self._label], errors="coerce").to_numpy(dtype=np.float64)
        else:
            y_true = model.label_processor.encode(frame[self._label])
        scores = {name: score(metric, y_true, outputs) for name, metric in zip(names, chosen)}
        if return_pred:
            return scores, self.predict(frame)
        return scores

    def optimize_for_inference(self, data, tolerance: float = 0.002) -> dict:
        """Predict on the CPU with int8 Linear layers, if that moves the eval_metric (and accuracy) on `data`,
        labelled rows the model did not train on, by at most `tolerance`; otherwise keep the float network.
        Returns the scores and one-row times measured. Saving still writes the float weights."""
        from .quantize import optimize_for_inference

        return optimize_for_inference(self, data, tolerance)

    def export_onnx(self, data, path: str | None = None, batch_size: int | None = None, verbose: bool = False,
                    opset_version: int = 16, truncate_long_and_double: bool = False):
        """An ONNX model of the network, checked against the predictor on `data`'s rows (ONNX Runtime within 1e-4).

        Its inputs are the processed features of a batch (their names, dtypes and shapes are in the model's doc
        string); its output is `logits`. Returns the model as bytes when `path` is None, else the file written;
        a directory `path` also gets the processors, which `automodal.onnx_predictor.OnnxPredictor` reads to
        predict without torch (numerical and categorical columns).
        `batch_size` rows of `data` trace and check it; `truncate_long_and_double` makes int64 / float64 inputs
        int32 / float32."""
        from .export import export_onnx

        model = self._require_fitted()
        frame = self._frame(data)
        if batch_size is not None:
            frame = frame.head(int(batch_size))
        meta = {"label": self._label, "problem_type": self.problem_type, "column_types": self.column_types}
        return export_onnx(model, frame, path, verbose, opset_version, truncate_long_and_double, meta)

    def extract_embedding(self, data, as_pandas: bool = False):
        """The fused feature vector each row gets just before the prediction head, shape (rows, dim)."""
        model = self._require_fitted()
        frame = self._frame(data)
        embeddings = model.embeddings(frame)
        return pd.DataFrame(embeddings, index=frame.index) if as_pandas else embeddings

    def fit_summary(self, verbosity: int = 0) -> dict:
        """What fit() did: scores, checkpoints, stop reason, sizes, and the resolved configuration."""
        self._require_fitted()
        summary = dict(self._meta.get("fit_summary", {}))
        summary["column_types"] = self.column_types
        summary["dropped_columns"] = self._meta.get("dropped_columns", {})
        summary["config"] = self._config.to_nested()
        if verbosity > 0:
            for key, value in summary.items():
                if key != "config":
                    print(f"{key}: {value}")
        return summary

    # ------------------------------------------------------------------ persistence
    def _save_to(self, path: str, log_csv: str | None = None):
        from . import persistence

        model = self._require_fitted()
        processors = {"features": model.pipeline.to_dict(), "label": model.label_processor.to_dict()}
        persistence.save(path, self._meta, self._config, processors, model.net, log_csv, model.pipeline.save_assets)

    def save(self, path: str):
        """Write the predictor to a directory of YAML, JSON and safetensors files."""
        from .persistence import LOG_FILE

        # The training log lives in the directory fit() saved to (or the predictor was loaded from).
        self._save_to(path, os.path.join(self._path, LOG_FILE) if self._path else None)
        self._path = os.path.abspath(path)
        return self

    @classmethod
    def load(cls, path: str, verbosity: int = 2) -> "MultiModalPredictor":
        from . import persistence
        from .data.pipeline import FeaturePipeline
        from .data.processors import LabelProcessor
        from .inference import FittedModel, inference_device
        from .models.net import build_net
        from .training.finetune import apply_efficient_finetune
        from .training.soup import load_state

        meta, config, processors, weights = persistence.read(path)
        from .learners import predictor_class

        family = predictor_class(meta["problem_type"])
        if family is not None:
            return family._from_saved(path, meta, config, processors, weights, verbosity)
        predictor = cls(meta["label"], meta["problem_type"], meta["eval_metric"], path=path, verbosity=verbosity)
        predictor._config = config
        predictor._presets = meta.get("presets")
        predictor._meta = meta
        pipeline = FeaturePipeline.from_dict(processors["features"], path)
        # Backbones with their own assets (tokenizer, model config) are rebuilt from the saved directory.
        net = apply_efficient_finetune(build_net(dict(meta["architecture"], inputs=pipeline.model_inputs()), config),
                                       config["optimization.efficient_finetune"])
        load_state(net, weights)
        predictor._model = FittedModel.from_config(net, pipeline, LabelProcessor.from_dict(processors["label"]),
                                                   meta["problem_type"], config).to(inference_device(config))
        return predictor

    def __repr__(self):
        state = "fitted" if self._model is not None else "not fitted"
        return f"MultiModalPredictor(label={self._label!r}, problem_type={self.problem_type!r}, {state})"
