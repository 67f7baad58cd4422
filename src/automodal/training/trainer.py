"""Build the Lightning Trainer from env.* and optimization.*: devices, precision, accumulation, clipping, stops."""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import lightning.pytorch as pl
import torch

from ..config import Config

logger = logging.getLogger(__name__)

PRECISION = {"16": "16-mixed", "16-mixed": "16-mixed", "bf16": "bf16-mixed", "bf16-mixed": "bf16-mixed",
             "32": "32-true", "32-true": "32-true", "64": "64-true", "64-true": "64-true",
             "16-true": "16-true", "bf16-true": "bf16-true"}


DISTRIBUTED = ("ddp", "ddp_spawn")


@dataclass
class DevicePlan:
    accelerator: str            # "cpu" or "gpu"
    devices: list | int         # GPU indices, or the number of CPU processes
    strategy: str               # Lightning strategy; "dp" runs through torch.nn.DataParallel on one Lightning device
    precision: str
    dp_device_ids: list | None = None
    num_nodes: int = 1

    @property
    def num_devices(self) -> int:
        """Devices (GPUs or CPU processes) on each node."""
        return len(self.devices) if isinstance(self.devices, list) else self.devices

    @property
    def world_size(self) -> int:
        return self.num_devices * self.num_nodes

    @property
    def distributed(self) -> bool:
        return self.strategy in DISTRIBUTED


def _pick_gpus(count: int, auto_select: bool) -> list:
    available = torch.cuda.device_count()
    if not auto_select or count >= available:
        return list(range(min(count, available)))
    free = [(torch.cuda.mem_get_info(i)[0], i) for i in range(available)]
    return sorted(i for _, i in sorted(free, reverse=True)[:count])


def _say(config: Config, key: str, message: str, *args):
    """A setting that cannot apply: a warning when someone chose the key, a debug line for a documented default."""
    logger.log(logging.WARNING if config.chosen(key) else logging.DEBUG, message, *args)


def _cpu_plan(config: Config, precision: str) -> DevicePlan:
    strategy, processes, nodes = config["env.strategy"], config["env.num_processes"], config["env.num_nodes"]
    if processes > 1 and strategy not in DISTRIBUTED:
        _say(config, "env.num_processes", "env.num_processes %d needs env.strategy ddp or ddp_spawn on the CPU "
             "(it is %s); training in one process.", processes, strategy)
        processes = 1
    if strategy == "dp":
        _say(config, "env.strategy", "env.strategy dp splits batches across GPUs; on the CPU it does not apply, "
             "so training runs in one process (use ddp or ddp_spawn with env.num_processes for several).")
    if strategy in DISTRIBUTED and processes * nodes > 1:
        return DevicePlan("cpu", processes, strategy, precision, num_nodes=nodes)
    if strategy in DISTRIBUTED:
        _say(config, "env.strategy", "env.strategy %s with one CPU process trains in this process; set "
             "env.num_processes to train with several.", strategy)
    return DevicePlan("cpu", 1, "auto", precision)


def plan_devices(config: Config) -> DevicePlan:
    requested = config["env.num_gpus"]
    accelerator = config["env.accelerator"]
    cuda = torch.cuda.is_available()
    if not cuda:
        # `import lightning` turns on NVML-based CUDA checks, which cost ~100x more per call; torch's optimisers
        # make that check on every step. With no CUDA device both checks agree, so use the cheap one.
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"
    use_gpu = cuda and accelerator != "cpu" and requested != 0
    if accelerator in ("gpu", "cuda") and not cuda:
        logger.warning("env.accelerator is '%s' but no GPU is visible; training on the CPU.", accelerator)
    precision = PRECISION[str(config["env.precision"])]
    if not use_gpu:
        if precision == "16-mixed":
            # the documented default is 16: only a precision someone asked for deserves a warning
            _say(config, "env.precision", "env.precision 16 (16-bit mixed precision) needs a GPU; training in "
                 "32-bit on the CPU (bf16 or 16-true train in 16 bits there).")
            precision = "32-true"
        return _cpu_plan(config, precision)
    count = torch.cuda.device_count() if requested == -1 else requested
    gpus = _pick_gpus(count, config["env.auto_select_gpus"])
    if precision == "bf16-mixed" and not torch.cuda.is_bf16_supported():
        logger.warning("env.precision bf16 is not supported by this GPU; using 16-mixed.")
        precision = "16-mixed"
    strategy, nodes = config["env.strategy"], config["env.num_nodes"]
    if strategy == "dp":
        if len(gpus) > 1:
            return DevicePlan("gpu", gpus[:1], "auto", precision, dp_device_ids=gpus)
        _say(config, "env.strategy", "env.strategy dp with one GPU trains on that GPU alone.")
        return DevicePlan("gpu", gpus, "auto", precision)
    if strategy in DISTRIBUTED and len(gpus) * nodes == 1 and not config.chosen("env.strategy"):
        # the documented default names a multi-GPU mode; one GPU trains in this process, with no process group
        return DevicePlan("gpu", gpus, "auto", precision)
    return DevicePlan("gpu", gpus, strategy, precision, num_nodes=nodes)


