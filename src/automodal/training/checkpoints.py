"""Keep the top-k checkpoints by validation score as safetensors files during training."""

from __future__ import annotations

import itertools
import json
import os

from lightning.pytorch.callbacks import Callback
from safetensors.torch import save_file

from .soup import state_to_cpu

INDEX = "entries.json"


class TopKCheckpoints(Callback):
    """After each validation, save the weights if they are among the k best seen: by score (higher is better),
    ties broken by the lower validation loss, since a small tuning set often gives many validations one score.

    Several validations can fall on one optimizer step (gradient accumulation with a fractional
    val_check_interval), so files are named by a counter of saves, never reused, and only files that leave the
    top k are removed.
    """

    def __init__(self, k: int, directory: str, monitor: str = "val_score", tie_breaker: str = "val_loss"):
        self.k, self.directory, self.monitor, self.tie_breaker = k, directory, monitor, tie_breaker
        self.entries: list = []   # (score, global_step, path, loss), best first
        self._serial = itertools.count()
        os.makedirs(directory, exist_ok=True)

    def on_validation_end(self, trainer, pl_module):
        # every process sees the same gathered score; one of them writes the files
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        loss = float(metrics[self.tie_breaker]) if self.tie_breaker in metrics else 0.0
        self.offer(float(metrics[self.monitor]), loss, trainer.global_step, pl_module.net)

    @staticmethod
    def _rank(entry) -> tuple:
        return -entry[0], entry[3]

    def offer(self, score: float, loss: float, step: int, net):
        """Save net's weights if they rank among the k best; drop the file that falls out of the top k."""
        entry = (score, step, None, loss)
        if len(self.entries) >= self.k and self._rank(entry) >= self._rank(self.entries[-1]):
            return
        path = os.path.join(self.directory, f"save{next(self._serial)}_step{step}.safetensors")
        save_file(state_to_cpu(net), path)
        self.entries = sorted(self.entries + [(score, step, path, loss)], key=self._rank)
        for stale in self.entries[self.k:]:
            os.remove(stale[2])
        self.entries = self.entries[: self.k]
        self._write_index()

    def _write_index(self):
        """The entries as JSON beside the files: a process that did not train (the parent of ddp_spawn's
        processes) reads them back with reload()."""
        rows = [[score, step, os.path.basename(path), loss] for score, step, path, loss in self.entries]
        temporary = os.path.join(self.directory, INDEX + ".tmp")
        with open(temporary, "w") as handle:
            json.dump(rows, handle)
        os.replace(temporary, os.path.join(self.directory, INDEX))

    def reload(self) -> list:
        """The entries that the training process wrote (none if it kept no checkpoint)."""
        index = os.path.join(self.directory, INDEX)
        if os.path.exists(index):
            with open(index) as handle:
                self.entries = [(score, step, os.path.join(self.directory, name), loss)
                                for score, step, name, loss in json.load(handle)]
        return self.entries
