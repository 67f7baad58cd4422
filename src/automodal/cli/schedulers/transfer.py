"""tl: train as the train mode does, each fold's predictor starting from a model of this project that was trained
on pretrain_task (fit(init_from=...)): a new head when the label space differs, and with freeze only the head
trains.

Detection and segmentation models start from a checkpoint directory made of the pretrained model, under
PROJECT/cache/TASK/start-MODEL: a detector.json and the detector's weights (model.mmdet_image.checkpoint_name; the
class layers of another label set start anew), or the SAM model with its LoRA / IA3 adapters merged into its weights
(model.sam.checkpoint_name)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

from ...persistence import META_FILE, WEIGHTS_FILE
from ...predictor import MultiModalPredictor
from .. import image_tasks
from ..options import OptionError, merge
from ..tasks import NESTED, TaskData
from ..workspace import WorkspaceError
from .train import TrainingScheduler, Unit

class TransferScheduler(TrainingScheduler):
    searches = False        # a fit starts from a pretrained model; searches run in train
    def prepare(self):
        record = self.pretrained()
        source = TaskData(self.project, record["task"]).info["problem_type"]
        for pivot in self.task_list():
            target = TaskData(self.project, pivot).info["problem_type"]
            if image_tasks.is_image_task(source) or image_tasks.is_image_task(target):
                if source != target:
                    raise OptionError(f"mode.pretrain_task={self.options.pretrain_task}: its models are {source} "
                                      f"models and task {pivot} is {target}; tl starts a model from one of the same "
                                      "kind.")
                if self.options.freeze and target == image_tasks.SEGMENTATION:
                    raise OptionError("mode.freeze=true trains the head alone; a segmentation model's encoder is "
                                      "tuned through its adapters (optimization.efficient_finetune). Leave freeze "
                                      "false, or set hp.optimization.efficient_finetune=bit_fit to train the mask "
                                      "decoder and the biases only.")
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
        if image_tasks.is_image_task(predictor.problem_type):
            start = self.starting_checkpoint(unit, record, predictor.problem_type)
            predictor.fit(train, tuning_data=tune, hyperparameters=merge(hyperparameters, start),
                          presets=self.config.presets, seed=int(self.config.seed), time_limit=self.config.time_limit,
                          loggers=self.tracking(unit))
            return
        predictor.fit(train, tuning_data=tune, hyperparameters=hyperparameters or None, presets=self.config.presets,
                      seed=int(self.config.seed), time_limit=self.config.time_limit, init_from=path,
                      freeze_backbone=bool(self.options.freeze), loggers=self.tracking(unit))

    def starting_checkpoint(self, unit: Unit, record: dict, problem_type: str) -> dict:
        """The predictor keys that start an image task's fit from the pretrained model: its checkpoint directory
        (made once per pretrained model) and, with freeze, the detector's frozen backbone and neck."""
        model = self.project.model_dir(record["task"], record["fold"])
        directory = os.path.join(self.project.path, "cache", unit.pivot.split(NESTED)[0],
                                 f"start-{record['task']}.fold{record['fold']}")
        if not os.path.isdir(directory):
            staging = f"{directory}.tmp-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            os.makedirs(staging)
            if problem_type == image_tasks.DETECTION:
                detector_checkpoint(model, staging)
            else:
                sam_checkpoint(model, staging)
            os.replace(staging, directory)
        if problem_type == image_tasks.DETECTION:
            keys = {"model": {"mmdet_image": {"checkpoint_name": directory}}}
            if self.options.freeze:
                keys["model"]["mmdet_image"]["frozen_layers"] = ["backbone", "neck"]
            return keys
        return {"model": {"sam": {"checkpoint_name": directory}}}


def detector_checkpoint(model: str, directory: str):
    """detector.json (the saved detector's architecture) and its weights."""
    with open(os.path.join(model, META_FILE), encoding="utf-8") as handle:
        spec = json.load(handle)["architecture"]["spec"]
    with open(os.path.join(directory, "detector.json"), "w", encoding="utf-8") as handle:
        json.dump({k: v for k, v in spec.items() if k != "source"}, handle)
    shutil.copyfile(os.path.join(model, WEIGHTS_FILE), os.path.join(directory, WEIGHTS_FILE))


def sam_checkpoint(model: str, directory: str):
    """The saved segmentation model's SAM, adapters merged into its weights, as save_pretrained writes it, with
    the pixel statistics it was trained with."""
    learner = MultiModalPredictor.load(model, verbosity=0).learner
    if learner.meta["architecture"].get("network", "sam") != "sam":
        raise WorkspaceError(f"The pretrained model {model} is a U-Net trained from scratch (no Segment Anything "
                             "checkpoint was available), which no segmentation fit can start from; pick a "
                             "pretrain_task whose models fine-tuned SAM, or train this task with the train mode.")
    net = learner.model
    for name, module in list(net.named_modules()):
        if hasattr(module, "merge") and hasattr(module, "get_base_layer"):     # a peft adapter layer
            module.merge()
            parent, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, child, module.get_base_layer())
    net.sam.save_pretrained(directory)
    architecture = learner.meta["architecture"]
    with open(os.path.join(directory, "preprocessor_config.json"), "w", encoding="utf-8") as handle:
        json.dump({"image_mean": architecture["image_mean"], "image_std": architecture["image_std"],
                   "do_normalize": True}, handle)
