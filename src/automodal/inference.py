"""Prediction without a Trainer: the fitted model stays in memory and runs in a torch.inference_mode() loop."""

from __future__ import annotations

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
        with torch.inference_mode():
            for batch in batches:
                batch = {k: v.to(self.device, dtype=self.dtype if v.is_floating_point() else None,
                                 non_blocking=True) for k, v in batch.items()}
                outputs.append(fn(batch).float().cpu())
        result = torch.cat(outputs)
        if order is not None:
            result = result[torch.from_numpy(np.argsort(order, kind="stable"))]
        return result

    def logits_from_arrays(self, arrays: dict) -> torch.Tensor:
        return self._run(arrays, self.net)

    def logits(self, frame: pd.DataFrame) -> torch.Tensor:
        return self.logits_from_arrays(self.pipeline.transform(frame, "prediction data"))

    def outputs(self, frame: pd.DataFrame) -> np.ndarray:
        return outputs_from_logits(self.logits(frame), self.problem_type, self.label_processor)

    def embeddings(self, frame: pd.DataFrame) -> np.ndarray:
        return self._run(self.pipeline.transform(frame, "prediction data"), self.net.features).numpy()
