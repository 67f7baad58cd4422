"""The table family: rows of numbers, categories, free text and image paths; binary, multiclass or regression."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd

from ...config import Config, resolve_config
from ...data.frames import read_frame, require_string_names
from ...data.pipeline import FeaturePipeline
from ...data.processors import LabelProcessor
from ...data.types import BINARY, CLASSIFICATION, REGRESSION
from ...errors import AutomodalError
from ...hpo.cluster import require_ray
from ...inference import FittedModel, inference_device
from ...metrics import get_metric, score
from ...models.net import build_net
from ...training.finetune import apply_efficient_finetune
from ...training.soup import load_state
from ..contract import Capabilities, FamilyLearner, FitOutcome, RequestSchema, SearchSetup, Trained
from .labels import clean_labels
from .onnx import table_graph

TABLE_FIT_KEYWORDS = ("column_types", "teacher_predictor", "callbacks", "init_from", "freeze_backbone", "co_tasks",
                      "task_weights")


class TabularLearner(FamilyLearner):
    """`model` is an inference.FittedModel: the fitted processors, the network and how to batch."""
    family = "tabular"
    problem_types = (BINARY, "multiclass", REGRESSION)
    capabilities = Capabilities(fit_keywords=TABLE_FIT_KEYWORDS, predict_proba=True, embeddings=True,
                                export_onnx=True, optimize_for_inference=True, chunked_prediction=True,
                                validation_metric=True, devices=True, search=True)
    alternatives = {"predict_proba": "it is a regression; use predict()."}

    def __init__(self, label: str, problem_type: str | None, eval_metric: str | None, config: Config,
                 validation_metric: str | None = None, verbosity: int = 2):
        if not isinstance(label, str) or not label:
            raise AutomodalError("label must be the name of the label column (a non-empty string).")
        super().__init__(label, problem_type, eval_metric, config, None, verbosity)
        if validation_metric is not None:
            self.config = resolve_config(None, {"optimization.val_metric": validation_metric}, base=config)
        self.model: FittedModel | None = None

    @property
    def validation_metric(self) -> str | None:
        """The metric fit follows on the tuning data; None until fit (or a set validation_metric) decides it."""
        return self.meta.get("fit_summary", {}).get("validation_metric", self.config["optimization.val_metric"])

    @property
    def class_labels(self) -> list | None:
        if self.model is None or self.problem_type not in CLASSIFICATION:
            return None
        return list(self.model.label_processor.classes)

    @property
    def positive_class(self):
        return self.class_labels[1] if self.problem_type == BINARY else None

    def base_config(self, init_from=None, **_) -> Config:
        return init_from.config if init_from is not None else self.config

    # ---------------------------------------------------------------- training
    def fit(self, train_data, tuning_data, config: Config, time_limit, holdout_frac, seed: int, search=None,
            tracked=None, column_types: dict | None = None, teacher_predictor=None, callbacks: list | None = None,
            init_from=None, freeze_backbone: bool = False, co_tasks: list | None = None,
            task_weights=None) -> FitOutcome:
        """`teacher_predictor` and `init_from` are learners of this family (the facade unwraps predictors)."""
        if freeze_backbone and init_from is None:
            raise AutomodalError("freeze_backbone=True needs init_from: a fitted predictor whose backbones to keep.")
        if search is not None:
            for value, name in ((teacher_predictor, "teacher_predictor"), (callbacks, "callbacks"),
                                (init_from, "init_from"), (co_tasks, "co_tasks")):
                if value:
                    raise AutomodalError(f"A hyperparameter search does not take {name}; fit without "
                                         "hyperparameter_tune_kwargs to use it.")
        if teacher_predictor is not None and not isinstance(teacher_predictor, TabularLearner):
            raise AutomodalError("teacher_predictor must be a fitted MultiModalPredictor of a table task.")
        # Lightning, scikit-learn's splits and the training modules load when a fit runs, so that a new process that
        # loads a saved predictor and predicts imports none of them (1.4 s in all, 2 cores, idle)
        from .fitting import Start, fit as table_fit

        start = None
        if init_from is not None:
            if not isinstance(init_from, TabularLearner):
                raise AutomodalError(f"init_from needs a predictor of a table task; this one is "
                                     f"{init_from.problem_type}.")
            start = Start(init_from.require_fitted(), init_from.meta["architecture"], bool(freeze_backbone))
        train = read_frame(train_data, "train_data")
        tuning = read_frame(tuning_data, "tuning_data") if tuning_data is not None else None
        for frame, what in ((train, "train_data"), (tuning, "tuning_data")):
            if frame is not None:
                require_string_names(frame, what)
        if search is not None:
            require_ray()
            from ...hpo.search import run_search    # Ray Tune (the hpo extra), loaded only when a fit searches

            return run_search(self, train, tuning, config, *search, holdout_frac, seed, time_limit,
                              {"column_types": column_types}, tracked)
        result = table_fit(train, tuning, self.label, config, self._problem_type, self._eval_metric, column_types,
                           holdout_frac, seed, time_limit, self.verbosity, teacher_predictor, callbacks, start,
                           co_tasks, task_weights, tracked=tracked)
        return self._adopt(result)

    def _adopt(self, result) -> FitOutcome:
        """This learner as a fit left it (a fitting.FitResult)."""
        self.config, self.model = result.config, result.model
        self.meta = {
            "label": self.label, "problem_type": result.problem_type, "eval_metric": result.eval_metric,
            "column_types": result.column_types, "dropped_columns": result.dropped_columns,
            "architecture": result.architecture, "fit_summary": result.summary,
        }
        return FitOutcome(result.log_csv, result.workdir, result.saves, result.tensorboard)

    # ---------------------------------------------------------------- a search's steps (automodal.hpo)
    # the fitting modules load here as in fit (Lightning: a measured start-up cost of loading a saved predictor)
    def prepare_search(self, train_data, tuning_data, config: Config, keys: list, choices: dict, holdout_frac,
                       seed: int, column_types: dict | None = None) -> SearchSetup:
        from .searching import search_setup

        return search_setup(train_data, tuning_data, self.label, config, keys, choices, self._problem_type,
                            self._eval_metric, column_types, holdout_frac, seed)

    def trial_fit(self, train_data, tuning_data, config: Config, holdout_frac, seed: int, time_limit, keeper,
                  column_types: dict | None = None, tracked=None) -> dict:
        from .fitting import fit as table_fit

        result = table_fit(train_data, tuning_data, self.label, config, self._problem_type, self._eval_metric,
                           column_types, holdout_frac, seed, time_limit, 0, keeper=keeper, tracked=tracked)
        shutil.rmtree(result.workdir, ignore_errors=True)
        return result.summary

    def finish_search(self, setup: SearchSetup, train_data, tuning_data, config: Config, holdout_frac, seed: int,
                      trained: Trained) -> FitOutcome:
        from .fitting import fit as table_fit

        args = setup.learner_args       # the task and metric the data decided, as every trial had them
        result = table_fit(train_data, tuning_data, self.label, config, args["problem_type"], args["eval_metric"],
                           setup.fit_keywords.get("column_types"), holdout_frac, seed, None, 0, trained=trained)
        return self._adopt(result)

    # ---------------------------------------------------------------- prediction
    def predict_proba(self, data, as_pandas: bool | None = None, as_multiclass: bool = True):
        model = self.require_fitted()
        if self.problem_type not in CLASSIFICATION:
            raise AutomodalError(f"predict_proba needs a classification task; this one is {self.problem_type}. "
                                 "Use predict().")
        frame = read_frame(data, "data")
        proba = model.outputs(frame)
        as_pandas = isinstance(data, pd.DataFrame) if as_pandas is None else as_pandas
        if self.problem_type == BINARY and not as_multiclass:
            positive = proba[:, 1]
            return pd.Series(positive, index=frame.index, name=self.positive_class) if as_pandas else positive
        if as_pandas:
            return pd.DataFrame(proba, index=frame.index, columns=self.class_labels)
        return proba

    def predict(self, data, as_pandas: bool | None = None):
        model = self.require_fitted()
        frame = read_frame(data, "data")
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
        return pd.Series(values, index=frame.index, name=self.label) if as_pandas else values

    def evaluate(self, data, metrics=None, return_pred: bool = False):
        model = self.require_fitted()
        frame = clean_labels(read_frame(data, "data"), self.label, "evaluation data")
        names = [metrics] if isinstance(metrics, str) else list(metrics or [self.eval_metric])
        chosen = [get_metric(name, self.problem_type) for name in names]
        outputs = model.outputs(frame)
        if self.problem_type == REGRESSION:
            y_true = pd.to_numeric(frame[self.label], errors="coerce").to_numpy(dtype=np.float64)
        else:
            y_true = model.label_processor.encode(frame[self.label])
        scores = {name: score(metric, y_true, outputs) for name, metric in zip(names, chosen)}
        if return_pred:
            return scores, self.predict(frame)
        return scores

    def extract_embedding(self, data, as_pandas: bool = False):
        model = self.require_fitted()
        frame = read_frame(data, "data")
        embeddings = model.embeddings(frame)
        return pd.DataFrame(embeddings, index=frame.index) if as_pandas else embeddings

    def onnx_graph(self, data, batch_size: int | None, truncate: bool):
        frame = read_frame(data, "data")
        return table_graph(self, frame.head(int(batch_size)) if batch_size is not None else frame, truncate)

    def fit_summary(self) -> dict:
        summary = super().fit_summary()
        summary["column_types"] = self.column_types
        summary["dropped_columns"] = self.meta.get("dropped_columns", {})
        return summary

    def request_schema(self) -> RequestSchema:
        processors = self.require_fitted().pipeline.processors
        categorical, numerical = processors.get("categorical"), processors.get("numerical")
        categories = {c: set(v) for c, v in categorical.categories.items()} if categorical is not None else {}
        day_first = {c: d for c, d in zip(numerical.columns, numerical.day_first) if d is not None} \
            if numerical is not None else {}
        return RequestSchema(dict(self.column_types), categories, day_first)

    # ---------------------------------------------------------------- persistence
    def saved_parts(self):
        model = self.require_fitted()
        processors = {"features": model.pipeline.to_dict(), "label": model.label_processor.to_dict()}
        return processors, model.net, model.pipeline.save_assets

    @classmethod
    def from_saved(cls, path: str, meta: dict, config: Config, processors: dict, weights: dict, verbosity: int):
        learner = cls(meta["label"], meta["problem_type"], meta["eval_metric"], config, verbosity=verbosity)
        learner.meta = meta
        pipeline = FeaturePipeline.from_dict(processors["features"], path)
        # Backbones with their own assets (tokenizer, model config) are rebuilt from the saved directory.
        net = apply_efficient_finetune(build_net(dict(meta["architecture"], inputs=pipeline.model_inputs()), config),
                                       config["optimization.efficient_finetune"])
        load_state(net, weights)
        learner.model = FittedModel.from_config(net, pipeline, LabelProcessor.from_dict(processors["label"]),
                                                meta["problem_type"], config).to(inference_device(config))
        return learner
