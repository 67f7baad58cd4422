"""The clip backbone: a tiny CLIP checkpoint on disk reads image and text columns with its own tokenizer and image
normalisation, fuses with tabular columns, and a saved predictor loads offline without the checkpoint."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision import transforms

from automodal import MultiModalPredictor
from automodal.config import resolve_config
from automodal.data.clip import ClipProcessor
from automodal.errors import CheckpointNotFoundError, ConfigError
from automodal.models.clip import ClipBackbone
from automodal.models.net import text_conversion
from checkpoints import build_clip_checkpoint, build_text_checkpoint
from conftest import fast
from image_helpers import bright_dark_frame, write_image
from text_helpers import review


def image_text_frame(directory, n: int, seed: int) -> pd.DataFrame:
    """label "yes" when brightness, review sentiment and the number x add up above 0: all three matter."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    bright, positive, x = rng.random(n) < 0.5, rng.random(n) < 0.5, rng.normal(size=n)
    photos = [write_image(os.path.join(directory, f"{seed}_{i}.png"), 190 if b else 60, rng)
              for i, b in enumerate(bright)]
    reviews = [review(rng, p, filler_words=(2, 6)) for p in positive]
    score = np.where(bright, 1.5, -1.5) + np.where(positive, 1.5, -1.5) + x
    return pd.DataFrame({"photo": photos, "review": reviews, "x": x, "label": np.where(score > 0, "yes", "no")})


def clip_keys(checkpoint, **overrides):
    return fast(**{"model.names": ["clip", "numerical_mlp", "fusion_mlp"], "model.clip.checkpoint_name": checkpoint,
                   "model.clip.train_transforms": ["resize_shorter_side", "center_crop"],
                   "env.per_gpu_batch_size": 16, "env.batch_size": 16, "optimization.max_epochs": 8,
                   "optimization.top_k": 1, **overrides})


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("clip")


@pytest.fixture(scope="module")
def checkpoint(root):
    return build_clip_checkpoint(str(root / "checkpoint"))


@pytest.fixture(scope="module")
def frames(root):
    return image_text_frame(root / "train", 240, seed=0), image_text_frame(root / "test", 80, seed=1)


@pytest.fixture(scope="module")
def clip_fit(root, frames, offline):
    """Fitted from a checkpoint of its own, which the save / load test then deletes; one training image is broken."""
    checkpoint = build_clip_checkpoint(str(root / "own_checkpoint"))
    train = frames[0].copy()
    train.loc[train.index[0], "photo"] = str(root / "no_such_image.png")
    predictor = MultiModalPredictor(label="label", path=str(root / "predictor"), verbosity=0)
    return predictor.fit(train, hyperparameters=clip_keys(checkpoint)), checkpoint


def test_clip_reads_images_and_text_and_fuses_with_numbers(clip_fit, frames):
    predictor, _ = clip_fit
    test = frames[1]
    summary = predictor.fit_summary()
    assert summary["models"] == ["clip", "numerical_mlp", "fusion_mlp"]
    assert summary["train_rows"] + summary["tuning_rows"] == len(frames[0]) - 1   # the broken image was skipped
    accuracy = predictor.evaluate(test, metrics=["accuracy"])["accuracy"]
    assert accuracy > 0.8 and accuracy > test["label"].value_counts(normalize=True).max() + 0.2
    # extract_embedding: the fused feature of each row
    assert predictor.extract_embedding(test.head(5)).shape == (5, 128)


def test_saved_clip_predictor_loads_offline_without_its_checkpoint(clip_fit, frames, root):
    predictor, checkpoint = clip_fit
    test = frames[1]
    expected = predictor.predict_proba(test).to_numpy()
    shutil.rmtree(checkpoint)
    assert {"config.json", "tokenizer.json"} <= set(os.listdir(os.path.join(predictor.path, "clip")))
    loaded = MultiModalPredictor.load(predictor.path)
    np.testing.assert_array_equal(loaded.predict_proba(test).to_numpy(), expected)


def test_clip_alone_on_images_keeps_only_the_image_tower(root, checkpoint):
    train, test = bright_dark_frame(root / "bd_train", 96, seed=0), bright_dark_frame(root / "bd_test", 40, seed=1)
    predictor = MultiModalPredictor(label="label", path=str(root / "images_only"), verbosity=0)
    predictor.fit(train, hyperparameters=clip_keys(checkpoint, **{"model.names": ["clip"]}))
    assert predictor.fit_summary()["models"] == ["clip"]
    backbone = predictor._learner.require_fitted().net.backbones["clip"]
    assert backbone.vision is not None and backbone.text is None and backbone.out_features == 16
    assert predictor.evaluate(test, metrics=["accuracy"])["accuracy"] > 0.85
    assert predictor.extract_embedding(test.head(3)).shape == (3, 16)    # the projected image embedding


# ---------------------------------------------------------------- the processor: tokenizer and image settings

def processor(checkpoint, columns, **keys):
    config = resolve_config(hyperparameters={"model.clip.checkpoint_name": checkpoint, **keys})
    return ClipProcessor("clip", columns, config)