def accumulation_steps(config: Config, plan: DevicePlan) -> int:
    per_step = config["env.per_gpu_batch_size"] * plan.world_size
    return max(1, config["env.batch_size"] // per_step)


def quiet_lightning(verbosity: int):
    """Lightning sets its loggers to INFO on import; below verbosity 4 only its warnings reach the user."""
    level = logging.INFO if verbosity >= 4 else logging.WARNING
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(level)
    ignore_lightning_noise()


def ignore_lightning_noise():
    """Warnings about choices made on purpose; spawned training processes call this again (filters are per
    process)."""
    import warnings

    warnings.filterwarnings("ignore", message=".*treespec.*")
    # the validation score is gathered from every process before it is logged: it is the same everywhere
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*Experiment logs directory.*")
    # small data: fewer batches than log_every_n_steps just means fewer log rows, as the key says
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


def prepare_process(trainer, device):
    """What each training process does first (a module's setup): quiet Lightning's warnings, and split this
    machine's cores between processes that share them, since more threads than cores would spin."""
    ignore_lightning_noise()
    if trainer.world_size > 1 and trainer.num_devices > 1 and device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // trainer.num_devices))


class ReleaseProcessGroup(pl.Callback):
    """Ends the process group when a distributed fit is over. Lightning destroys it at exit only for NCCL; a gloo
    group left alive lets a ddp_spawn child abort at interpreter exit now and then ("terminate called without an
    active exception") while its communication threads are torn down. Nothing after fit talks across processes."""

    def teardown(self, trainer, pl_module, stage):
        import torch.distributed as dist

        if stage == "fit" and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def build_trainer(config: Config, plan: DevicePlan, callbacks: list, log_dir: str,
                  time_limit: float | None, verbosity: int, loggers: list = ()) -> pl.Trainer:
    """`loggers`: the fit's trackers (training.tracking), beside the CSV log every fit writes."""
    from lightning.pytorch.loggers import CSVLogger

    quiet_lightning(verbosity)
    if plan.distributed:
        callbacks = [*callbacks, ReleaseProcessGroup()]
    interval = config["optimization.val_check_interval"]
    clip = config["optimization.gradient_clip_val"]
    return pl.Trainer(
        accelerator=plan.accelerator,
        devices=plan.devices,
        strategy=plan.strategy,
        num_nodes=plan.num_nodes,
        # batches are sharded by the loaders themselves (data.batches.ShardedBatches): every process takes its
        # rows of the same global batches, so length buckets and the training order survive distribution
        use_distributed_sampler=False,
        precision=plan.precision,
        max_epochs=config["optimization.max_epochs"],
        max_steps=config["optimization.max_steps"],
        max_time=datetime.timedelta(seconds=max(1.0, time_limit)) if time_limit is not None else None,
        val_check_interval=interval,
        # An int interval counts training batches across epoch boundaries.
        check_val_every_n_epoch=None if isinstance(interval, int) else 1,
        accumulate_grad_batches=accumulation_steps(config, plan),
        gradient_clip_val=clip if clip > 0 else None,
        gradient_clip_algorithm=config["optimization.gradient_clip_algorithm"] if clip > 0 else None,
        log_every_n_steps=config["optimization.log_every_n_steps"],
        logger=[CSVLogger(log_dir, name="logs", version=""), *loggers],
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=verbosity >= 2,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
    )
