"""Experiment trackers: the Lightning loggers a fit writes to besides its own CSV log (training_log.csv).

`fit(loggers=...)` takes Lightning logger objects and names: "tensorboard", "mlflow", "csv", "wandb". Left out, a fit
writes TensorBoard event files when TensorBoard is installed (the `track` extra), as AutoGluon does; `[]` writes
none. Each logger sees every validation score (val_score, val_loss), the training loss and the learning rate at
the steps optimization.log_every_n_steps logs, and the fit's configuration (with the run's tags) as its
hyperparameters, on either training loop; with several processes only the first writes (Lightning's loggers act on
rank zero only). The event files of the default TensorBoard logger are saved beside training_log.csv, in the
predictor's `tensorboard/` directory. MLflow's tracking URI comes from MLFLOW_TRACKING_URI (else
sqlite:///mlflow.db in the working directory), its experiment from MLFLOW_EXPERIMENT_NAME (else "automodal").

Loggers are built per training run from a Tracking, which holds names and objects only: the saved predictor and
a search's trials (each its own run) carry no logger state.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field

from ..errors import AutomodalError

NAMES = ("tensorboard", "mlflow", "csv", "wandb")
TENSORBOARD_DIRECTORY = "tensorboard"       # in the fit's scratch directory, then in the saved predictor
PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",), "wandb": ("wandb",), "csv": ()}


def installed(name: str) -> bool:
    packages = PACKAGES[name]
    return not packages or any(importlib.util.find_spec(package) is not None for package in packages)


def _is_logger(value) -> bool:
    from lightning.fabric.loggers import Logger as FabricLogger
    from lightning.pytorch.loggers import Logger

    return isinstance(value, (Logger, FabricLogger))


@dataclass
class Tracking:
    """What a fit logs to. `requested`: fit(loggers=...) as given (None: TensorBoard when installed)."""
    requested: list | None = None
    run_name: str | None = None
    tags: dict = field(default_factory=dict)
    directory: str | None = None        # where TensorBoard writes this run (None: the run's scratch directory)
    mlflow_uri: str | None = None       # None: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here

    def __post_init__(self):
        if self.requested is None:
            return
        if isinstance(self.requested, str) or _is_logger(self.requested):
            self.requested = [self.requested]
        for item in self.requested:
            if isinstance(item, str):
                if item not in NAMES:
                    raise AutomodalError(f"fit(loggers=...): unknown logger '{item}'; use {list(NAMES)} or Lightning "
                                         "logger objects (lightning.pytorch.loggers).")
                if not installed(item):
                    raise AutomodalError(f"the {item} logger needs the {item} package: pip install "
                                         f"'automodal[track]' (TensorBoard and MLflow), or pip install {item}.")
            elif not _is_logger(item):
                raise AutomodalError(f"fit(loggers=...) takes logger names {list(NAMES)} and Lightning loggers "
                                     f"(lightning.pytorch.loggers.Logger); got {type(item).__name__}.")

    @property
    def names(self) -> list:
        """The loggers a run builds, by name and object (the default resolved)."""
        if self.requested is None:
            return ["tensorboard"] if installed("tensorboard") else []
        return list(self.requested)

    def for_run(self, run_name: str, directory: str | None = None, **tags) -> "Tracking":
        """The same loggers for one run of several (a fold, a trial), named and tagged as such; `directory` keeps
        its TensorBoard events apart from the run's scratch directory, under run_name."""
        return Tracking(self.requested, run_name, {**self.tags, **tags}, directory or self.directory,
                        self.mlflow_uri)

    def loggers(self, save_dir: str) -> list:
        """Lightning loggers for one training run whose scratch directory is save_dir."""
        return [item if not isinstance(item, str) else self._named(item, save_dir) for item in self.names]

    def _named(self, name: str, save_dir: str):
        from lightning.pytorch import loggers

        if name == "tensorboard" and self.directory is not None:
            return loggers.TensorBoardLogger(self.directory, name="", version=self.run_name or "",
                                             default_hp_metric=False)
        if name == "tensorboard":
            return loggers.TensorBoardLogger(save_dir, name=TENSORBOARD_DIRECTORY, version="",
                                             default_hp_metric=False)
        if name == "csv":
            return loggers.CSVLogger(save_dir, name="csv", version="")
        if name == "mlflow":
            uri = self.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///" + os.path.abspath(
                "mlflow.db")
            return loggers.MLFlowLogger(experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME", "automodal"),
                                        run_name=self.run_name, tracking_uri=uri, tags=self.tags or None)
        return loggers.WandbLogger(name=self.run_name, save_dir=save_dir, tags=[f"{k}={v}" for k, v in
                                                                                  self.tags.items()])


def start(loggers: list, config, tags: dict):
    """The fit's configuration (flat dotted keys) and the run's tags, as every logger's hyperparameters."""
    if not loggers:
        return
    params = {key: value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
              for key, value in config.items()}
    params.update({f"tag.{k}": v for k, v in tags.items()})
    for logger in loggers:
        logger.log_hyperparams(params)


def log(loggers: list, metrics: dict, step: int):
    for logger in loggers:
        logger.log_metrics(metrics, step=step)


def finish(loggers: list, status: str = "success"):
    for logger in loggers:
        logger.finalize(status)
