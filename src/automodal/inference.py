"""Prediction without a Trainer: the fitted model stays in memory and runs in a torch.inference_mode() loop."""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch

from .data.batches import BatchDataset, make_loader
from .data.pipeline import FeaturePipeline
from .data.processors import LabelProcessor
from .data.types import REGRESSION


def outputs_from_logits(logits: torch.Tensor, problem_type: str, label_processor) -> np.ndarray:
    """Class probabilities, or regression values on the label's original scale."""
    logits = logits.float()
    if problem_type == REGRESSION:
        return label_processor.inverse_regression(logits[:, 0].cpu().numpy().astype(np.float64))
    return torch.softmax(logits, dim=1).cpu().numpy()


def inference_device(config) -> str:
    """Where a loaded model predicts: the first GPU when one is visible and env.* allow it, else the CPU."""
    use_gpu = torch.cuda.is_available() and config["env.num_gpus"] != 0 and config["env.accelerator"] != "cpu"
    return "cuda:0" if use_gpu else "cpu"


def eval_batch_size(config) -> int:
    """env.per_gpu_batch_size * env.eval_batch_size_ratio: the batch size of validation and prediction."""
    return config["env.per_gpu_batch_size"] * config["env.eval_batch_size_ratio"]


SMALL_BATCH_ROWS = 16
RETRY_EVERY = 16
LONGEST_WAIT = 512


class ThreadChooser:
    """How many torch threads a prediction of a few rows on the CPU uses: one, or all of them, whichever has been
    faster lately for batches of that size. Measured on 2 cores (benchmarks/bench_latency.py), neither wins
    always: one row of MiniLM-L6 text takes 15 ms with two threads and 25 ms with one on an idle machine, but
    24 ms with one and 39 ms with two (p95 38 against 180) while another process keeps a core busy. So both are
    timed, the faster is used, and now and then the other is tried, which notices a change of load. The first
    retry comes after RETRY_EVERY calls; each retry that loses doubles the wait (up to LONGEST_WAIT), so that on a
    steady machine the slow trials stay well under the slowest 5% of calls; a retry that wins starts over."""

    def __init__(self):
        self.seconds: dict = {}           # (size bucket, threads) -> recent average
        self.wait: dict = {}              # size bucket -> calls between retries of the losing setting
        self.since_retry: dict = {}       # size bucket -> calls since the last retry
        self.retrying = None              # (size bucket, threads) of a retry under way

    def choose(self, rows: int) -> int | None:
        """Threads for a batch of `rows`, or None to leave torch's setting alone."""
        available = torch.get_num_threads()
        if rows > SMALL_BATCH_ROWS or available == 1:
            return None
        bucket = rows.bit_length()
        options = (1, available)
        untried = [threads for threads in options if (bucket, threads) not in self.seconds]
        if untried:
            return untried[0]
        best = min(options, key=lambda threads: self.seconds[(bucket, threads)])
        self.since_retry[bucket] = self.since_retry.get(bucket, 0) + 1
        if self.since_retry[bucket] >= self.wait.get(bucket, RETRY_EVERY):
            self.since_retry[bucket] = 0
            other = options[1] if best == options[0] else options[0]
            self.retrying = (bucket, other)
            return other
        return best

    def record(self, rows: int, threads: int, seconds: float):
        key = (rows.bit_length(), threads)
        previous = self.seconds.get(key)
        self.seconds[key] = seconds if previous is None else 0.7 * previous + 0.3 * seconds
        if self.retrying == key:
            self.retrying = None
            bucket, rivals = key[0], [k for k in self.seconds if k[0] == key[0] and k != key]
            won = all(self.seconds[key] < self.seconds[rival] for rival in rivals)
            self.wait[bucket] = RETRY_EVERY if won else min(2 * self.wait.get(bucket, RETRY_EVERY), LONGEST_WAIT)


@contextmanager
def threads_for(chooser: "ThreadChooser | None", rows: int):
    """Run a prediction of `rows` rows with the chooser's thread count, and tell it how long it took."""
    threads = chooser.choose(rows) if chooser is not None else None
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    started = time.perf_counter()
    try:
        yield
    finally:
        chooser.record(rows, threads, time.perf_counter() - started)
        torch.set_num_threads(before)


def network_dtype(net) -> torch.dtype:
    """The dtype of the network's floating-point weights (env.precision 64, bf16-true and 16-true change it):
    floating inputs are cast to it."""
    return next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.float32)


class FittedModel:
    """Everything prediction needs: processors, network, and how to batch."""

    def __init__(self, net, pipeline: FeaturePipeline, label_processor: LabelProcessor, problem_type: str,
                 batch_size: int, num_workers: int = 0):
        self.net = net.eval()
        self.pipeline, self.label_processor = pipeline, label_processor
        self.problem_type = problem_type
        self.batch_size, self.num_workers = batch_size, num_workers
        self.device = next(net.parameters()).device
        self.dtype = network_dtype(net)
        self.threads = ThreadChooser()
        self.fast_net = None        # an int8 copy for CPU prediction (quantize.optimize_for_inference)

    @classmethod
    def from_config(cls, net, pipeline: FeaturePipeline, label_processor: LabelProcessor, problem_type: str,
                    config) -> "FittedModel":
        return cls(net, pipeline, label_processor, problem_type, eval_batch_size(config),
                   config["env.num_workers_evaluation"])

    def to(self, device) -> "FittedModel":
        self.net.to(device)
        self.device = torch.device(device)
        self.dtype = network_dtype(self.net)
        return self

    def _run(self, features: dict, fn) -> torch.Tensor:
        n = len(next(iter(features.values())))
        collators = self.pipeline.collators
        lengths = self.pipeline.lengths(features)
        order = np.argsort(lengths, kind="stable") if lengths is not None else None  # less padding per batch
        if n <= self.batch_size:
            batches = [BatchDataset(features, collators)[np.arange(n) if order is None else order]]
        else:
            # env.num_workers_evaluation as saved: fit chooses 0 for features already in memory unless set
            batches = make_loader(features, self.batch_size, num_workers=self.num_workers, collators=collators,
                                  order=order)
        outputs = []
        if self.net.training:   # e.g. after further training; eval() walks every module, so not on each call
            self.net.eval()
        with torch.inference_mode(), threads_for(self.threads if self.device.type == "cpu" else None, n):
            for batch in batches:
                batch = {k: v.to(self.device, dtype=self.dtype if v.is_floating_point() else None,
                                 non_blocking=True) for k, v in batch.items()}
                outputs.append(fn(batch).float().cpu())
        result = torch.cat(outputs)
        if order is not None:
            result = result[torch.from_numpy(np.argsort(order, kind="stable"))]
        return result

    @property
    def predicting_net(self):
        return self.fast_net if self.fast_net is not None and self.device.type == "cpu" else self.net

    def logits_from_arrays(self, arrays: dict) -> torch.Tensor:
        return self._run(arrays, self.predicting_net)

    def logits(self, frame: pd.DataFrame) -> torch.Tensor:
        return self.logits_from_arrays(self.pipeline.transform(frame, "prediction data"))

    def outputs(self, frame: pd.DataFrame) -> np.ndarray:
        return outputs_from_logits(self.logits(frame), self.problem_type, self.label_processor)

    def embeddings(self, frame: pd.DataFrame) -> np.ndarray:
        return self._run(self.pipeline.transform(frame, "prediction data"), self.predicting_net.features).numpy()
