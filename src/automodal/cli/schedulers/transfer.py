"""tl: train as the train mode does, each fold's predictor starting from a model of this project that was trained
on pretrain_task (fit(init_from=...)): a new head when the label space differs, and with freeze only the head
trains."""

from __future__ import annotations

import numpy as np

from ..options import OptionError
from ..workspace import WorkspaceError
from .train import TrainingScheduler, Unit

SELECTIONS = ("performance", "created", "random")


class TransferScheduler(TrainingScheduler):
    def prepare(self):
        if self.options.model_selection not in SELECTIONS:
            raise OptionError(f"mode.model_selection={self.options.model_selection!r}: use one of "
                              f"{', '.join(SELECTIONS)}.")
        self.pretrained()
        super().prepare()

    def pretrained(self) -> dict:
        """The record of the model chosen by model_selection among those trained on pretrain_task."""
        task = str(self.options.pretrain_task)
        records = [r for r in self.project.model_records(task) if r.get("parameters_stored", True)]
        if not records:
            raise WorkspaceError(f"mode.pretrain_task={task}: this project has no stored model trained on it; "
                                 f"train one first (automodal train proj={self.project.name} task_list=[{task}]).")
        selection = self.options.model_selection
        if selection == "performance":
            return max(records, key=lambda r: r["val_score"] if r["greater_is_better"] else -r["val_score"])
        if selection == "created":
            return max(records, key=lambda r: r["created"])
        ordered = sorted(records, key=lambda r: (r["task"], r["fold"]))
        return ordered[int(np.random.default_rng(int(self.config.seed)).integers(len(ordered)))]

    def initial_model_id(self, unit: Unit):
        record = self.pretrained()
        return f"{record['task']}/fold{record['fold']}"

    def fit(self, predictor, unit, train, tune, hyperparameters, column_types):
        record = self.pretrained()
        path = self.project.model_dir(record["task"], record["fold"])
        self.log(f"  {unit.name}: starting from {record['task']}/fold{record['fold']}"
                 + (" (backbones frozen)" if self.options.freeze else ""))
        predictor.fit(train, tuning_data=tune, hyperparameters=hyperparameters or None, presets=self.config.presets,
                      seed=int(self.config.seed), time_limit=self.config.time_limit, init_from=path,
                      freeze_backbone=bool(self.options.freeze))
