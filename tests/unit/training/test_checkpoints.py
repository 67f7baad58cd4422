"""TopKCheckpoints keeps the k best weights on disk under names that never collide."""

import os

import torch
from torch import nn

from automodal.training.checkpoints import INDEX, TopKCheckpoints


def test_repeated_validations_on_one_step_keep_distinct_files(tmp_path):
    """Gradient accumulation with a fractional val_check_interval validates several times per optimizer step."""
    topk = TopKCheckpoints(2, str(tmp_path))
    net = nn.Linear(2, 1)
    for score in (0.5, 0.7, 0.6, 0.9, 0.8):
        topk.offer(score, 1.0, 3, net)
        kept = [entry[2] for entry in topk.entries]
        assert len(set(kept)) == len(kept) and all(os.path.exists(p) for p in kept)
        files = sorted(name for name in os.listdir(tmp_path) if name != INDEX)
        assert files == sorted(os.path.basename(p) for p in kept)
    assert [entry[0] for entry in topk.entries] == [0.9, 0.8]


def test_a_process_that_did_not_train_reads_the_entries_back(tmp_path):
    """ddp_spawn trains in child processes: the parent's callback object never sees their saves."""
    trained = TopKCheckpoints(2, str(tmp_path))
    net = nn.Linear(2, 1)
    for step, score in enumerate((0.5, 0.7, 0.6)):
        trained.offer(score, 1.0 - score, step, net)
    parent = TopKCheckpoints(2, str(tmp_path))
    assert parent.entries == []
    assert parent.reload() == trained.entries


def test_equal_scores_rank_by_lower_loss(tmp_path):
    topk = TopKCheckpoints(2, str(tmp_path))
    net = nn.Linear(2, 1)
    for loss in (0.5, 0.3, 0.4, 0.2):
        with torch.no_grad():
            net.bias.fill_(loss)
        topk.offer(1.0, loss, 1, net)
    assert [entry[3] for entry in topk.entries] == [0.2, 0.3]
