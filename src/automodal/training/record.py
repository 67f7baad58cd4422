"""What a fit did (epochs, steps, why it stopped, throughput), written by the process that trained.

Under ddp_spawn the training processes are children of the one that called fit: their trainer state and
callbacks never come back to it. So the first process writes this record when training ends, and fit reads it
back, whichever strategy ran."""

from __future__ import annotations

import json
import os

from lightning.pytorch.callbacks import Callback

RECORD = "fit_record.json"


def stop_reason(trainer, stopper, max_steps: int, max_epochs: int, time_limited: bool) -> str:
    # stopped_epoch stays 0 when the stop comes in the first epoch; a spent patience marks that case too.
    if stopper.stopped_epoch or stopper.wait_count >= max(1, stopper.patience):
        return "early_stopping"
    if 0 < max_steps <= trainer.global_step:
        return "max_steps"
    if trainer.current_epoch >= max_epochs:
        return "max_epochs"
    return "time_limit" if time_limited else "interrupted"


class FitRecord(Callback):
    def __init__(self, directory: str, stopper, meter, max_steps: int, max_epochs: int, time_limited: bool):
        self.path = os.path.join(directory, RECORD)
        self.stopper, self.meter = stopper, meter
        self.max_steps, self.max_epochs, self.time_limited = max_steps, max_epochs, time_limited

    def on_train_end(self, trainer, pl_module):
        if trainer.is_global_zero:
            self.write(trainer.current_epoch, trainer.global_step, trainer.world_size,
                       stop_reason(trainer, self.stopper, self.max_steps, self.max_epochs, self.time_limited))

    def write(self, epochs: int, global_step: int, processes: int, reason: str):
        # each process trains on its share of every batch: the throughput of all of them together
        record = {
            "epochs": epochs, "global_step": global_step, "stop_reason": reason,
            "train_samples_per_second": round(self.meter.samples_per_second * processes, 1),
            "train_samples_per_second_by_epoch": [round(v * processes, 1)
                                                  for v in self.meter.epoch_samples_per_second],
            "processes": processes,
        }
        with open(self.path, "w") as handle:
            json.dump(record, handle)

    def read(self) -> dict:
        """The record; empty in a process other than the first of a ddp run (it writes none)."""
        if not os.path.exists(self.path):
            return {}
        with open(self.path) as handle:
            return json.load(handle)
