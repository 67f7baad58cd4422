"""The contract every problem family keeps, and what each declares it supports.

The facade (automodal.predictor) validates the arguments every family shares and forwards to one FamilyLearner;
the command line, the server, searches and deployment talk to learners the same way. A call that a family does not
support fails in `require`, the one place that says which family refuses it and what to use instead."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ..config import Config
from ..errors import AutomodalError, NotFittedError
from ..hpo.presets import default_space


@dataclass(frozen=True)
class Capabilities:
    """What a family supports beyond fit / predict / evaluate / save / load, which every family has."""
    fit_keywords: tuple = ()            # fit() arguments beyond those every family takes
    predict_proba: bool = False
    embeddings: bool = False            # extract_embedding
    export_onnx: bool = False
    optimize_for_inference: bool = False
    chunked_prediction: bool = False    # predict(chunk_size=..., output_path=..., on_ray=...) over files
    validation_metric: bool = False     # a validation metric apart from the eval_metric
    devices: bool = False               # several devices or processes (env.num_gpus, env.num_processes)
    search: bool = False                # fit(hyperparameter_tune_kwargs=...) and the "_hpo" presets


@dataclass
class RequestSchema:
    """What the server checks in a request's rows before they reach the model."""
    column_types: dict                  # column -> data.types name; every row needs each
    categories: dict = field(default_factory=dict)  # categorical column -> the categories training saw
    day_first: dict = field(default_factory=dict)   # numerical column that held dates -> how training read them


def json_value(value):
    """A NumPy scalar as the Python value it holds; other values as they are."""
    return value.item() if isinstance(value, np.generic) else value


def json_values(values) -> list:
    """NumPy scalars and arrays as plain JSON values."""
    return [json_value(v) for v in np.asarray(values, dtype=object).tolist()]


@dataclass
class OnnxGraph:
    """What a family exports to ONNX (deploy.export does the export, the check and the writing)."""
    module: object                      # a torch module taking the inputs positionally, in order
    inputs: dict                        # input name -> example tensor
    outputs: list                       # output names
    dynamic_axes: dict                  # name -> {axis: name} for inputs and outputs
    described: str                      # what the outputs are, for the model's doc string
    save_beside: object = None          # save_beside(directory): files written beside model.onnx


@dataclass
class SearchSetup:
    """What a family tells a hyperparameter search (automodal.hpo) once its data is read and checked, before any
    trial starts."""
    metric: str                         # what every trial reports at each validation, and trials are compared by
    greater_is_better: bool             # of that metric: the search's direction
    defaults: Config                    # what a plain fit on this data would use (its data-aware defaults): the first
                                        # trial tries these values where the spaces hold them
    learner_args: dict                  # each trial's learner: its label, problem_type and eval_metric
    fit_keywords: dict = field(default_factory=dict)    # the family's own fit() arguments every trial takes
    dropped: dict = field(default_factory=dict)         # searched key -> why it is not searched (it does nothing)


@dataclass
class Trained:
    """Training done elsewhere for this very configuration, data and seed (a search's best trial): a finishing
    fit rebuilds the network and finishes it from these checkpoints instead of training."""
    entries: list                       # (score, higher is better; step; safetensors path; loss), best first
    progress: dict                      # epochs, global_step, stop_reason


@dataclass
class FitOutcome:
    """What a learner's fit leaves for the facade: the training log and TensorBoard event files to save beside the
    model, the scratch directory to remove, and whether this process saves (not the helpers of a ddp fit)."""
    log_csv: str | None = None
    workdir: str | None = None
    saves: bool = True
    tensorboard: str | None = None