def test_text_is_one_start_to_end_sequence_capped_by_max_text_len(checkpoint):
    frame = pd.DataFrame({"a": ["good dress " * 60, "bad"], "b": ["nice fit", "poor color"]})
    columns = {"a": "text", "b": "text"}
    fitted = processor(checkpoint, columns).fit(frame)
    tokenizer = fitted.text.tokenizer
    batch = fitted.collate(fitted.features(frame), np.array([0, 1]), training=False)
    ids, mask = batch["clip.input_ids"], batch["clip.attention_mask"]
    assert ids.shape[1] == 77                    # the default max_text_len, the text tower's 77 positions
    short = ids[1, :int(mask[1].sum())].tolist()
    # [start] bad poor color [end]: no end token between the columns (CLIP pools at the first one)
    assert short[0] == tokenizer.bos_token_id and short[-1] == tokenizer.eos_token_id
    assert short.count(tokenizer.eos_token_id) == 1 and len(short) == 5
    capped = processor(checkpoint, columns, **{"model.clip.max_text_len": 12}).fit(frame)
    assert capped.collate(capped.features(frame), np.array([0, 1]), False)["clip.input_ids"].shape[1] == 12
    unbounded = processor(checkpoint, columns, **{"model.clip.max_text_len": -1}).fit(frame)
    assert unbounded.text.max_len == 77


def test_text_features_do_not_depend_on_padding(checkpoint):
    """The text feature is read at each row's end token, so a row batched with a longer one gets the same feature."""
    frame = pd.DataFrame({"review": ["good", "the dress was really very nice and the fit was perfect"]})
    fitted = processor(checkpoint, {"review": "text"}).fit(frame)
    features = fitted.features(frame)
    backbone = ClipBackbone("clip", checkpoint, True, image=False, text=True).eval()
    with torch.no_grad():
        alone = backbone(fitted.collate(features, np.array([0]), False))
        padded = backbone(fitted.collate(features, np.array([0, 1]), False))[:1]
    torch.testing.assert_close(alone, padded)


