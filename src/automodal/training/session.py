"""One training run with the callbacks every fit uses: the top-k checkpoints (or a search's keeper), early stopping
on the validation score, the throughput meter and the fit record."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..config import Config
from .checkpoints import TopKCheckpoints
from .meter import ThroughputMeter
from .record import FitRecord


@dataclass
class Watchers:
    keeper: object          # training.checkpoints.TopKCheckpoints, or anything with reload() and a directory
    stopper: object
    meter: object
    record: object

    @property
    def callbacks(self) -> list:
        return [self.keeper, self.stopper, self.meter, self.record]


def watchers(config: Config, workdir: str, time_limited: bool, keeper=None) -> Watchers:
    from lightning.pytorch.callbacks import EarlyStopping

    keeper = keeper or TopKCheckpoints(config["optimization.top_k"], os.path.join(workdir, "checkpoints"))
    stopper = EarlyStopping(monitor="val_score", mode="max", patience=config["optimization.patience"],
                            check_on_train_epoch_end=False)
    meter = ThroughputMeter()
    record = FitRecord(workdir, stopper, meter, config["optimization.max_steps"], config["optimization.max_epochs"],
                       time_limited)
    return Watchers(keeper, stopper, meter, record)


def train(trainer, module, net, train_loader, val_loader, watched: Watchers) -> tuple[dict, list, bool]:
    """Fit, then (progress, kept checkpoint entries, whether this process is the first), read back from disk:
    under ddp_spawn the training ran in child processes."""
    net.train()  # pretrained networks load in eval mode; Lightning keeps the mode it finds (dropout off)
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
    progress, entries = watched.record.read(), watched.keeper.reload()
    progress.setdefault("epochs", trainer.current_epoch)
    progress.setdefault("global_step", trainer.global_step)
    return progress, entries, trainer.is_global_zero
