import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from automodal import MultiModalPredictor
from automodal.errors import CheckpointNotFoundError, ConfigError
from automodal.models.hf_text import HFTextBackbone, padding_mask
from checkpoints import build_text_checkpoint
from conftest import fast
from text_helpers import review



def reviews(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, size=n)
    texts = [review(rng, bool(y)) for y in label]
    return pd.DataFrame({"review": texts, "price": rng.normal(size=n), "label": np.where(label, "pos", "neg")})


TEXT = {"optimization.learning_rate": 3e-3, "optimization.max_epochs": 8, "model.hf_text.max_text_len": 32}


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return build_text_checkpoint(str(tmp_path_factory.mktemp("bert")))


@pytest.fixture(scope="module")
def text_fit(bert_dir, offline, tmp_path_factory):
    train, test = reviews(400, 0), reviews(150, 1)
    predictor = MultiModalPredictor(label="label", path=str(tmp_path_factory.mktemp("text") / "model"))
    predictor.fit(train[["review", "label"]], hyperparameters=fast(**TEXT, **{"model.hf_text.checkpoint_name": bert_dir}))
    return predictor, test


def checkpointing(model) -> bool:
    flag = getattr(model, "is_activation_checkpointing", None)
    return model.is_gradient_checkpointing if flag is None else flag


def test_text_only_fit_beats_the_trivial_baseline(text_fit):
    predictor, test = text_fit
    assert predictor.column_types == {"review": "text"}
    assert predictor.fit_summary()["models"] == ["hf_text"]
    assert predictor.evaluate(test, "accuracy")["accuracy"] > 0.8     # classes are balanced: baseline ~0.5


def test_saved_text_predictor_loads_offline_without_the_original_checkpoint(text_fit, tmp_path):
    predictor, test = text_fit
    copy = tmp_path / "copy"
    shutil.copytree(predictor.path, copy)
    assert {"config.json", "tokenizer.json"} <= set(os.listdir(copy / "hf_text"))
    assert not any(name.endswith((".bin", ".pkl")) for name in os.listdir(copy / "hf_text"))
    loaded = MultiModalPredictor.load(str(copy))
    shutil.move(copy, tmp_path / "moved")           # everything prediction and saving need was read at load
    np.testing.assert_array_equal(loaded.predict_proba(test).to_numpy(), predictor.predict_proba(test).to_numpy())
    loaded.save(str(tmp_path / "resaved"))
    np.testing.assert_array_equal(MultiModalPredictor.load(str(tmp_path / "resaved")).predict_proba(test).to_numpy(),
                                  predictor.predict_proba(test).to_numpy())
    # prediction sorts rows by length and must hand results back in the caller's order
    shuffled = test.sample(frac=1.0, random_state=3)
    np.testing.assert_allclose(loaded.predict_proba(shuffled).loc[test.index].to_numpy(),
                               predictor.predict_proba(test).to_numpy(), atol=1e-6)


def test_text_and_tabular_fuse(bert_dir, offline, tmp_path):
    train, test = reviews(300, 2), reviews(100, 3)
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"))
    predictor.fit(train, hyperparameters=fast(**TEXT, **{"model.hf_text.checkpoint_name": bert_dir,
                                                         "model.hf_text.pooling_mode": "mean",
                                                         "model.hf_text.gradient_checkpointing": True}))
    assert predictor.fit_summary()["models"] == ["hf_text", "numerical_mlp", "fusion_mlp"]
    assert predictor.evaluate(test, "accuracy")["accuracy"] > 0.75
    assert predictor.extract_embedding(test).shape == (len(test), 128)
    backbone = predictor._learner.model.net.backbones["hf_text"]
    assert backbone.pooling_mode == "mean" and checkpointing(backbone.model)


def test_default_pooling_is_cls_without_checkpointing_and_hf_text_alone_embeds_its_hidden_size(text_fit):
    predictor, test = text_fit
    backbone = predictor._learner.model.net.backbones["hf_text"]
    assert backbone.pooling_mode == "cls" and not checkpointing(backbone.model)
    assert predictor.extract_embedding(test.head(7)).shape == (7, 32)


def test_pooling_modes_give_different_features(bert_dir):
    batch = {"hf_text.input_ids": torch.tensor([[2, 10, 11, 3, 0]]), "hf_text.attention_mask": torch.tensor([[1, 1, 1, 1, 0]]),
             "hf_text.token_type_ids": torch.zeros(1, 5, dtype=torch.long)}
    cls = HFTextBackbone("hf_text", bert_dir, True, "cls", False).eval()
    mean = HFTextBackbone("hf_text", bert_dir, True, "mean", False).eval()
    with torch.no_grad():
        hidden = cls.model(input_ids=batch["hf_text.input_ids"], attention_mask=batch["hf_text.attention_mask"]).last_hidden_state
        torch.testing.assert_close(cls(batch), hidden[:, 0])
        torch.testing.assert_close(mean(batch), hidden[:, :4].mean(dim=1))   # the padding token is left out
    assert not torch.allclose(cls(batch), mean(batch))


