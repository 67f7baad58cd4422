"""Running an image-task network over a frame's images: batches from the family's dataset and collate, outputs
and labels image by image. Prediction needs only this; training adds Lightning (image_tasks.fitting)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

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
                num_workers: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed) if training else None
    return DataLoader(learner.dataset(frame, labels, architecture, training), batch_size=batch_size, shuffle=training,
                      num_workers=num_workers, collate_fn=learner.collate, generator=generator,
                      persistent_workers=training and num_workers > 0)


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
