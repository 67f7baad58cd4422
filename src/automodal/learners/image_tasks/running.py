"""Running an image-task network over a frame's images: batches from the family's dataset and collate, outputs
and labels image by image. Prediction needs only this; training adds Lightning (image_tasks.fitting)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from ...data.batches import BucketBatchSampler, ShardedBatches
from ...inference import network_dtype


def to_device(value, device, dtype=None):
    """Tensors, and lists / dicts of them (images of different sizes, per-image targets), moved to device; floating
    ones cast to `dtype` when given (the network's, which env.precision 64 or a "-true" precision changes)."""
    if isinstance(value, torch.Tensor):
        cast = dtype if dtype is not None and value.is_floating_point() else None
        return value.to(device, dtype=cast, non_blocking=True)
    if isinstance(value, dict):
        return {k: to_device(v, device, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device, dtype) for v in value)
    return value


def make_loader(learner, frame: pd.DataFrame, labels: dict, architecture: dict, batch_size: int, training: bool,
                num_workers: int, seed: int = 0, processes: int = 1):
    """With `processes` > 1 (distributed training) batch_size is each process's, and every process takes its
    images of the same global batches (data.batches.ShardedBatches): each image of the tuning set is validated
    once, by one process. Those batches are shuffled from a seed, not a torch.Generator: the loader is pickled into
    the spawned processes, and a Generator's state does not cross into them."""
    dataset = learner.dataset(frame, labels, architecture, training)
    shared = {"num_workers": num_workers, "collate_fn": learner.collate,
              "persistent_workers": training and num_workers > 0}
    if processes == 1:
        generator = torch.Generator().manual_seed(seed) if training else None
        return DataLoader(dataset, batch_size=batch_size, shuffle=training, generator=generator, **shared)
    global_batch = batch_size * processes
    batches = (BucketBatchSampler(np.zeros(len(dataset)), global_batch, seed) if training
               else BatchSampler(SequentialSampler(dataset), global_batch, drop_last=False))
    return DataLoader(dataset, batch_sampler=ShardedBatches(batches, even=training), **shared)


def run_net(learner, net, loader) -> tuple[list, list]:
    """The network's outputs and the batches' labels (None for unlabelled data), image by image."""
    device, dtype = next(net.parameters()).device, network_dtype(net)
    outputs, targets = [], []
    net.eval()
    with torch.inference_mode():
        for batch in loader:
            outputs.extend(learner.predict_batch(net, to_device(batch, device, dtype)))
            labels = batch.get("label")
            targets.extend(labels if labels is not None else [None] * len(batch["image"]))
    return outputs, targets


def embed_images(learner, net, loader) -> np.ndarray:
    """learner.embed_batch over the loader's batches: one vector per image, (images, dim)."""
    device, dtype = next(net.parameters()).device, network_dtype(net)
    rows = []
    net.eval()
    with torch.inference_mode():
        for batch in loader:
            rows.append(learner.embed_batch(net, to_device(batch, device, dtype)).float().cpu())
    return torch.cat(rows).numpy()
