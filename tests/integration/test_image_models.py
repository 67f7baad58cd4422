"""Fits with image columns: image-only and image + numerical models learn, missing images are skipped or zeroed,
and a saved predictor loads offline without the original checkpoint and predicts identically."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torchvision import transforms

from conftest import fast
from image_helpers import bright_dark_frame, save_tiny_checkpoint
from automodal import MultiModalPredictor


def image_keys(checkpoint, **overrides):
    # No trivial_augment: its solarize / equalize / autocontrast would blur the brightness these labels follow.
    return fast(**{"model.names": ["timm_image", "numerical_mlp", "fusion_mlp"],
                   "model.timm_image.checkpoint_name": checkpoint,
                   "model.timm_image.train_transforms": ["resize_shorter_side", "center_crop",
                                                         "random_horizontal_flip"],
                   "env.per_gpu_batch_size": 16, "env.batch_size": 16, "optimization.max_epochs": 3,
                   "optimization.top_k": 1, **overrides})


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("image_fits")


@pytest.fixture(scope="module")
def checkpoint(root):
    return save_tiny_checkpoint(root / "shared_checkpoint")


@pytest.fixture(scope="module")
def frames(root):
    return bright_dark_frame(root / "train", 96, seed=0), bright_dark_frame(root / "test", 40, seed=1)


@pytest.fixture(scope="module")
def image_only(root, frames):
    """Fitted from a checkpoint directory of its own, which the save / load test then moves away."""
    checkpoint = save_tiny_checkpoint(root / "own_checkpoint")
    predictor = MultiModalPredictor(label="label", path=str(root / "image_only"), verbosity=0)
    return predictor.fit(frames[0], hyperparameters=image_keys(checkpoint))


def baseline(labels: pd.Series) -> float:
    return labels.value_counts(normalize=True).max()


def test_image_only_fit_beats_the_majority_baseline(image_only, frames):
    test = frames[1]
    assert image_only.fit_summary()["models"] == ["timm_image"]
    accuracy = image_only.evaluate(test, metrics=["accuracy"])["accuracy"]
    assert accuracy >= 0.85 and accuracy > baseline(test["label"]) + 0.2


def test_image_and_numerical_columns_are_fused(root, checkpoint):
    train = bright_dark_frame(root / "mixed_train", 96, seed=2, numerical=True)
    test = bright_dark_frame(root / "mixed_test", 40, seed=3, numerical=True)
    predictor = MultiModalPredictor(label="label", path=str(root / "mixed"), verbosity=0)
    predictor.fit(train, hyperparameters=image_keys(checkpoint))
    assert predictor.fit_summary()["models"] == ["timm_image", "numerical_mlp", "fusion_mlp"]
    accuracy = predictor.evaluate(test, metrics=["accuracy"])["accuracy"]
    assert accuracy >= 0.8 and accuracy > baseline(test["label"]) + 0.15
    assert predictor.extract_embedding(test).shape == (len(test), 128)   # fusion_mlp.hidden_size


def with_missing_images(frame: pd.DataFrame, root) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[::8, "image"] = str(root / "no_such_image.png")              # 12 absent files
    corrupt = root / "corrupt.png"
    corrupt.write_bytes(b"not an image")
    frame.loc[frame.index[1], "image"] = str(corrupt)                      # and one that PIL cannot open
    return frame


@pytest.mark.parametrize("strategy,kept", [("skip", 96 - 13), ("zero", 96)])
def test_missing_images_are_skipped_or_zeroed(root, frames, checkpoint, strategy, kept):
    train = with_missing_images(frames[0], root)
    keys = image_keys(checkpoint, **{"data.image.missing_value_strategy": strategy, "optimization.max_epochs": 1,
                                     "model.timm_image.train_transforms": [transforms.RandomHorizontalFlip()]})
    predictor = MultiModalPredictor(label="label", path=str(root / f"missing_{strategy}"), verbosity=0)
    summary = predictor.fit(train, hyperparameters=keys).fit_summary()
    assert summary["train_rows"] + summary["tuning_rows"] == kept
    proba = predictor.predict_proba(train.head(9))                          # prediction keeps every row
    assert len(proba) == 9 and np.isfinite(proba.to_numpy()).all()
    with open(os.path.join(predictor.path, "config.yaml"), encoding="utf-8") as f:  # objects saved by repr
        saved = yaml.safe_load(f)["model"]["timm_image"]["train_transforms"]
    assert saved == ["RandomHorizontalFlip(p=0.5)"]


def test_saved_predictor_loads_offline_without_its_checkpoint(image_only, frames, root, monkeypatch):
    test = frames[1]
    expected = image_only.predict_proba(test)
    embedding = image_only.extract_embedding(test)
    shutil.move(str(root / "own_checkpoint"), str(root / "moved_away"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = MultiModalPredictor.load(image_only.path)
    pd.testing.assert_frame_equal(loaded.predict_proba(test), expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(loaded.extract_embedding(test), embedding, atol=1e-6)
    assert embedding.shape == (len(test), 64)                                 # test_vit's feature width
    assert (loaded.predict(test) == image_only.predict(test)).all()
    resaved = MultiModalPredictor.load(loaded.save(str(root / "resaved")).path)   # a loaded model saves again
    pd.testing.assert_frame_equal(resaved.predict_proba(test), expected, atol=1e-6, rtol=0)


def test_mixup_trains_on_mixed_images_with_soft_targets(root, frames, checkpoint, monkeypatch):
    from automodal.training import mixup

    calls = []
    original = mixup.soft_cross_entropy
    monkeypatch.setattr("automodal.training.module.soft_cross_entropy",
                        lambda logits, targets: calls.append(targets) or original(logits, targets))
    predictor = MultiModalPredictor(label="label", path=str(root / "mixup"), verbosity=0)
    predictor.fit(frames[0], hyperparameters=image_keys(checkpoint, **{
        "data.mixup.turn_on": True, "data.mixup.turn_off_epoch": 1, "optimization.max_epochs": 2}))
    batches_per_epoch = -(-int(len(frames[0]) * 0.8) // 16)
    assert len(calls) == batches_per_epoch                      # epoch 0 mixes, epoch 1 (turn_off_epoch) does not
    assert all(t.shape[1] == 2 and torch_is_soft(t) for t in calls)


def torch_is_soft(targets) -> bool:
    return bool((targets.max(dim=1).values < 1).all())


@pytest.mark.parametrize("interpolate", [False, True])
def test_cutmix_callback_mixes_image_columns_in_fit(root, frames, checkpoint, monkeypatch, interpolate):
    from automodal import CutMix
    from automodal.training import mixup

    soft, mixed_images = [], []
    original = mixup.soft_cross_entropy
    monkeypatch.setattr("automodal.training.module.soft_cross_entropy",
                        lambda logits, targets: soft.append(targets) or original(logits, targets))
    cutmix = CutMix(alpha=1.0, interpolate_loss=interpolate)
    mix_input = cutmix.mix_input
    monkeypatch.setattr(cutmix, "mix_input", lambda images, box=None: mixed_images.append(images.shape)
                        or mix_input(images, box))
    interpolated = []
    loss = cutmix.loss
    monkeypatch.setattr(cutmix, "loss", lambda *args: interpolated.append(1) or loss(*args))
    predictor = MultiModalPredictor(label="label", path=str(root / f"cutmix{interpolate}"), verbosity=0)
    predictor.fit(frames[0], hyperparameters=image_keys(checkpoint, **{"optimization.max_epochs": 1}),
                  callbacks=[cutmix])
    batches = -(-int(len(frames[0]) * 0.8) // 16)
    assert len(mixed_images) == batches and all(len(shape) == 5 for shape in mixed_images)
    if interpolate:
        assert len(interpolated) == batches and not soft
    else:
        # a row paired with a row of its own class keeps a hard target
        assert len(soft) == batches and all(t.shape[1] == 2 and torch.allclose(t.sum(1), torch.ones(len(t)))
                                            for t in soft)
        assert any(bool((t.max(dim=1).values < 1).any()) for t in soft)
    assert predictor.predict(frames[1]).isin(["bright", "dark"]).all()


def test_cutmix_and_mixup_together_are_refused(root, frames, checkpoint):
    from automodal import CutMix
    from automodal.errors import ConfigError

    predictor = MultiModalPredictor(label="label", path=str(root / "cutmix_mixup"), verbosity=0)
    with pytest.raises(ConfigError, match="data.mixup.turn_on"):
        predictor.fit(frames[0], hyperparameters=image_keys(checkpoint, **{"data.mixup.turn_on": True}),
                      callbacks=[CutMix()])
