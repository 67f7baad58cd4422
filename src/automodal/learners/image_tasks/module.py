"""The LightningModule of an ImageTaskLearner: its loss in training, its metric at each validation."""

from __future__ import annotations

import logging

import lightning.pytorch as pl

from ...config import Config
from ...training.module import gather_objects
from ...training.optim import build_optimizer, build_scheduler, uniform_groups
from ...training.trainer import prepare_process
from .running import to_device

logger = logging.getLogger(__name__)


class ImageTaskModule(pl.LightningModule):
    def __init__(self, learner, net, labels: dict, metric: str, config: Config):
        super().__init__()
        self.learner, self.net, self.labels, self.metric, self.config = learner, net, labels, metric, config
        self._outputs, self._targets = [], []

    def setup(self, stage):
        prepare_process(self.trainer, self.device)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return to_device(batch, device)

    def training_step(self, batch, batch_idx):
        loss = self.learner.loss(self.net, batch)
        # each self.log call costs about as much as a small network's step: log only the steps that are written
        connector = getattr(self.trainer, "_logger_connector", None)
        if connector is None or connector.should_update_logs:
            self.log("train_loss", loss, on_step=True, prog_bar=True, batch_size=len(batch["label"]))
        return loss

    def validation_step(self, batch, batch_idx):
        self._outputs.extend(to_device(self.learner.predict_batch(self.net, batch), "cpu"))
        self._targets.extend(to_device(batch["label"], "cpu"))

    def on_validation_epoch_end(self):
        outputs, targets, world = self._outputs, self._targets, self.trainer.world_size
        self._outputs, self._targets = [], []
        if world > 1:
            # each process validated its share of the tuning images: the metric is taken over all of them, so
            # that every process logs the same score and early stopping stops them together
            outputs, targets = gather_objects(outputs), gather_objects(targets)
        if not outputs:
            return
        value = self.learner.scores(outputs, targets, self.labels, [self.metric])[self.metric]
        # checkpoints and early stopping rank by higher-is-better
        self.log("val_score", value if self.learner.metrics[self.metric] else -value, prog_bar=True)

    def configure_optimizers(self):
        optimizer = build_optimizer(uniform_groups(self.net, self.config), self.config)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = build_scheduler(optimizer, total, self.config)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
