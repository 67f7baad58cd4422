"""Batches cut from ready tensors: one index operation per batch instead of per-sample collation."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler


def _writable(array) -> np.ndarray:
    """torch.from_numpy needs a writable, contiguous array (frames may hand out read-only views)."""
    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()


class TensorBatchDataset(Dataset):
    """`dataset[list_of_indices]` returns a whole batch as a dict of tensors."""

    def __init__(self, arrays: dict):
        self.tensors = {k: v if isinstance(v, torch.Tensor) else torch.from_numpy(_writable(v))
                        for k, v in arrays.items()}
        self.length = len(next(iter(self.tensors.values())))

    def __len__(self):
        return self.length

    def __getitem__(self, indices):
        index = torch.as_tensor(indices)
        return {k: v[index] for k, v in self.tensors.items()}


def make_loader(arrays: dict, batch_size: int, shuffle: bool = False, num_workers: int = 0,
                seed: int = 0, drop_last: bool = False) -> DataLoader:
    dataset = TensorBatchDataset(arrays)
    if shuffle:
        generator = torch.Generator().manual_seed(seed)
        order = RandomSampler(dataset, generator=generator)
    else:
        order = SequentialSampler(dataset)
    sampler = BatchSampler(order, batch_size=batch_size, drop_last=drop_last and len(dataset) > batch_size)
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers,
                      persistent_workers=num_workers > 0)
