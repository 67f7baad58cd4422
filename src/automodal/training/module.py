"""The LightningModule: loss (with optional distillation), validation score, optimiser and schedule."""

from __future__ import annotations

import logging

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F

from ..config import Config
from ..data.types import REGRESSION
from ..errors import AutomodalError, ConfigError
from ..inference import outputs_from_logits
from ..metrics import Metric, score, signed
from .cutmix import scale_box
from .mixup import IMAGE_SUFFIX, soft_cross_entropy
from .optim import build_optimizer, build_scheduler, param_groups
from .trainer import prepare_process

logger = logging.getLogger(__name__)


class Distillation:
    """distiller.*: mix the hard-label loss with a loss against the teacher's logits at a temperature."""

    def __init__(self, config: Config, problem_type: str):
        self.loss_type = config["distiller.soft_label_loss_type"] or (
            "mse" if problem_type == REGRESSION else "cross_entropy")
        self.temperature = config["distiller.temperature"]
        self.hard_weight = config["distiller.hard_label_weight"]
        self.soft_weight = config["distiller.soft_label_weight"]

    def soft_loss(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        student, teacher = student / self.temperature, teacher / self.temperature
        if self.loss_type == "mse":
            return F.mse_loss(student, teacher)
        return -(torch.softmax(teacher, dim=1) * torch.log_softmax(student, dim=1)).sum(dim=1).mean()

    def __call__(self, hard_loss, logits, teacher_logits):
        return self.hard_weight * hard_loss + self.soft_weight * self.soft_loss(logits, teacher_logits)


def gather_rows(rows: torch.Tensor, device) -> torch.Tensor:
    """The rows of every process, concatenated (processes may hold different numbers of rows)."""
    import torch.distributed as dist

    world = dist.get_world_size()
    count = torch.tensor([len(rows)], device=device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    counts = [int(c) for c in counts]
    padded = torch.zeros((max(counts), *rows.shape[1:]), dtype=rows.dtype, device=device)
    padded[:len(rows)] = rows.to(device)
    gathered = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    return torch.cat([part[:n] for part, n in zip(gathered, counts)]).cpu()


def gather_objects(items: list) -> list:
    """The items of every process, concatenated in rank order: for outputs that are no single tensor (an image's
    boxes or mask), which are pickled across processes, so they are moved to the CPU first."""
    import torch.distributed as dist

    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part]


class TrainingModule(pl.LightningModule):
    def __init__(self, net, config: Config, problem_type: str, metric: Metric, label_processor,
                 forward_net=None, distillation: Distillation | None = None, mixer=None):
        super().__init__()
        self.net = net
        # forward_net may be a compiled or DataParallel wrapper of net; weights always live in net.
        self.forward_net = forward_net if forward_net is not None else net
        self.config, self.problem_type, self.metric = config, problem_type, metric
        self.label_processor = label_processor
        self.distillation = distillation
        self.mixer = mixer                  # training.mixup.BatchMixer when data.mixup.turn_on
        self.cutmix = None                  # training.cutmix.CutMix passed to fit(callbacks=...)
        self.freeze_norms = False           # fit(freeze_backbone=True): normalisation statistics stay as loaded
        self.co_tasks = None                # training.multitask.CoTaskStreams of a multitask fit
        self.pivot_weight = 1.0
        self.grad_norm_type = config["optimization.track_grad_norm"]
        self._val_logits, self._val_labels = [], []

    def __setattr__(self, name, value):
        # Lightning sets _current_fx_name (a string) ~50 times per step; nn.Module.__setattr__'s type checks for
        # parameters and submodules are needless for it and cost more than a small model's step.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        # Batches are flat dicts of tensors; Lightning's generic collection walk costs more than the move itself.
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

    def hard_loss(self, logits, labels):
        if self.problem_type == REGRESSION:
            return F.mse_loss(logits[:, 0].float(), labels.float())
        return F.cross_entropy(logits.float(), labels)

    def attach_cutmix(self, cutmix):
        """Called by a CutMix callback: the image columns are mixed here, with one forward pass per step."""
        if self.mixer is not None:
            raise ConfigError("CutMix was passed to fit() while data.mixup.turn_on is true; use one of the two.")
        if cutmix.num_classes is None and self.problem_type != REGRESSION:
            cutmix.num_classes = self.label_processor.num_outputs
        self.cutmix = cutmix

    def _cut_and_mix(self, batch: dict) -> dict:
        """The batch with CutMix's box pasted into every image column (one permutation and box for all)."""
        keys = [k for k in batch if k.endswith(IMAGE_SUFFIX)]
        height, width = batch[keys[0]].shape[-2:]
        self.cutmix.draw(len(batch["label"]), height, width)
        return dict(batch, **{k: self.cutmix.mix_input(batch[k], scale_box(self.cutmix.box, (height, width),
                                                                        batch[k].shape[-2:])) for k in keys})

    def training_step(self, batch, batch_idx):
        loss = self.step_loss(batch)
        if self._logging_step():
            self.log("train_loss", loss, on_step=True, prog_bar=True, batch_size=len(batch["label"]))
            rate = self.trainer.optimizers[0].param_groups[0]["lr"]
            self.log("lr", rate, on_step=True, batch_size=len(batch["label"]))
        return loss

    def step_loss(self, batch) -> torch.Tensor:
        """The training loss of one batch (mixing, ensemble members, distillation and co-tasks included)."""
        mixed = self.mixer is not None and self.mixer.applies(batch, self.current_epoch)
        if mixed:
            batch, targets = self.mixer(batch)
        cut = self.cutmix is not None and any(k.endswith(IMAGE_SUFFIX) for k in batch)
        if cut:
            batch = self._cut_and_mix(batch)
        # every ensemble member learns from its own loss (members=True: logits of shape (batch, k, outputs))
        member_logits = self.forward_net(batch, members=True)
        members = member_logits.shape[1]
        logits = member_logits.reshape(-1, member_logits.shape[-1])

        def per_member(rows: torch.Tensor) -> torch.Tensor:
            return rows.repeat_interleave(members, dim=0) if members > 1 else rows

        if mixed:
            loss = soft_cross_entropy(logits, per_member(targets))
        elif cut:
            loss = self.cutmix_loss(logits, batch["label"], per_member)
        else:
            loss = self.hard_loss(logits, per_member(batch["label"]))
        if self.distillation is not None:
            loss = self.distillation(loss, logits.float(), per_member(batch["teacher_logits"]))
        if self.co_tasks is not None:
            loss = self.multitask_loss(loss)
        return loss

    def multitask_loss(self, pivot_loss):
        """pivot weight * pivot loss + the sum of each co-task's weight * its loss on one of its batches."""
        total = self.pivot_weight * pivot_loss
        for weight, loss in self.co_tasks.losses(self.net, self.device):
            total = total + weight * loss
        return total

    def cutmix_loss(self, logits, labels, per_member):
        cutmix = self.cutmix
        if cutmix.interpolate_loss:
            return cutmix.loss(lambda out, y: self.hard_loss(out, per_member(y)), logits, labels)
        targets = per_member(cutmix.mix_target(labels))
        if self.problem_type == REGRESSION:
            return F.mse_loss(logits[:, 0].float(), targets.float())
        return soft_cross_entropy(logits, targets)

    def _logging_step(self) -> bool:
        """Lightning writes step metrics every log_every_n_steps; each self.log call costs more than a small
        model's step, so step metrics are logged only on the steps that are written."""
        connector = getattr(self.trainer, "_logger_connector", None)
        return connector is None or connector.should_update_logs

    def validation_step(self, batch, batch_idx):
        logits = self.forward_net(batch)
        self._val_logits.append(logits.detach().float().cpu())
        self._val_labels.append(batch["label"].cpu())

    def on_train_epoch_start(self):
        if self.freeze_norms:   # Lightning puts every module in training mode at each epoch's start
            for module in self.net.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def setup(self, stage):
        prepare_process(self.trainer, self.device)

    def _validation_rows(self, world_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This validation's logits and labels; with several processes, every process's rows (each process
        validated its own share), so that early stopping and checkpoints see one score for the whole tuning set."""
        if self._val_logits:
            logits, labels = torch.cat(self._val_logits), torch.cat(self._val_labels)
        else:
            logits = torch.zeros(0, self.label_processor.num_outputs)
            labels = torch.zeros(0, dtype=torch.float32 if self.problem_type == REGRESSION else torch.long)
        self._val_logits, self._val_labels = [], []
        if world_size > 1:
            logits, labels = gather_rows(logits, self.device), gather_rows(labels, self.device)
        return logits, labels

    def on_validation_epoch_end(self):
        if not self._val_logits and self.trainer.world_size == 1:
            return
        loss, value = self.validation_result(self.trainer.world_size)
        self.log("val_loss", loss, prog_bar=False)
        self.log("val_score", value, prog_bar=True)

    def validation_result(self, world_size: int = 1) -> tuple[float, float]:
        """(loss, signed score) of the rows the validation steps collected since the last call."""
        logits, labels = self._validation_rows(world_size)
        loss = float(self.hard_loss(logits, labels))
        y_true = labels.numpy()
        if self.problem_type == REGRESSION:
            y_true = self.label_processor.inverse_regression(y_true.astype(np.float64))
        try:
            value = signed(self.metric, score(self.metric, y_true, outputs_from_logits(logits, self.problem_type,
                                                                                       self.label_processor)))
        except AutomodalError as exc:
            logger.warning("Validation metric unavailable (%s); using the negative validation loss.", exc)
            value = -loss
        return loss, value

    def on_before_optimizer_step(self, optimizer):
        if self.grad_norm_type == -1 or not self._logging_step():
            return
        from lightning.pytorch.utilities import grad_norm

        self.log_dict(grad_norm(self.net, norm_type=self.grad_norm_type))

    def configure_optimizers(self):
        optimizer, scheduler = self.optimizer_and_schedule(int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def optimizer_and_schedule(self, total_steps: int):
        """The optimiser over the network's parameter groups (and co-task heads), and its per-step schedule."""
        groups = param_groups(self.net, self.config)
        if self.co_tasks is not None:   # co-task heads learn at the pivot head's rate
            head_lr = max(g["lr"] for g in groups if set(g["names"]) & self.net.head_parameter_names())
            groups.append({"params": list(self.co_tasks.parameters()), "names": ["co_tasks"], "lr": head_lr,
                           "weight_decay": self.config["optimization.weight_decay"]})
        optimizer = build_optimizer(groups, self.config)
        return optimizer, build_scheduler(optimizer, max(1, total_steps), self.config)
