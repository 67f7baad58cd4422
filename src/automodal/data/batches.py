"""Batches cut from ready features: one index operation per batch, plus per-batch work (padding text, decoding
images) done by the processors that own those features."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, SequentialSampler


def _writable(array) -> np.ndarray:
    """torch.from_numpy needs a writable, contiguous array (frames may hand out read-only views)."""
    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()


def is_plain(value) -> bool:
    """Plain features are numeric arrays indexed row-wise; anything else belongs to a processor's collate()."""
    return isinstance(value, torch.Tensor) or (isinstance(value, np.ndarray) and value.dtype != object)


class BatchDataset(Dataset):
    """`dataset[list_of_indices]` returns a whole batch as a dict of tensors."""

    def __init__(self, features: dict, collators=(), training: bool = False):
        self.tensors = {k: v if isinstance(v, torch.Tensor) else torch.from_numpy(_writable(v))
                        for k, v in features.items() if is_plain(v)}
        self.features = features
        self.collators = list(collators)
        self.training = training
        self.length = len(next(iter(features.values())))

    def __len__(self):
        return self.length

    def __getitem__(self, indices):
        index = np.asarray(indices, dtype=np.int64)
        rows = torch.from_numpy(index)
        batch = {k: v[rows] for k, v in self.tensors.items()}
        for processor in self.collators:
            batch.update(processor.collate(self.features, index, self.training))
        return batch


class BucketBatchSampler(Sampler):
    """Shuffled batches of similar lengths: shuffle, sort within windows of 50 batches, shuffle the batches.

    Padding is computed per batch, so grouping similar lengths cuts the padded tokens a model processes. With equal
    lengths this is a plain shuffle. A last batch of one row joins the batch before it: BatchNorm cannot train on a
    single row.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int = 0, window: int = 50):
        self.lengths = np.asarray(lengths)
        self.batch_size, self.window = batch_size, window
        self.seed, self.epoch = seed, 0

    def __len__(self):
        count = (len(self.lengths) + self.batch_size - 1) // self.batch_size
        return count - 1 if self._lone_last_row() else count

    def _lone_last_row(self) -> bool:
        return len(self.lengths) > self.batch_size and len(self.lengths) % self.batch_size == 1

    def __iter__(self):
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        order = rng.permutation(len(self.lengths))
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(order), span):
            chunk = order[start:start + span]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        if self._lone_last_row():
            batches[-2:] = [np.concatenate(batches[-2:])]
        for position in rng.permutation(len(batches)):
            yield batches[position].tolist()


def process_rank() -> tuple[int, int]:
    """(rank, world size) of this process in torch.distributed's group; (0, 1) outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ShardedBatches(Sampler):
    """Each process's share of every batch: the inner sampler's batches hold the rows of one step for all
    processes, and process r takes rows r, r + world, ... of each. The rank is read when iterating, inside the
    training processes. Training (`even`) drops a last batch too small to give every process a row, so that all
    processes take the same number of steps; validation keeps every row exactly once."""

    def __init__(self, batches, even: bool):
        self.batches, self.even = batches, even

    def __len__(self):
        rank, world = process_rank()
        if world == 1:
            return len(self.batches)
        return sum(1 for batch in self._shares(rank, world))

    def _shares(self, rank: int, world: int):
        for batch in self.batches:
            if self.even and len(batch) < world:
                continue
            share = list(batch)[rank::world]
            if share:
                yield share

    def __iter__(self):
        rank, world = process_rank()
        if world == 1:
            yield from self.batches
        else:
            yield from self._shares(rank, world)


def make_loader(features: dict, batch_size: int, shuffle: bool = False, num_workers: int = 0, seed: int = 0,
                collators=(), lengths: np.ndarray | None = None, order: np.ndarray | None = None,
                processes: int = 1) -> DataLoader:
    """Training loaders shuffle (by length buckets when `lengths` is given); others follow `order` or row order.
    With `processes` > 1 (distributed training), batch_size is each process's and the batches are sharded."""
    dataset = BatchDataset(features, collators, training=shuffle)
    batch_size *= processes
    if shuffle:
        sampler = BucketBatchSampler(lengths if lengths is not None else np.zeros(len(dataset)), batch_size, seed)
    elif order is not None:
        sampler = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    else:
        sampler = BatchSampler(SequentialSampler(dataset), batch_size, drop_last=False)
    if processes > 1:
        sampler = ShardedBatches(sampler, even=shuffle)
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers,
                      persistent_workers=num_workers > 0 and shuffle)