class FamilyLearner(ABC):
    """One problem family's fit, prediction, scoring and persistence. Subclasses set the class attributes and
    implement the abstract methods; the optional ones refuse through `require` unless `capabilities` says so."""
    family: str = ""                    # the registry's name for the family
    problem_types: tuple = ()           # the problem_type values it answers (None: inferred from the label)
    default_label: str | None = None    # the label column when the predictor names none
    preset_section: str | None = None   # the family's own presets in config/presets.yaml (None: the table presets)
    capabilities = Capabilities()
    alternatives: dict = {}             # capability -> what to do instead, for `require`'s message

    def __init__(self, label: str, problem_type: str | None, eval_metric: str | None, config: Config,
                 validation_metric: str | None = None, verbosity: int = 2):
        self.label, self.config, self.verbosity = label, config, verbosity
        self._problem_type, self._eval_metric = problem_type, eval_metric
        self.meta: dict = {}            # what saving writes to automodal.json, filled by fit or load
        if validation_metric is not None:
            self.require("validation_metric", "validation_metric")

    # ---------------------------------------------------------------- what the family supports
    @classmethod
    def require(cls, capability: str, what: str):
        """Refuse `what` unless the family supports `capability`: one message for every surface."""
        if not getattr(cls.capabilities, capability):
            hint = cls.alternatives.get(capability, "")
            raise AutomodalError(f"{what} is not available for {cls.family_name()}{': ' + hint if hint else '.'}")

    @classmethod
    def family_name(cls) -> str:
        return " / ".join(str(p) for p in cls.problem_types if p) or cls.family

    @classmethod
    def check_fit_keywords(cls, given: dict):
        """Refuse the fit() arguments given (not None or False) that the family does not take."""
        for name, value in given.items():
            if value not in (None, False) and name not in cls.capabilities.fit_keywords:
                raise AutomodalError(f"fit({name}=...) is not available for {cls.family_name()}: it is for table "
                                     "tasks (binary, multiclass, regression).")

    # ---------------------------------------------------------------- state
    @property
    def fitted(self) -> bool:
        return self.model is not None

    model = None                        # what prediction runs: the family's fitted model

    def require_fitted(self):
        if self.model is None:
            raise NotFittedError("This predictor is not fitted; call fit() or MultiModalPredictor.load(path) first.")
        return self.model

    @property
    def problem_type(self) -> str | None:
        return self.meta.get("problem_type", self._problem_type)

    @property
    def eval_metric(self) -> str | None:
        return self.meta.get("eval_metric", self._eval_metric)

    @property
    def validation_metric(self) -> str | None:
        return self.eval_metric

    @property
    def class_labels(self) -> list | None:
        return None

    @property
    def positive_class(self):
        return None

    @property
    def column_types(self) -> dict | None:
        return self.meta.get("column_types")

    def fit_summary(self) -> dict:
        self.require_fitted()
        return dict(self.meta.get("fit_summary", {}), config=self.config.to_nested())

    def base_config(self, **fit_keywords) -> Config:
        """The configuration a fit starts from (a starting model's, for fit(init_from=...))."""
        return self.config

    # ---------------------------------------------------------------- the contract
    @abstractmethod
    def fit(self, train_data, tuning_data, config: Config, time_limit: float | None, holdout_frac: float | None,
            seed: int, search: tuple | None = None, tracked=None, **fit_keywords) -> FitOutcome:
        """Train; `search` is (spaces, hyperparameter_tune_kwargs) when the fit searches; `tracked` (a
        training.tracking.Tracking) names the experiment trackers each training run logs to."""

    # ---------------------------------------------------------------- a hyperparameter search (automodal.hpo)
    # With capabilities.search, fit(search=...) hands the learner to hpo.search.run_search, which calls these: the
    # family's data checked once, each trial a fit of a new learner of the family, the best trial finished by this one.
    @classmethod
    def search_space(cls) -> dict:
        """{key: automodal.hpo space}: what a searching preset ("..._hpo") searches for this family."""
        cls.require("search", "a searching preset")
        return default_space()

    def prepare_search(self, train_data, tuning_data, config: Config, keys: list, choices: dict,
                       holdout_frac: float | None, seed: int, **fit_keywords) -> SearchSetup:
        """Read and check the data once with the first trial's `choices` (its categorical values, which can decide
        the network and so the data-aware defaults); `keys` are the searched keys."""
        self.require("search", "fit(hyperparameter_tune_kwargs=...)")

    def trial_fit(self, train_data, tuning_data, config: Config, holdout_frac: float | None, seed: int,
                  time_limit: float | None, keeper, tracked=None, **fit_keywords) -> dict:
        """One trial: a fit whose every validation goes to `keeper` (a Lightning callback with reload() and a
        `directory`, in place of the top-k checkpoint files); it keeps nothing. Returns the fit's summary (with
        fit_seconds, epochs, global_step, stop_reason)."""
        self.require("search", "fit(hyperparameter_tune_kwargs=...)")

    def finish_search(self, setup: SearchSetup, train_data, tuning_data, config: Config, holdout_frac: float | None,
                      seed: int, trained: Trained) -> FitOutcome:
        """Become the search's best trial: its network rebuilt and finished from `trained` (its kept checkpoints) as
        its own fit would have finished it, with no training; the learner is then fitted as by fit()."""
        self.require("search", "fit(hyperparameter_tune_kwargs=...)")

    def record_search(self, summary: dict, seconds: float):
        """fit_summary()["hpo"] of a finished search, and the whole search's seconds as the fit's."""
        fit_summary = self.meta["fit_summary"]
        fit_summary["hpo"] = summary
        fit_summary["fit_seconds"] = round(seconds, 3)

    @abstractmethod
    def predict(self, data, as_pandas: bool | None = None, **options):
        """The family's predictions of data."""

    def predict_proba(self, data, as_pandas: bool | None = None, as_multiclass: bool = True):
        self.require("predict_proba", "predict_proba")

    @abstractmethod
    def evaluate(self, data, metrics=None, return_pred: bool = False):
        """{metric: value} on labelled data."""

    def extract_embedding(self, data, as_pandas: bool = False):
        self.require("embeddings", "extract_embedding")

    def onnx_graph(self, data, batch_size: int | None, truncate: bool) -> OnnxGraph:
        """The network to export, with example inputs from `data` (its first batch_size rows or images)."""
        self.require("export_onnx", "export_onnx")

    # ---------------------------------------------------------------- serving (automodal.serving)
    def request_schema(self) -> RequestSchema:
        return RequestSchema(dict(self.column_types or {}))

    def serving_refusal(self, kind: str) -> str | None:
        """Why the server refuses requests of `kind` ("predict" or "predict_proba"), or None."""
        if kind == "predict_proba" and (not self.capabilities.predict_proba or self.class_labels is None):
            return f"predict_proba needs a classification task; this one is {self.problem_type}. Use /predict."
        return None

    def served(self, frame, kind: str) -> list:
        """One JSON value per row of frame: its prediction, or its class probabilities in class_labels order."""
        if kind == "predict_proba":
            return [[float(v) for v in row] for row in np.asarray(self.predict_proba(frame, as_pandas=False))]
        return json_values(self.predict(frame, as_pandas=False))

    @abstractmethod
    def saved_parts(self) -> tuple[dict, object, object]:
        """(processors as JSON data, the network whose weights are saved, save_assets(directory) or None)."""

    @classmethod
    @abstractmethod
    def from_saved(cls, path: str, meta: dict, config: Config, processors: dict, weights: dict,
                   verbosity: int) -> "FamilyLearner":
        """The learner of a saved predictor, ready to predict."""
