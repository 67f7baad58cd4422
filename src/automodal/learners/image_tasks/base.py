"""What the image-task families (boxes, masks) share: the contract's fit, evaluate, save and load, on hooks each
family fills in. A family reads and checks its data, builds its network from a JSON-able architecture, makes
datasets and batches, computes its loss, its metrics and its predictions; image_tasks.fitting trains any of them
with Lightning."""

from __future__ import annotations

import logging
import shutil
from abc import abstractmethod

import pandas as pd

from ...config import Config
from ...data.types import IMAGE
from ...errors import AutomodalError
from ...hpo.cluster import require_ray
from ...hpo.space import choice, loguniform
from ...inference import eval_batch_size, inference_device
from ...training.soup import load_state
from ..contract import FamilyLearner, FitOutcome, RequestSchema, SearchSetup, Trained
from .images import IMAGE_COLUMN
from .running import embed_images, make_loader, run_net

logger = logging.getLogger("automodal")


class ImageTaskLearner(FamilyLearner):
    """`model` is the network; `labels` what the training labels said about the outputs (class names, ...)."""
    alternatives = {
        "chunked_prediction": "pass the data itself (a frame, a CSV of image paths or a COCO json); images are read "
                              "one batch at a time anyway.",
        "validation_metric": "it chooses checkpoints by its eval_metric; pass eval_metric instead.",
    }
    config_group: str = ""          # the model.<group>.* keys this family reads
    default_label: str = "label"
    metrics: dict = {}              # metric name -> greater is better
    default_metric: str = ""
    # keys (or key prefixes) of table fits that do nothing here: setting one gets a warning
    unused_keys: tuple = ("data.", "distiller.", "model.names", "model.ensemble_size", "model.linear_start",
                          "env.compile.", "optimization.lr_choice", "optimization.lr_decay", "optimization.lr_mult",
                          "optimization.track_grad_norm", "optimization.efficient_finetune",
                          "optimization.val_metric")

    def __init__(self, label: str | None, problem_type: str | None, eval_metric: str | None, config: Config,
                 validation_metric: str | None = None, verbosity: int = 2):
        super().__init__(label or self.default_label, self.problem_types[0], None, config, validation_metric,
                         verbosity)
        self._eval_metric = self.check_metric(eval_metric or self.default_metric)
        self.model = None
        self.labels: dict | None = None

    @property
    def problem_type(self) -> str:
        return self.problem_types[0]

    def check_metric(self, name: str) -> str:
        if name not in self.metrics:
            raise AutomodalError(f"eval_metric '{name}' is not a {self.problem_type} metric; choose one of "
                                 f"{', '.join(self.metrics)}.")
        return name

    @property
    def class_labels(self) -> list | None:
        return None if self.labels is None else self.labels.get("classes")

    def unused_because(self, key: str) -> str | None:
        """Why `key` does nothing in this family (a key of another model family, or a table-only key), or None."""
        parts = key.split(".")
        if parts[0] == "model" and len(parts) > 2 and parts[1] != self.config_group:
            return f"{self.problem_type} trains model.{self.config_group}.* only"
        if key.startswith(self.unused_keys):
            return f"it does nothing in {self.problem_type}"
        return None

    # ---------------------------------------------------------------- the contract
    def fit(self, train_data, tuning_data, config: Config, time_limit, holdout_frac, seed: int,
            search=None, tracked=None) -> FitOutcome:
        """`tuning_data` (else `holdout_frac` of the training images) picks checkpoints and stops early; `search`
        ((spaces, hyperparameter_tune_kwargs)) runs a hyperparameter search whose best trial this learner becomes."""
        # Lightning loads when a fit runs, not when a saved predictor loads to predict (measured start-up cost, as
        # for the table family)
        from .fitting import fit

        previous = self.config          # the hooks read the fit's configuration from self.config
        try:
            if search is not None:
                require_ray()
                from ...hpo.search import run_search    # Ray Tune (the hpo extra), loaded only when a fit searches

                return run_search(self, train_data, tuning_data, config, *search, holdout_frac, seed, time_limit,
                                  tracked=tracked)
            self.config = config
            result = fit(self, train_data, tuning_data, self._eval_metric, holdout_frac, seed, time_limit,
                         self.verbosity, tracked=tracked)
        except BaseException:
            self.config = previous      # a failed fit leaves the predictor as it was
            raise
        return self._adopt(result)

    def _adopt(self, result) -> FitOutcome:
        """This learner as a fit left it (a fitting.ImageTaskFit)."""
        self.config, self.model, self.labels = result.config, result.net, result.labels
        self.meta = {"label": self.label, "problem_type": self.problem_type, "eval_metric": result.eval_metric,
                     "architecture": result.architecture, "fit_summary": result.summary}
        return FitOutcome(result.log_csv, result.workdir, result.saves, result.tensorboard)

    # ---------------------------------------------------------------- a search's steps (automodal.hpo)
    @classmethod
    def search_space(cls) -> dict:
        """A searching preset's space: the learning rate, the optimiser and its weight decay."""
        cls.require("search", "a searching preset")
        return {"optimization.learning_rate": loguniform(1e-5, 1e-2),
                "optimization.optim_type": choice(["adamw", "sgd"]),
                "optimization.weight_decay": loguniform(1e-5, 1e-2)}

    # the fitting module loads here as in fit (Lightning: a measured start-up cost of loading a saved predictor)
    def prepare_search(self, train_data, tuning_data, config: Config, keys: list, choices: dict, holdout_frac,
                       seed: int) -> SearchSetup:
        """Trials report the eval_metric in its own direction; keys this family does nothing with are not
        searched."""
        from .fitting import search_defaults

        dropped = {key: why + "." for key in keys if (why := self.unused_because(key)) is not None}
        self.config = config.updated({k: v for k, v in choices.items() if k not in dropped})
        defaults = search_defaults(self, train_data, tuning_data, holdout_frac, seed)
        metric = self._eval_metric
        return SearchSetup(metric, self.metrics[metric], defaults,
                           {"label": self.label, "problem_type": self.problem_type, "eval_metric": metric},
                           {}, dropped)

    def trial_fit(self, train_data, tuning_data, config: Config, holdout_frac, seed: int, time_limit,
                  keeper, tracked=None) -> dict:
        from .fitting import fit

        self.config = config
        result = fit(self, train_data, tuning_data, self._eval_metric, holdout_frac, seed, time_limit, 0,
                     keeper=keeper, tracked=tracked)
        shutil.rmtree(result.workdir, ignore_errors=True)
        return result.summary

    def finish_search(self, setup: SearchSetup, train_data, tuning_data, config: Config, holdout_frac, seed: int,
                      trained: Trained) -> FitOutcome:
        from .fitting import fit

        self.config = config
        return self._adopt(fit(self, train_data, tuning_data, self._eval_metric, holdout_frac, seed, None, 0,
                               trained=trained))

    def _loader(self, frame: pd.DataFrame):
        self.model.to(inference_device(self.config))
        return make_loader(self, frame, self.labels, self.meta["architecture"], eval_batch_size(self.config), False,
                           self.config["env.num_workers_evaluation"])

    def run(self, data, labelled: bool) -> tuple[pd.DataFrame, list, list]:
        """The frame read from data, the network's outputs and the labels, image by image."""
        net = self.require_fitted()
        frame = self.read(data, "data", labelled=labelled)
        if labelled:
            self.check_labels(frame, self.labels, "data")
        outputs, targets = run_net(self, net, self._loader(frame))
        return frame, outputs, targets

    def extract_embedding(self, data, as_pandas: bool = False):
        """One vector per image: the features of the family's image encoder, averaged over the image
        (embed_batch), shape (images, dim)."""
        net = self.require_fitted()
        frame = self.read(data, "data", labelled=False)
        rows = embed_images(self, net, self._loader(frame))
        return pd.DataFrame(rows, index=frame.index) if as_pandas else rows

    @abstractmethod
    def embed_batch(self, net, batch: dict):
        """A batch's image features, (images, dim), for extract_embedding."""

    def evaluate(self, data, metrics=None, return_pred: bool = False):
        """{metric: value} on labelled data, for `metrics` (a name or list; default: every metric of the family)."""
        names = [metrics] if isinstance(metrics, str) else list(metrics or self.metrics)
        for name in names:
            self.check_metric(name)
        frame, outputs, targets = self.run(data, labelled=True)
        scores = self.scores(outputs, targets, self.labels, names)
        if return_pred:
            return scores, self.predictions(frame, outputs)
        return scores

    def predict(self, data, as_pandas: bool | None = None, **options):
        frame, outputs, _ = self.run(data, labelled=False)
        return self.predictions(frame, outputs, as_pandas=as_pandas, **options)

    @abstractmethod
    def predictions(self, frame: pd.DataFrame, outputs: list, as_pandas: bool | None = None, **options):
        """What predict returns for the frame's images, from the network's outputs (predict_batch)."""

    def request_schema(self) -> RequestSchema:
        return RequestSchema({IMAGE_COLUMN: IMAGE})

    def saved_parts(self):
        return {"labels": self.labels}, self.require_fitted(), None

    @classmethod
    def from_saved(cls, path: str, meta: dict, config: Config, processors: dict, weights: dict, verbosity: int):
        learner = cls(meta["label"], meta["problem_type"], meta["eval_metric"], config, verbosity=verbosity)
        learner.meta, learner.labels = meta, processors["labels"]
        architecture = meta["architecture"]
        net = learner.prepare_training(learner.build_net(architecture, pretrained=False), architecture)
        load_state(net, weights)
        learner.model = net.to(inference_device(config)).eval()
        return learner

    # ---------------------------------------------------------------- data
    @abstractmethod
    def read(self, data, what: str, labelled: bool) -> pd.DataFrame:
        """The data as a frame with absolute image paths (and checked labels when `labelled`)."""

    @abstractmethod
    def fit_labels(self, frame: pd.DataFrame) -> dict:
        """What the training labels say about the outputs (class names, ...), as JSON data saved with the model."""

    def check_labels(self, frame: pd.DataFrame, labels: dict, what: str):
        """Raise DataError when labelled data that the model did not train on holds labels it cannot score."""

    def defaults(self, train_images: int, architecture: dict) -> dict:
        """{key: (value, reason)} for keys nobody set, chosen for this family and the data."""
        return {}

    def check_plan(self, plan):
        """Raise ConfigError when the family's network cannot train on this device plan (training.trainer.DevicePlan:
        accelerator, precision)."""

    @abstractmethod
    def dataset(self, frame: pd.DataFrame, labels: dict, architecture: dict, training: bool):
        """A torch Dataset of this frame's rows; items go through collate()."""

    @staticmethod
    @abstractmethod
    def collate(items: list) -> dict:
        """A batch: {"image": ..., "label": ... (one entry per image)}; other keys are allowed."""

    # ---------------------------------------------------------------- network
    @abstractmethod
    def architecture(self, labels: dict, train: pd.DataFrame) -> dict:
        """Everything needed to build the network again without the pretrained checkpoint, as JSON data; also the
        choices that depend on which keys the user set (a saved configuration no longer tells). `train` is the
        training frame (read), for a network sized from the data; an optional "chosen" entry ({name: [value,
        reason]}) lists such choices in fit_summary()["chosen_defaults"]."""

    @abstractmethod
    def build_net(self, architecture: dict, pretrained: bool):
        """The network; with `pretrained` its starting weights are read from the checkpoint (at fit)."""

    def prepare_training(self, net, architecture: dict):
        """Freeze or adapt parts of the network (at fit, and again at load so the weights fit); returns it."""
        return net

    @abstractmethod
    def loss(self, net, batch: dict):
        """The training loss of a batch (a scalar tensor)."""

    @abstractmethod
    def predict_batch(self, net, batch: dict) -> list:
        """The network's outputs for a batch, one entry per image, on the CPU."""

    @abstractmethod
    def scores(self, outputs: list, batches_labels: list, labels: dict, names: list) -> dict:
        """{metric: value} of outputs (from predict_batch) against the batches' labels."""
