"""Training throughput: samples per second spent in training epochs, validation time excluded."""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback


class ThroughputMeter(Callback):
    def __init__(self):
        self.samples = 0
        self.seconds = 0.0
        self.epochs: list = []      # (samples, seconds) per epoch
        self._epoch_samples = 0
        self._epoch_start = None
        self._validation_seconds = 0.0
        self._validation_start = None

    def on_train_epoch_start(self, trainer, pl_module):
        self._epoch_start = time.perf_counter()
        self._validation_seconds = 0.0
        self._epoch_samples = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._epoch_samples += len(batch["label"])

    def on_validation_start(self, trainer, pl_module):
        self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        if self._validation_start is not None:
            self._validation_seconds += time.perf_counter() - self._validation_start
            self._validation_start = None

    def on_train_epoch_end(self, trainer, pl_module):
        if self._epoch_start is not None:
            self.add_epoch(self._epoch_samples, time.perf_counter() - self._epoch_start - self._validation_seconds)
            self._epoch_start = None

    def add_epoch(self, samples: int, seconds: float):
        self.epochs.append((samples, seconds))
        self.samples += samples
        self.seconds += seconds

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    @property
    def epoch_samples_per_second(self) -> list:
        return [round(n / s, 1) if s > 0 else 0.0 for n, s in self.epochs]