def test_image_size_mean_std_and_interpolation_come_from_the_checkpoint(root, tmp_path):
    checkpoint = build_clip_checkpoint(str(tmp_path / "clip48"), image_size=48, preprocessor={
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25], "resample": 2})
    path = write_image(tmp_path / "a.png", 128, np.random.default_rng(0))
    frame = pd.DataFrame({"photo": [path]})
    fitted = processor(checkpoint, {"photo": "image_path"}).fit(frame)
    assert fitted.image.data_config == {"input_size": [3, 48, 48], "interpolation": "bilinear",
                                        "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    images = fitted.collate(fitted.features(frame), np.array([0]), False)["clip.images"]
    assert images.shape == (1, 1, 3, 48, 48)
    # a mid-grey image normalised with mean 0.5 and std 0.25 lies near 0
    assert abs(float(images.mean())) < 0.2


def test_clip_transform_keys_apply_their_transforms(checkpoint, tmp_path):
    path = write_image(tmp_path / "a.png", 128, np.random.default_rng(0))
    frame = pd.DataFrame({"photo": [path]})
    calls = {"train": 0, "val": 0}

    def counting(kind):
        def count(image):
            calls[kind] += 1
            return image
        return transforms.Lambda(count)

    fitted = processor(checkpoint, {"photo": "image_path"}, **{
        "model.clip.train_transforms": [counting("train"), "center_crop"],
        "model.clip.val_transforms": [counting("val"), "resize_to_square"]}).fit(frame)
    features = fitted.features(frame)
    fitted.collate(features, np.array([0]), training=True)
    assert calls == {"train": 1, "val": 0}
    fitted.collate(features, np.array([0]), training=False)
    assert calls == {"train": 1, "val": 1}


def test_clip_val_transform_objects_survive_save_and_load(checkpoint, tmp_path):
    path = write_image(tmp_path / "a.png", 128, np.random.default_rng(0))
    frame = pd.DataFrame({"photo": [path]})
    fitted = processor(checkpoint, {"photo": "image_path"}, **{
        "model.clip.val_transforms": [transforms.Grayscale(3), "resize_to_square"]}).fit(frame)
    fitted.save_assets(str(tmp_path / "clip"))
    loaded = ClipProcessor.from_dict(fitted.to_dict(), str(tmp_path / "clip"))
    assert isinstance(loaded.image.val_transforms[0], transforms.Grayscale)
    before = fitted.collate(fitted.features(frame), np.array([0]), False)["clip.images"]
    torch.testing.assert_close(loaded.collate(loaded.features(frame), np.array([0]), False)["clip.images"], before)


def test_categorical_columns_join_clip_text_when_convert_to_text():
    types = {"review": "text", "shop": "categorical", "x": "numerical"}
    config = resolve_config(hyperparameters={"model.names": ["clip", "numerical_mlp", "fusion_mlp"]})
    assert text_conversion(types, config) == {"review": "text", "shop": "text", "x": "numerical"}
    off = resolve_config(hyperparameters={"model.names": ["clip", "categorical_mlp", "fusion_mlp"],
                                          "data.categorical.convert_to_text": False})
    assert text_conversion(types, off) == types


def test_the_offline_text_model_converts_categories_whether_or_not_clip_is_listed():
    types = {"review": "text", "shop": "categorical", "x": "numerical"}
    for names in (["hashed_text", "clip", "categorical_mlp", "fusion_mlp"], ["hashed_text", "categorical_mlp"]):
        config = resolve_config(hyperparameters={"model.names": names})
        assert text_conversion(types, config) == {"review": "text", "shop": "text", "x": "numerical"}, names


def test_layer_groups_align_both_towers_at_the_head(checkpoint):
    backbone = ClipBackbone("clip", checkpoint, True, image=True, text=True)
    names = {id(p): n for n, p in backbone.named_parameters()}
    groups = [[names[id(p)] for p in group] for group in backbone.layer_groups()]
    assert len(groups) == 4                                         # embeddings, layer 0, layer 1, final
    assert any(n.startswith("vision.embeddings") for n in groups[0])
    assert any(n.startswith("text.embeddings") for n in groups[0])
    assert "vision.pre_layrnorm.weight" in groups[0]
    assert {n.split(".")[0] for n in groups[2]} == {"vision", "text"} and all(".layers.1." in n for n in groups[2])
    assert {"visual_projection.weight", "text_projection.weight"} <= set(groups[3])
    assert sum(len(g) for g in groups) == len(names)


# ---------------------------------------------------------------- checkpoints that cannot be used

def test_a_checkpoint_that_is_not_clip_is_refused_with_the_key(tmp_path, offline):
    bert = build_text_checkpoint(str(tmp_path / "bert"))
    with pytest.raises(ConfigError, match=r"model.clip.checkpoint_name.*'bert' checkpoint.*CLIP"):
        processor(bert, {"review": "text"}).fit(pd.DataFrame({"review": ["good"]}))


def test_a_clip_checkpoint_without_tokenizer_files_is_refused_with_the_key(tmp_path):
    directory = build_clip_checkpoint(str(tmp_path / "no_tokenizer"))
    for name in os.listdir(directory):
        if name.startswith(("tokenizer", "vocab", "merges", "special_tokens")):
            os.remove(os.path.join(directory, name))
    with pytest.raises(ConfigError, match=r"model.clip.checkpoint_name: .* has no tokenizer vocabulary"):
        processor(directory, {"review": "text"}).fit(pd.DataFrame({"review": ["good"]}))


def test_a_clip_max_text_len_without_room_for_text_is_refused(checkpoint):
    with pytest.raises(ConfigError, match=r"model.clip.max_text_len is 2.*at least 3"):
        processor(checkpoint, {"review": "text"}, **{"model.clip.max_text_len": 2}).fit(
            pd.DataFrame({"review": ["good"]}))


def test_missing_clip_checkpoint_offline_names_the_key(offline):
    with pytest.raises(CheckpointNotFoundError, match=r"model.clip.checkpoint_name.*no-such-org/clip"):
        processor("no-such-org/clip", {"review": "text"}).fit(pd.DataFrame({"review": ["good"]}))


# ---------------------------------------------------------------- hf_text over CLIP's text tower

def sentiment_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.5
    return pd.DataFrame({"review": [review(rng, p) for p in positive], "label": np.where(positive, "pos", "neg")})


@pytest.mark.parametrize("tower", ["text_only", "full_clip"])
def test_hf_text_reads_text_with_a_clip_text_tower_and_the_clip_tokenizer(root, checkpoint, tower, offline):
    """A CLIP text tower attends causally: cls pooling must read the end token, or every row looks the same."""
    from transformers import AutoTokenizer, CLIPConfig, CLIPTextModel

    directory = checkpoint
    if tower == "text_only":
        directory = str(root / "clip_text")
        CLIPTextModel(CLIPConfig.from_pretrained(checkpoint).text_config).save_pretrained(directory)
        AutoTokenizer.from_pretrained(checkpoint).save_pretrained(directory)
    train, test = sentiment_frame(300, 0), sentiment_frame(100, 1)
    predictor = MultiModalPredictor(label="label", path=str(root / f"hf_text_{tower}"), verbosity=0)
    predictor.fit(train, hyperparameters=fast(**{"model.hf_text.checkpoint_name": directory,
                                                 "model.hf_text.tokenizer_name": "clip",
                                                 "model.hf_text.pooling_mode": "cls"}))
    assert type(predictor._learner.require_fitted().pipeline.processors["hf_text"].tokenizer).__name__ == "CLIPTokenizer"
    assert predictor.evaluate(test, metrics=["accuracy"])["accuracy"] > 0.85
    loaded = MultiModalPredictor.load(predictor.path)
    np.testing.assert_array_equal(loaded.predict_proba(test).to_numpy(), predictor.predict_proba(test).to_numpy())
