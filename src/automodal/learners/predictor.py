"""The MultiModalPredictor API for a Learner's problem family: fit, evaluate, save and load are shared here; each
family adds its own predict."""

from __future__ import annotations

import logging
import os
import shutil
import time

import pandas as pd

from ..errors import AutomodalError
from ..predictor import MultiModalPredictor

logger = logging.getLogger("automodal")

# fit() arguments of table tasks that these families do not take
_TABLE_ONLY = ("column_types", "teacher_predictor", "callbacks", "init_from", "co_tasks", "task_weights",
               "hyperparameter_tune_kwargs")


class ImageTaskPredictor(MultiModalPredictor):
    learner_class = None            # the family's Learner subclass

    def __init__(self, label: str | None = None, problem_type: str | None = None, eval_metric: str | None = None,
                 path: str | None = None, presets: str | None = None, hyperparameters=None, verbosity: int = 2,
                 validation_metric: str | None = None):
        learner = self.learner_class
        if validation_metric is not None:
            raise AutomodalError(f"validation_metric is for table tasks; {learner.problem_type} chooses checkpoints "
                                 "by its eval_metric: pass eval_metric instead.")
        super().__init__(label or learner.default_label, learner.problem_type, None, path, presets, hyperparameters,
                         verbosity)
        if self._searching_preset:
            raise AutomodalError(f"presets '{presets}' searches hyperparameters; {learner.problem_type} does not "
                                 "search yet: use medium_quality, high_quality or best_quality.")
        self._eval_metric = self._check_metric(eval_metric or learner.default_metric)
        self._labels: dict | None = None

    def _check_metric(self, name: str) -> str:
        metrics = self.learner_class.metrics
        if name not in metrics:
            raise AutomodalError(f"eval_metric '{name}' is not a {self.learner_class.problem_type} metric; choose one "
                                 f"of {', '.join(metrics)}.")
        return name

    def _learner(self):
        return self.learner_class(self._config, self._label)

    @property
    def class_labels(self) -> list | None:
        return None if self._labels is None else self._labels.get("classes")

    @property
    def positive_class(self):
        return None

    # ------------------------------------------------------------------ training
    def fit(self, train_data, tuning_data=None, time_limit: float | None = None, hyperparameters=None,
            holdout_frac: float | None = None, seed: int = 0, presets: str | None = None,
            save_path: str | None = None, **table_only):
        """Train on `train_data` and save to the predictor's path; returns self. `tuning_data` (else
        `holdout_frac` of the training images) picks checkpoints and stops early; `time_limit` bounds the fit."""
        from .. import persistence
        from ..config import resolve_config
        from .fitting import fit

        unknown = [name for name in table_only if name not in _TABLE_ONLY]
        if unknown:
            raise TypeError(f"fit() got an unexpected keyword argument '{unknown[0]}'")
        given = [name for name, value in table_only.items() if value not in (None, False)]
        if given:
            raise AutomodalError(f"{self.problem_type} does not take fit({given[0]}=...); it is for table tasks "
                                 "(binary, multiclass, regression).")
        if time_limit is not None and time_limit <= 0:
            raise AutomodalError(f"time_limit must be a positive number of seconds, got {time_limit}.")
        if hyperparameters or presets:
            self._config = resolve_config(presets, hyperparameters, base=self._config)
        path = os.path.abspath(save_path or self._path
                               or os.path.join("automodal_models", time.strftime("%Y%m%d_%H%M%S")))
        persistence.check_target(path)
        result = fit(self._learner(), train_data, tuning_data, self._eval_metric, holdout_frac, seed, time_limit,
                     self._verbosity)
        self._config, self._model, self._labels = result.config, result.net, result.labels
        self._meta = {"label": self._label, "problem_type": self.learner_class.problem_type,
                      "eval_metric": result.eval_metric, "architecture": result.architecture,
                      "fit_summary": result.summary, "presets": self._presets}
        self._path = path
        try:
            self._save_to(path, result.log_csv)
        finally:
            shutil.rmtree(result.workdir, ignore_errors=True)
        logger.info("Fit done: %s = %.4f on the tuning data; saved to %s", result.eval_metric,
                    result.summary["val_score"], path)
        return self

    # ------------------------------------------------------------------ prediction
    def _run(self, data, labelled: bool) -> tuple[pd.DataFrame, list, list]:
        """The frame read from data, the network's outputs and the labels, image by image."""
        from ..inference import eval_batch_size, inference_device
        from .fitting import make_loader, run_net

        net = self._require_fitted()
        learner = self._learner()
        frame = learner.read(data, "data", labelled=labelled)
        if labelled:
            learner.check_labels(frame, self._labels, "data")
        net.to(inference_device(self._config))
        loader = make_loader(learner, frame, self._labels, self._meta["architecture"], eval_batch_size(self._config),
                             False,
                             self._config["env.num_workers_evaluation"])
        outputs, targets = run_net(learner, net, loader)
        return frame, outputs, targets

    def evaluate(self, data, metrics=None, return_pred: bool = False):
        """{metric: value} on labelled data, for `metrics` (a name or list; default: every metric of the family)."""
        names = [metrics] if isinstance(metrics, str) else list(metrics or self.learner_class.metrics)
        for name in names:
            self._check_metric(name)
        frame, outputs, targets = self._run(data, labelled=True)
        scores = self._learner().scores(outputs, targets, self._labels, names)
        if return_pred:
            return scores, self._predictions(frame, outputs)
        return scores

    def predict(self, data, **kwargs):
        frame, outputs, _ = self._run(data, labelled=False)
        return self._predictions(frame, outputs, **kwargs)

    def _predictions(self, frame: pd.DataFrame, outputs: list, **kwargs):
        raise NotImplementedError

    def _unsupported(self, what: str):
        raise AutomodalError(f"{what} is for table tasks (binary, multiclass, regression); this predictor is "
                             f"{self.problem_type}.")

    def export_onnx(self, *args, **kwargs):
        self._unsupported("export_onnx")

    def optimize_for_inference(self, *args, **kwargs):
        self._unsupported("optimize_for_inference")

    def extract_embedding(self, *args, **kwargs):
        self._unsupported("extract_embedding")

    # ------------------------------------------------------------------ persistence
    def _save_to(self, path: str, log_csv: str | None = None):
        from .. import persistence

        persistence.save(path, self._meta, self._config, {"labels": self._labels}, self._require_fitted(), log_csv)

    @classmethod
    def _from_saved(cls, path: str, meta: dict, config, processors: dict, weights: dict, verbosity: int):
        from ..inference import inference_device
        from ..training.soup import load_state

        predictor = cls(meta["label"], meta["problem_type"], meta["eval_metric"], path=path, verbosity=verbosity)
        predictor._config, predictor._meta = config, meta
        predictor._presets = meta.get("presets")
        predictor._labels = processors["labels"]
        learner = predictor._learner()
        net = learner.prepare_training(learner.build_net(meta["architecture"], pretrained=False), meta["architecture"])
        load_state(net, weights)
        predictor._model = net.to(inference_device(config)).eval()
        return predictor

    def __repr__(self):
        state = "fitted" if self._model is not None else "not fitted"
        return f"MultiModalPredictor(problem_type={self.problem_type!r}, label={self._label!r}, {state})"
