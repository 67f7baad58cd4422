"""Keep the top-k checkpoints by validation score as safetensors files during training."""

from __future__ import annotations

import os

from lightning.pytorch.callbacks import Callback
from safetensors.torch import save_file

from .soup import state_to_cpu


class TopKCheckpoints(Callback):
    """After each validation, save the weights if they are among the k best seen (score: higher is better)."""

    def __init__(self, k: int, directory: str, monitor: str = "val_score"):
        self.k, self.directory, self.monitor = k, directory, monitor
        self.entries: list = []   # (score, global_step, path), best first
        os.makedirs(directory, exist_ok=True)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        if len(self.entries) >= self.k and score <= self.entries[-1][0]:
            return
        path = os.path.join(self.directory, f"step{trainer.global_step}_{len(os.listdir(self.directory))}.safetensors")
        save_file(state_to_cpu(pl_module.net), path)
        self.entries.append((score, trainer.global_step, path))
        self.entries.sort(key=lambda e: -e[0])
        for _, _, stale in self.entries[self.k:]:
            os.remove(stale)
        self.entries = self.entries[: self.k]
