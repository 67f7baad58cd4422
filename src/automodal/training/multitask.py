"""Multitask training: co-tasks whose inputs the pivot's backbones read train heads of their own on the pivot's
shared features. Each step draws one batch from every co-task; the loss is the weighted sum of the pivot's loss
and the co-tasks' losses. Validation, checkpoints and the saved predictor are the pivot's alone."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from ..data.types import REGRESSION


@dataclass
class CoTask:
    name: str
    problem_type: str
    num_outputs: int
    loader: object              # a training DataLoader over the co-task's rows, through the pivot's processors
    weight: float


class CoTaskStreams(nn.Module):
    """The co-tasks' heads (trained with the network) and an endless batch stream per co-task."""

    def __init__(self, co_tasks: list, width: int):
        super().__init__()
        self.co_tasks = co_tasks
        self.heads = nn.ModuleList(nn.Linear(width, task.num_outputs) for task in co_tasks)
        self._iterators = [None] * len(co_tasks)
        self.history = [[] for _ in co_tasks]       # each co-task's loss per step, for the fit summary

    def next_batch(self, index: int) -> dict:
        if self._iterators[index] is None:
            self._iterators[index] = iter(self.co_tasks[index].loader)
        try:
            return next(self._iterators[index])
        except StopIteration:       # a co-task smaller than the pivot starts over
            self._iterators[index] = iter(self.co_tasks[index].loader)
            return next(self._iterators[index])

    def losses(self, net, device) -> list:
        """(weight, loss) of one batch of each co-task."""
        results = []
        for index, task in enumerate(self.co_tasks):
            batch = {k: v.to(device, non_blocking=True) for k, v in self.next_batch(index).items()}
            logits = self.heads[index](net.features(batch))
            if task.problem_type == REGRESSION:
                loss = F.mse_loss(logits[:, 0].float(), batch["label"].float())
            else:
                loss = F.cross_entropy(logits.float(), batch["label"])
            self.history[index].append(float(loss.detach()))
            results.append((task.weight, loss))
        return results

    def summary(self, steps: int = 10) -> list:
        """Per co-task: its weight and its mean loss over the first and the last `steps` steps."""
        return [{"label": task.name, "problem_type": task.problem_type, "weight": task.weight,
                 "first_loss": float(sum(h[:steps]) / max(1, len(h[:steps]))),
                 "last_loss": float(sum(h[-steps:]) / max(1, len(h[-steps:]))), "steps": len(h)}
                for task, h in zip(self.co_tasks, self.history)]

    def __getstate__(self):     # iterators hold worker processes; a copy (ddp_spawn) starts its own
        state = self.__dict__.copy()
        state["_iterators"] = [None] * len(self.co_tasks)
        return state


def check_weights(weights, tasks: int) -> list:
    """task_weights: None (equal) or one non-negative number per task, pivot first, not all zero."""
    if weights is None:
        return [1.0] * tasks
    values = [float(w) for w in weights]
    if len(values) != tasks or any(w < 0 for w in values) or not any(values):
        raise ValueError(f"task_weights must hold {tasks} non-negative numbers (pivot first, then each co-task), "
                         f"not all zero; got {list(weights)}.")
    return values
