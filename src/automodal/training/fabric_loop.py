"""The training loop for networks trained from scratch on one device, run through Lightning Fabric.

A small tabular network takes about 2 ms per optimizer step on a CPU; the Trainer's hooks, closure and batch
fetcher add a fifth to that (benchmarks/bench_tabular.py: the Trainer runs at 0.82 of a bare PyTorch loop, this
loop at 0.95). It keeps Fabric for devices and precision and does the rest itself, with the Trainer's semantics
for every key it reads: validation every fraction of an epoch or every N batches across epochs, early stopping
on `optimization.patience`, the top-k keeper, `max_steps` / `max_epochs` / the time limit, gradient accumulation
(the loss divided by the accumulation, a step on each epoch's last batch), clipping by norm or value,
gradient-norm tracking, and the same CSV log. Fits that need Lightning callbacks (the user's, CutMix, a search's
reporter), several processes, mixup, co-tasks or a pretrained backbone train on the Trainer (the table fit chooses
with `applies`).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

from ..config import Config
from ..progress import Bar
from . import tracking
from .session import Watchers
from .trainer import DevicePlan, accumulation_steps, quiet_lightning

logger = logging.getLogger(__name__)

WHOLE_NETWORK = ("16-true", "bf16-true", "64-true")   # precisions that cast the weights, and so the inputs
SHOW_AFTER = 2.0        # seconds into an epoch before its progress bar appears


def applies(plan: DevicePlan, pretrained: bool, module, callbacks: list, keeper) -> bool:
    """Whether a fit can train on this loop rather than on the Trainer."""
    one_device = plan.world_size == 1 and not plan.distributed and plan.dp_device_ids is None
    plain = module.mixer is None and module.co_tasks is None and not module.freeze_norms
    return one_device and plain and not pretrained and not callbacks and keeper is None


class Patience:
    """Early stopping as Lightning's EarlyStopping(mode="max") does it: only a strictly higher score is progress,
    and a score that is not finite stops at once."""

    def __init__(self, patience: int):
        self.patience, self.best, self.wait = patience, -math.inf, 0

    def spent(self, score: float) -> bool:
        if not math.isfinite(score):
            return True
        if score > self.best:
            self.best, self.wait = score, 0
            return False
        self.wait += 1
        return self.wait >= self.patience


class ValidationSchedule:
    """Which training batches end with a validation: a float interval is a fraction of each epoch (every
    int(batches * interval) batches, at least 1), an int counts batches across epoch boundaries."""

    def __init__(self, interval, batches_per_epoch: int):
        self.across_epochs = isinstance(interval, int)
        self.every = interval if self.across_epochs else max(1, int(batches_per_epoch * interval))

    def due(self, batch_in_epoch: int, batches_so_far: int) -> bool:
        counted = batches_so_far if self.across_epochs else batch_in_epoch
        return (counted + 1) % self.every == 0


def total_steps(batches_per_epoch: int, accumulate: int, max_epochs: int, max_steps: int) -> int:
    """Optimizer steps the schedule spans, as the Trainer estimates them."""
    steps = math.ceil(batches_per_epoch / accumulate) * max_epochs
    return min(steps, max_steps) if max_steps != -1 else steps


class FabricLoop:
    def __init__(self, config: Config, plan: DevicePlan, watched: Watchers, log_dir: str, time_limit: float | None,
                 loggers: list = (), verbosity: int = 2):
        from lightning.fabric import Fabric
        from lightning.fabric.loggers import CSVLogger

        self.config, self.watched = config, watched
        self.fabric = Fabric(accelerator=plan.accelerator, devices=plan.devices, precision=plan.precision)
        self.csv_log = CSVLogger(log_dir, name="logs", version="")
        self.loggers = [self.csv_log, *loggers]     # the fit's trackers see what the CSV log sees
        self.time_limit = None if time_limit is None else max(1.0, time_limit)
        self.accumulate = accumulation_steps(config, plan)
        self.whole_network = plan.precision in WHOLE_NETWORK
        self.patience = Patience(config["optimization.patience"])
        self.max_steps, self.max_epochs = config["optimization.max_steps"], config["optimization.max_epochs"]
        self.log_every = config["optimization.log_every_n_steps"]
        self.grad_norm_type = config["optimization.track_grad_norm"]
        self.clip = config["optimization.gradient_clip_val"]
        self.clip_by = config["optimization.gradient_clip_algorithm"]
        self.global_step, self.epoch, self.log_step = 0, 0, 0
        self.verbosity = verbosity

    def fit(self, module, train_loader, val_loader) -> dict:
        """Train; returns the fit record (epochs, steps, why it stopped, throughput)."""
        fabric = self.fabric
        fabric.launch()               # one device: no processes to start, but it selects the GPU
        net = module.net
        fabric.setup_module(net)      # moves and casts the weights in place; the forward network shares them
        net.train()
        batches = len(train_loader)
        optimizer, scheduler = module.optimizer_and_schedule(
            total_steps(batches, self.accumulate, self.max_epochs, self.max_steps))
        stepper = fabric.setup_optimizers(optimizer)
        schedule = ValidationSchedule(self.config["optimization.val_check_interval"], batches)
        self.started = time.perf_counter()
        reason, seen, bar = None, 0, None
        try:
            while reason is None:
                if self.epoch >= self.max_epochs:       # at least 1 (config.schema)
                    reason = "max_epochs"
                    break
                epoch_start, samples, validating = time.perf_counter(), 0, 0.0
                bar = Bar(f"epoch {self.epoch}", batches, self.verbosity, SHOW_AFTER)
                for index, batch in enumerate(train_loader):
                    self.log_step = self.global_step    # the Trainer's log step: optimizer steps before this batch's
                    batch = self._ready(module, batch)
                    with fabric.autocast():
                        loss = module.step_loss(batch)
                    fabric.backward(loss / self.accumulate)
                    samples += len(batch["label"])
                    if (index + 1) % self.accumulate == 0 or index + 1 == batches:
                        self._optimizer_step(net, stepper, optimizer, scheduler, loss)
                    reason, timed_out = self._stop_after_batch()
                    # like the Trainer, a fit stopped by its time limit validates the weights it stops with
                    if schedule.due(index, seen) or timed_out:
                        began = time.perf_counter()
                        reason = self._validate(module, val_loader) or reason
                        validating += time.perf_counter() - began
                    seen += 1
                    # the note is formatted only for a bar that shows: this runs once per training batch
                    shown = bar.wanted and self.patience.best > -math.inf
                    bar.advance(note=f"best {self.patience.best:.4f}" if shown else "")
                    if reason is not None:
                        break
                bar.close()
                self.watched.meter.add_epoch(samples, time.perf_counter() - epoch_start - validating)
                self.epoch += 1
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            if bar is not None:
                bar.close()
        tracking.finish(self.loggers)
        self.watched.record.write(self.epoch, self.global_step, 1, reason)
        return self.watched.record.read()

    def _ready(self, module, batch: dict) -> dict:
        """The batch on the device, its floating tensors in the weights' dtype under 16-/64-bit whole-network
        precision, as the Trainer does. Under mixed precision the batch stays in 32 bits: Fabric's mixed-precision
        plugin would round it to 16 bits, regression labels included."""
        on_device = module.transfer_batch_to_device(batch, self.fabric.device, 0)
        return self.fabric.strategy.precision.convert_input(on_device) if self.whole_network else on_device

    def _optimizer_step(self, net, stepper, optimizer, scheduler, loss):
        # the Trainer's order: unscale (16-bit mixed precision), track the norms, clip, step, schedule
        self.fabric.strategy.precision.unscale_gradients(optimizer)
        metrics = {}
        if self.log_every > 0 and (self.global_step + 1) % self.log_every == 0:
            metrics["train_loss"] = float(loss.detach())
            metrics["lr"] = optimizer.param_groups[0]["lr"]
            if self.grad_norm_type != -1:
                from lightning.pytorch.utilities import grad_norm

                metrics.update({k: float(v) for k, v in grad_norm(net, norm_type=self.grad_norm_type).items()})
        if self.clip > 0:
            parameters = [p for group in optimizer.param_groups for p in group["params"]]
            if self.clip_by == "value":
                torch.nn.utils.clip_grad_value_(parameters, self.clip)
            else:
                torch.nn.utils.clip_grad_norm_(parameters, self.clip)
        stepper.step()
        stepper.zero_grad(set_to_none=True)
        scheduler.step()
        if metrics:
            tracking.log(self.loggers, {**metrics, "epoch": self.epoch}, self.global_step)
        self.global_step += 1

    def _stop_after_batch(self) -> tuple[str | None, bool]:
        """(why training stops after this batch, or None; whether the time limit has passed)."""
        timed_out = self.time_limit is not None and time.perf_counter() - self.started >= self.time_limit
        if 0 < self.max_steps <= self.global_step:
            return "max_steps", timed_out
        return ("time_limit" if timed_out else None), timed_out

    def _validate(self, module, val_loader) -> str | None:
        """Score the tuning rows, offer the weights to the keeper; "early_stopping" when patience is spent."""
        net = module.net
        net.eval()
        with torch.inference_mode(), self.fabric.autocast():
            for index, batch in enumerate(val_loader):
                module.validation_step(self._ready(module, batch), index)
        net.train()
        # the Trainer compares the values it logged, which are float32
        loss, score = (float(np.float32(value)) for value in module.validation_result())
        tracking.log(self.loggers, {"val_loss": loss, "val_score": score, "epoch": self.epoch}, self.log_step)
        self.watched.keeper.offer(score, loss, self.global_step, net)
        best = self.patience.best
        spent = self.patience.spent(score)
        logger.log(logging.INFO if score > best else logging.DEBUG, "Epoch %d, step %d: validation score %.4f "
                   "(best %.4f).", self.epoch, self.global_step, score, max(score, best))
        return "early_stopping" if spent else None


def train(config: Config, plan: DevicePlan, module, train_loader, val_loader, watched: Watchers, workdir: str,
          time_limit: float | None, verbosity: int, loggers: list = ()) -> tuple[dict, list, bool]:
    """As training.session.train: (progress, kept checkpoint entries, True: this process trained)."""
    quiet_lightning(verbosity)      # Fabric's device notes are Lightning's info lines, as on the Trainer
    progress = FabricLoop(config, plan, watched, workdir, time_limit, loggers, verbosity).fit(module, train_loader,
                                                                                              val_loader)
    return progress, watched.keeper.reload(), True
