"""CutMix: the pasted area matches lam, targets mix to a distribution, uniform sampling reaches the edges, the loss
interpolation is exact, batches of any shape are read and written, and it works inside a plain Lightning Trainer."""

from collections import namedtuple

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from automodal import CutMix
from automodal.errors import ConfigError
from automodal.training.cutmix import sample_box


def numbered_images(rows=8, height=12, width=10):
    """Row i is filled with the value i, so every pixel tells which row it came from."""
    return torch.arange(rows, dtype=torch.float32).view(rows, 1, 1, 1).expand(rows, 3, height, width).clone()


@pytest.mark.parametrize("uniform", [False, True])
def test_pasted_area_is_one_minus_lam(uniform):
    cutmix = CutMix(alpha=1.0, uniform_sampling=uniform, seed=0)
    images = numbered_images()
    for _ in range(50):
        mixed, _ = cutmix((images, torch.zeros(8, 3)))
        perm = cutmix.permutation
        for i in range(8):
            if perm[i] == i:
                continue
            pasted = (mixed[i, 0] == perm[i]).sum().item() / mixed[i, 0].numel()
            assert pasted == pytest.approx(1 - cutmix.lam, abs=1e-9)
            # what is not pasted is the row's own image
            assert bool(((mixed[i, 0] == perm[i]) | (mixed[i, 0] == i)).all())


def test_integer_targets_mix_to_distributions():
    cutmix = CutMix(alpha=0.5, num_classes=4, seed=1)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    _, targets = cutmix((numbered_images(), labels))
    assert targets.shape == (8, 4)
    torch.testing.assert_close(targets.sum(dim=1), torch.ones(8))
    expected = cutmix.lam * F.one_hot(labels, 4) + (1 - cutmix.lam) * F.one_hot(labels[cutmix.permutation], 4)
    torch.testing.assert_close(targets, expected.float())


def test_integer_targets_without_num_classes_say_what_to_pass():
    with pytest.raises(ConfigError, match="num_classes"):
        CutMix(seed=0)((numbered_images(), torch.tensor([0, 1] * 4)))


def cut_frequency(uniform: bool, draws=4000, size=16) -> np.ndarray:
    rng = np.random.default_rng(0)
    counts = np.zeros((size, size))
    for lam in rng.beta(1.0, 1.0, size=draws):
        top, bottom, left, right = sample_box(float(lam), size, size, uniform, rng)
        counts[top:bottom, left:right] += 1
    return counts / draws


def test_uniform_sampling_cuts_edge_pixels_as_often_as_centre_pixels():
    uniform, paper = cut_frequency(True), cut_frequency(False)
    corner, centre = (0, 0), (8, 8)
    assert abs(uniform[corner] - uniform[centre]) < 0.03
    assert uniform.std() < 0.02
    assert paper[corner] < 0.5 * paper[centre]          # the paper's sampling rarely reaches the corners


def test_interpolate_loss_is_the_interpolation_of_two_losses():
    cutmix = CutMix(alpha=1.0, interpolate_loss=True, seed=3)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    images, kept = cutmix((numbered_images(), labels))
    assert kept is labels                                # the targets are not mixed
    assert not torch.equal(images, numbered_images()) or cutmix.lam == 1.0
    logits = torch.randn(8, 3)
    expected = (cutmix.lam * F.cross_entropy(logits, labels)
                + (1 - cutmix.lam) * F.cross_entropy(logits, labels[cutmix.permutation]))
    torch.testing.assert_close(cutmix.loss(F.cross_entropy, logits, labels), expected)


Batch = namedtuple("Batch", ["x", "y"])


@pytest.mark.parametrize("make, input_key, target_key, get", [
    (lambda x, y: {"image": x, "label": y}, "image", "label", lambda b: (b["image"], b["label"])),
    (lambda x, y: [y, x], 1, 0, lambda b: (b[1], b[0])),
    (lambda x, y: Batch(x, y), 0, 1, lambda b: (b.x, b.y)),
    (lambda x, y: {"nested": (x, y)},
     (lambda b: b["nested"][0], lambda b, v: {"nested": (v, b["nested"][1])}),
     (lambda b: b["nested"][1], lambda b, v: {"nested": (b["nested"][0], v)}),
     lambda b: b["nested"]),
])
def test_batches_of_any_structure(make, input_key, target_key, get):
    x, y = numbered_images(), torch.nn.functional.one_hot(torch.arange(8) % 2, 2).float()
    batch = make(x, y)
    mixed = CutMix(alpha=1.0, input_key=input_key, target_key=target_key, seed=5)(batch)
    assert type(mixed) is type(batch)
    mixed_x, mixed_y = get(mixed)
    assert mixed_x.shape == x.shape and mixed_y.shape == y.shape
    torch.testing.assert_close(mixed_y.sum(dim=1), torch.ones(8))
    torch.testing.assert_close(get(batch)[0], numbered_images())    # the batch passed in is unchanged


class RecordingModule(pl.LightningModule):
    """A tiny image classifier for tuple batches that records what its steps see."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 12 * 10, 3))
        self.train_targets, self.val_inputs = [], []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.train_targets.append(y)
        logits = self.net(x)
        return F.cross_entropy(logits, y)

    def validation_step(self, batch, batch_idx):
        self.val_inputs.append(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader(rows=16):
    images = numbered_images(rows)
    labels = torch.arange(rows) % 3
    return torch.utils.data.DataLoader(list(zip(images, labels)), batch_size=8)


@pytest.mark.parametrize("interpolate", [False, True])
def test_lightning_callback_mixes_training_batches_only(interpolate, tmp_path):
    module = RecordingModule()
    cutmix = CutMix(alpha=1.0, interpolate_loss=interpolate, num_classes=3, seed=0)
    trainer = pl.Trainer(max_epochs=1, callbacks=[cutmix], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=str(tmp_path), accelerator="cpu")
    trainer.fit(module, loader(), loader())
    if interpolate:    # the step runs once with the targets and once with the permuted targets
        assert len(module.train_targets) == 4
        assert all(t.dtype == torch.long for t in module.train_targets)
    else:
        assert len(module.train_targets) == 2
        assert all(t.shape == (8, 3) and torch.allclose(t.sum(1), torch.ones(8)) for t in module.train_targets)
    assert all(torch.equal(x, numbered_images(16)[:8]) or torch.equal(x, numbered_images(16)[8:])
               for x in module.val_inputs)                      # validation batches are not mixed
    assert "training_step" not in module.__dict__ and "on_after_batch_transfer" not in module.__dict__


def test_alpha_must_be_positive():
    with pytest.raises(ConfigError, match="alpha"):
        CutMix(alpha=0)