def test_a_row_gets_the_same_feature_alone_and_padded_in_a_batch(bert_dir):
    """Unpadded CPU batches skip the attention mask (a faster kernel); padded ones must keep it."""
    assert padding_mask(torch.ones(2, 3, dtype=torch.long)) is None
    assert padding_mask(torch.tensor([[1, 1, 0]])) is not None
    padded = {"hf_text.input_ids": torch.tensor([[2, 10, 11, 3, 0], [2, 12, 13, 14, 3]]),
              "hf_text.attention_mask": torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]),
              "hf_text.token_type_ids": torch.zeros(2, 5, dtype=torch.long)}
    alone = {k: v[:1, :4] for k, v in padded.items()}
    for pooling in ("cls", "mean"):
        backbone = HFTextBackbone("hf_text", bert_dir, True, pooling, False).eval()
        with torch.no_grad():
            torch.testing.assert_close(backbone(alone), backbone(padded)[:1])


def test_gradient_checkpointing_is_switched_on(bert_dir):
    assert checkpointing(HFTextBackbone("hf_text", bert_dir, True, "cls", True).model)
    assert not checkpointing(HFTextBackbone("hf_text", bert_dir, True, "cls", False).model)


def test_layer_groups_run_from_embeddings_through_each_layer_to_the_pooler(bert_dir):
    backbone = HFTextBackbone("hf_text", bert_dir, True, "cls", False)
    names = {id(p): n for n, p in backbone.model.named_parameters()}
    groups = [[names[id(p)] for p in group] for group in backbone.layer_groups()]
    assert len(groups) == 4
    assert all("embeddings" in n for n in groups[0])
    assert all(".layer.0." in n for n in groups[1]) and all(".layer.1." in n for n in groups[2])
    assert all("pooler" in n for n in groups[3])


def test_electra_with_its_tokenizer(tmp_path, offline):
    electra = build_text_checkpoint(str(tmp_path / "electra"), kind="electra")
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"))
    predictor.fit(reviews(200, 4)[["review", "label"]], hyperparameters=fast(**{
        **TEXT, "model.hf_text.checkpoint_name": electra, "model.hf_text.tokenizer_name": "electra",
        "optimization.max_epochs": 1}))
    import transformers

    processor = predictor._learner.model.pipeline.processors["hf_text"]
    assert processor.tokenizer_name == "electra"
    assert isinstance(processor.tokenizer, transformers.ElectraTokenizerFast)


def test_categorical_columns_join_the_text_when_convert_to_text(bert_dir, offline, tmp_path):
    frame = reviews(200, 5).assign(shop=lambda f: np.where(f.index % 2, "north", "south"))
    converted = MultiModalPredictor(label="label", path=str(tmp_path / "a"))
    converted.fit(frame, hyperparameters=fast(**{**TEXT, "model.hf_text.checkpoint_name": bert_dir,
                                                 "optimization.max_epochs": 1}))
    assert converted.column_types["shop"] == "text"
    assert "categorical_mlp" not in converted.fit_summary()["models"]
    kept = MultiModalPredictor(label="label", path=str(tmp_path / "b"))
    kept.fit(frame, hyperparameters=fast(**{**TEXT, "model.hf_text.checkpoint_name": bert_dir,
                                            "optimization.max_epochs": 1, "data.categorical.convert_to_text": False}))
    assert kept.column_types["shop"] == "categorical"
    assert "categorical_mlp" in kept.fit_summary()["models"]


def test_numerical_columns_join_the_text_when_convert_to_text(bert_dir, offline, tmp_path):
    frame = reviews(200, 6)
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"))
    predictor.fit(frame, hyperparameters=fast(**{**TEXT, "model.hf_text.checkpoint_name": bert_dir,
                                                 "optimization.max_epochs": 1,
                                                 "data.numerical.convert_to_text": True}))
    assert predictor.column_types == {"review": "text", "price": "text"}
    assert predictor.fit_summary()["models"] == ["hf_text"]
    processor = predictor._learner.model.pipeline.processors["hf_text"]
    row = frame.head(1)
    ids = processor.features(row)[f"hf_text.ids.{processor.columns.index('price')}"][0].tolist()
    price = np.format_float_positional(row["price"].iloc[0], precision=6, fractional=False, trim="-")
    assert ids == processor.tokenizer(price, add_special_tokens=False)["input_ids"]


def test_missing_checkpoint_offline_names_it_and_says_how_to_provide_it(offline, tmp_path):
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"))
    with pytest.raises(CheckpointNotFoundError, match="no-such-org/no-such-model.*huggingface-cli download"):
        predictor.fit(reviews(50, 6)[["review", "label"]],
                      hyperparameters=fast(**{"model.hf_text.checkpoint_name": "no-such-org/no-such-model"}))
    with pytest.raises(CheckpointNotFoundError, match="does not exist") as info:
        predictor.fit(reviews(50, 6)[["review", "label"]],
                      hyperparameters=fast(**{"model.hf_text.checkpoint_name": str(tmp_path / "missing" / "dir")}))
    assert "huggingface-cli" not in str(info.value) and "working directory" in str(info.value)


def test_a_directory_that_is_not_a_transformers_checkpoint_is_refused_with_the_key(tmp_path, offline):
    from image_helpers import save_tiny_checkpoint

    timm_dir = save_tiny_checkpoint(tmp_path / "timm")
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"))
    with pytest.raises(ConfigError, match="model.hf_text.checkpoint_name: .* is not a Hugging Face transformers"):
        predictor.fit(reviews(50, 6)[["review", "label"]],
                      hyperparameters=fast(**{"model.hf_text.checkpoint_name": timm_dir}))
