"""What a problem family of images with dense targets (boxes, masks) provides to the shared fit loop and predictor.

A family subclasses Learner: it reads and checks its data, builds its network from a JSON-able architecture, makes
datasets and batches, computes its loss and its metrics. learners.fitting trains any of them with Lightning, and
learners.predictor gives them the MultiModalPredictor API, saving and loading."""

from __future__ import annotations

from abc import ABC, abstractmethod

import pandas as pd

from ..config import Config


class Learner(ABC):
    problem_type: str = ""
    config_group: str = ""          # the model.<group>.* keys this family reads
    default_label: str = "label"    # the label column when the predictor names none
    metrics: dict = {}              # metric name -> greater is better
    default_metric: str = ""
    # keys (or key prefixes) of table fits that do nothing here: setting one gets a warning
    unused_keys: tuple = ("data.", "distiller.", "model.names", "model.ensemble_size", "model.linear_start",
                          "env.compile.", "optimization.lr_choice", "optimization.lr_decay", "optimization.lr_mult",
                          "optimization.track_grad_norm", "optimization.efficient_finetune",
                          "optimization.val_metric")

    def __init__(self, config: Config, label: str):
        self.config, self.label = config, label

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

    @abstractmethod
    def dataset(self, frame: pd.DataFrame, labels: dict, architecture: dict, training: bool):
        """A torch Dataset of this frame's rows; items go through collate()."""

    @staticmethod
    @abstractmethod
    def collate(items: list) -> dict:
        """A batch: {"image": ..., "label": ... (one entry per image)}; other keys are allowed."""

    # ---------------------------------------------------------------- network
    @abstractmethod
    def architecture(self, labels: dict) -> dict:
        """Everything needed to build the network again without the pretrained checkpoint, as JSON data; also the
        choices that depend on which keys the user set (a saved configuration no longer tells)."""

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
