"""problem_type="semantic_segmentation": a tiny random SAM learns generated shapes; every model.sam.* key acts."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from automodal import MultiModalPredictor
from automodal.cli.schedulers.transfer import sam_checkpoint
from automodal.cli.workspace import WorkspaceError
from automodal.errors import CheckpointNotFoundError, ConfigError, DataError
from automodal.learners.segmentation.learner import SegmentationLearner
from automodal.demo_scenes import shape_images

FAST = {"env.num_workers": 0, "env.num_workers_evaluation": 0, "optimization.learning_rate": 3e-3}


@pytest.fixture(scope="module")
def checkpoint(sam_checkpoint):
    return sam_checkpoint


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return shape_images(str(root / "train"), 120, seed=0), shape_images(str(root / "test"), 30, seed=1)


def segmenter(checkpoint, path, label="binary_mask", **keys):
    return MultiModalPredictor(problem_type="semantic_segmentation", label=label, path=str(path),
                               hyperparameters=dict(FAST, **{"model.sam.checkpoint_name": checkpoint}, **keys))


@pytest.fixture(scope="module")
def fitted(checkpoint, shapes, tmp_path_factory):
    path = tmp_path_factory.mktemp("segmenter") / "model"
    return segmenter(checkpoint, path, **{"optimization.max_epochs": 8}).fit(shapes[0])


def test_a_tiny_sam_learns_binary_masks_and_reloads_identically(fitted, shapes):
    assert isinstance(fitted._learner, SegmentationLearner) and type(fitted) is MultiModalPredictor
    scores = fitted.evaluate(shapes[1])
    assert scores["iou"] >= 0.9 and scores["dice"] >= 0.9 and scores["sm"] >= 0.85 and scores["ber"] <= 0.05, scores
    assert fitted.class_labels == [0, 255]
    masks = fitted.predict(shapes[1])
    assert isinstance(masks, pd.Series) and masks.iloc[0].shape == (64, 64)
    assert set(np.unique(np.concatenate([m.ravel() for m in masks]))) == {0, 255}
    proba = fitted.predict_proba(shapes[1].head(2), as_multiclass=False)
    assert proba.iloc[0].shape == (64, 64) and 0 <= proba.iloc[0].min() and proba.iloc[0].max() <= 1
    assert fitted.predict_proba(shapes[1].head(2)).iloc[0].shape == (2, 64, 64)
    loaded = MultiModalPredictor.load(fitted.path)
    assert isinstance(loaded._learner, SegmentationLearner)
    for mine, theirs in zip(masks, loaded.predict(shapes[1])):
        assert np.array_equal(mine, theirs)
    summary = loaded.fit_summary()
    # the tiny SAM's encoder has random weights: instead of AutoGluon's LoRA adapters, everything trains (but the
    # prompt encoder and IoU head, which nothing uses without prompts)
    assert summary["chosen_defaults"]["optimization.efficient_finetune"]["value"] is None
    assert not any("lora_" in name for name, _ in loaded._learner.model.named_parameters())
    assert summary["chosen_defaults"]["optimization.lr_schedule"]["value"] == "polynomial_decay"


def test_predicted_masks_have_each_images_own_size(fitted, shapes, tmp_path):
    image = Image.open(shapes[1].image[0]).resize((96, 80), Image.BICUBIC)
    image.save(tmp_path / "wide.png")
    masks = fitted.predict([str(tmp_path / "wide.png"), shapes[1].image[1]])
    assert isinstance(masks, list) and masks[0].shape == (80, 96) and masks[1].shape == (64, 64)
    truth = np.asarray(Image.open(shapes[1].binary_mask[0]).resize((96, 80), Image.NEAREST))
    assert (masks[0] == truth).mean() > 0.95


def test_img_transforms_and_gt_transforms_decide_the_sizes(checkpoint, shapes, tmp_path):
    train = shapes[0].head(12)
    wide = tmp_path / "wide.png"
    Image.open(train.image.iloc[0]).resize((96, 80)).save(wide)
    Image.open(train.binary_mask.iloc[0]).resize((96, 80), Image.NEAREST).save(tmp_path / "wide_mask.png")
    odd = pd.concat([train, pd.DataFrame({"image": [str(wide)], "binary_mask": [str(tmp_path / "wide_mask.png")]})])
    without_resize = segmenter(checkpoint, tmp_path / "a", **{"model.sam.img_transforms": [],
                                                             "optimization.max_epochs": 1})
    with pytest.raises(DataError, match="96x80.*model.sam.img_transforms"):
        without_resize.fit(odd, tuning_data=odd)
    # square 64-pixel images need no resize; masks kept at their own size are compared at that size
    kept = segmenter(checkpoint, tmp_path / "b", **{"model.sam.img_transforms": [], "model.sam.gt_transforms": [],
                                                   "model.sam.train_transforms": [], "optimization.max_epochs": 1})
    kept.fit(train)

    def items(predictor, frame, training):
        learner = predictor._learner
        dataset = learner.dataset(learner.read(frame, "data", True), predictor._learner.labels,
                                  predictor._learner.meta["architecture"], training)
        return [dataset[i] for i in range(len(dataset))]

    # without train transforms, training items are the plain ones
    assert all(torch.equal(a[0], b[0]) for a, b in zip(items(kept, train, training=True),
                                                        items(kept, train, training=False)))
    # without gt_transforms a mask keeps its own size while its image is resized
    own_size = segmenter(checkpoint, tmp_path / "e", **{"model.sam.gt_transforms": [],
                                                       "optimization.max_epochs": 1}).fit(train)
    image, mask, _ = items(own_size, odd, training=False)[-1]
    assert image.shape == (3, 64, 64) and mask.shape == (80, 96)
    with pytest.raises(DataError, match="model.sam.gt_transforms"):
        own_size.evaluate(odd)
    resized = segmenter(checkpoint, tmp_path / "d", **{"optimization.max_epochs": 1}).fit(train)
    torch.manual_seed(0)
    flipped = [torch.equal(a[0].flip(-1), b[0]) and torch.equal(a[1].flip(-1), b[1])
               for a, b in zip(items(resized, odd, training=False), items(resized, odd, training=True))]
    assert 0 < sum(flipped) < len(flipped)      # random_horizontal_flip: image and mask together, about half
    assert items(resized, odd, training=False)[-1][1].shape == (64, 64)     # resize_gt_to_square
    with pytest.raises(ConfigError, match="model.sam.train_transforms.*random_horizontal_flip"):
        segmenter(checkpoint, tmp_path / "c", **{"model.sam.train_transforms": ["random_vertical_flip"]}).fit(train)


def test_ignore_label_pixels_are_no_class(checkpoint, shapes, tmp_path):
    rows = []
    for i, (image, mask) in enumerate(zip(shapes[0].image[:16], shapes[0].binary_mask[:16])):
        values = (np.asarray(Image.open(mask)) > 0).astype(np.uint8)
        values[:, :4] = 7                      # a band of "don't care" pixels
        Image.fromarray(values).save(tmp_path / f"m{i}.png")
        rows.append({"image": image, "label": str(tmp_path / f"m{i}.png")})
    frame = pd.DataFrame(rows)
    predictor = segmenter(checkpoint, tmp_path / "model", label="label",
                          **{"model.sam.ignore_label": 7, "optimization.max_epochs": 1}).fit(frame)
    assert predictor.class_labels == [0, 1]
    assert set(np.unique(predictor.predict(frame.head(2)).iloc[0])) <= {0, 1}
    # with the default ignore_label (255) the band is a class of its own
    plain = segmenter(checkpoint, tmp_path / "plain", label="label", **{"optimization.max_epochs": 1}).fit(frame)
    assert plain.class_labels == [0, 1, 7]


def test_multiclass_masks_get_one_mask_token_per_class(checkpoint, shapes, tmp_path):
    train = shapes[0].head(40)
    predictor = segmenter(checkpoint, tmp_path / "a", label="mask", **{"optimization.max_epochs": 2}).fit(train)
    assert predictor.class_labels == [0, 1, 2]
    tokens = predictor._learner.model.sam.mask_decoder.mask_tokens.weight
    assert tokens.shape[0] == 3
    assert predictor.predict_proba(train.head(1)).iloc[0].shape == (3, 64, 64)
    assert predictor.evaluate(train.head(8), metrics=["iou", "ber"]).keys() == {"iou", "ber"}
    chosen = segmenter(checkpoint, tmp_path / "b", label="mask",
                       **{"model.sam.num_mask_tokens": 5, "optimization.max_epochs": 1}).fit(train)
    assert chosen._learner.model.sam.mask_decoder.mask_tokens.weight.shape[0] == 5
    assert MultiModalPredictor.load(chosen.path)._learner.model.sam.mask_decoder.mask_tokens.weight.shape[0] == 5


def test_efficient_finetune_set_by_the_user_is_respected(checkpoint, shapes, fitted, tmp_path):
    lora = segmenter(checkpoint, tmp_path / "lora", **{"optimization.efficient_finetune": "lora",
                                                      "optimization.max_epochs": 1}).fit(shapes[0].head(12))
    assert any("lora_" in name for name, _ in lora._learner.model.named_parameters())
    assert "optimization.efficient_finetune" not in lora.fit_summary()["chosen_defaults"]
    assert fitted.fit_summary()["trainable_parameters"] > 2 * lora.fit_summary()["trainable_parameters"]
    bitfit = segmenter(checkpoint, tmp_path / "bitfit", **{"optimization.efficient_finetune": "bit_fit",
                                                          "optimization.max_epochs": 1}).fit(shapes[0].head(12))
    assert not any("lora_" in name for name, _ in bitfit._learner.model.named_parameters())
    assert bitfit.fit_summary()["trainable_parameters"] < fitted.fit_summary()["trainable_parameters"]


def test_bad_segmentation_input_gets_clear_errors(fitted, checkpoint, shapes, tmp_path):
    test = shapes[1].head(2)
    small = tmp_path / "small.png"
    Image.open(test.binary_mask.iloc[0]).resize((32, 32)).save(small)
    with pytest.raises(DataError, match="small.png.*32x32.*64x64"):
        fitted.evaluate(test.assign(binary_mask=[str(small), test.binary_mask.iloc[1]]))
    three = tmp_path / "three.png"
    Image.fromarray(np.full((64, 64), 3, np.uint8)).save(three)
    with pytest.raises(DataError, match="three.png.*value"):
        fitted.evaluate(test.assign(binary_mask=[str(three)] * 2))
    with pytest.raises(DataError, match="do not exist.*gone.png"):
        fitted.evaluate(test.assign(binary_mask=[str(tmp_path / "gone.png")] * 2))
    with pytest.raises(DataError, match="no label column 'binary_mask'"):
        fitted.evaluate(test.drop(columns="binary_mask"))


def test_a_named_sam_checkpoint_that_is_unavailable_says_how_to_provide_it(shapes, offline, tmp_path):
    predictor = MultiModalPredictor(problem_type="semantic_segmentation", label="binary_mask",
                                    hyperparameters={"model.sam.checkpoint_name": "facebook/sam-vit-base"})
    with pytest.raises(CheckpointNotFoundError, match="facebook/sam-vit-base.*locally"):
        predictor.fit(shapes[0].head(8), save_path=str(tmp_path / "m"))


def test_without_any_sam_checkpoint_a_unet_sized_from_the_data_learns(offline, tmp_path, caplog):
    train = shape_images(str(tmp_path / "train"), 40, size=32, seed=0)
    test = shape_images(str(tmp_path / "test"), 8, size=32, seed=1)
    predictor = MultiModalPredictor(problem_type="semantic_segmentation", label="binary_mask",
                                    path=str(tmp_path / "model"), hyperparameters={"optimization.max_epochs": 12})
    with caplog.at_level(logging.WARNING, logger="automodal"):
        predictor.fit(train[["image", "binary_mask"]], seed=0)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "facebook/sam-vit-huge" in said[0] and "U-Net" in said[0], said
    chosen = predictor.fit_summary()["chosen_defaults"]
    assert "U-Net" in chosen["segmenter.architecture"]["value"]
    assert chosen["segmenter.input_size"]["value"] == 32 and chosen["segmenter.widths"]["value"] == [16, 32, 64]
    assert chosen["optimization.learning_rate"]["value"] == 1e-2 and "optimization.patience" in chosen
    scores = predictor.evaluate(test[["image", "binary_mask"]])
    foreground = np.mean([np.mean(np.asarray(Image.open(m)) > 0) for m in test.binary_mask])
    assert scores["iou"] > foreground + 0.3, (scores, foreground)      # better than marking every pixel
    masks = predictor.predict(test[["image"]])
    assert masks.iloc[0].shape == (32, 32)
    assert predictor.extract_embedding(test[["image"]]).shape == (8, 64)
    # the saved predictor rebuilds the U-Net without looking for any checkpoint
    loaded = MultiModalPredictor.load(predictor.path)
    for mine, theirs in zip(masks, loaded.predict(test[["image"]])):
        assert np.array_equal(mine, theirs)
    # transfer learning starts from SAM checkpoints only: a U-Net source is refused with what to do instead
    with pytest.raises(WorkspaceError, match="U-Net.*pretrain_task"):
        sam_checkpoint(predictor.path, str(tmp_path / "start"))
