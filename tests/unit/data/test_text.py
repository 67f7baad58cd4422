import logging

import numpy as np
import pandas as pd
import pytest
import torch

from automodal.config import resolve_config
from automodal.data.batches import BucketBatchSampler, make_loader
from automodal.data.text import TextProcessor, normalize_text, render_column
from automodal.data.text_augment import (punctuation_insertion, random_deletion, random_swap, synonym_replacement,
                                         trivial_augment)
from automodal.errors import ConfigError
from checkpoints import build_text_checkpoint


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return build_text_checkpoint(str(tmp_path_factory.mktemp("bert")), max_positions=64)


def processor(bert_dir, frame, columns=("a", "b"), **keys):
    config = resolve_config(hyperparameters={"model.hf_text.checkpoint_name": bert_dir, **keys})
    return TextProcessor("hf_text", {c: "text" for c in columns}, config).fit(frame)


FRAME = pd.DataFrame({"a": ["good dress " * 20, "bad", None], "b": ["the crew", "soft fabric fit", "seat"]})


def collate(proc, frame=FRAME, training=False):
    features = proc.features(frame)
    return proc.collate(features, np.arange(len(frame)), training)


def test_max_text_len_caps_the_tokens_and_nonpositive_means_the_model_maximum(bert_dir):
    assert collate(processor(bert_dir, FRAME, **{"model.hf_text.max_text_len": 12}))["hf_text.input_ids"].shape[1] == 12
    full = processor(bert_dir, FRAME, **{"model.hf_text.max_text_len": -1})
    assert full.max_len == 64                                   # the model's max_position_embeddings
    assert collate(full)["hf_text.input_ids"].shape[1] == 45     # padded to the longest row: 40 + 2 words + 3
    long = pd.DataFrame({"a": ["good " * 100], "b": ["bad"]})
    assert collate(full, long)["hf_text.input_ids"].shape[1] == 64
    assert processor(bert_dir, FRAME, **{"model.hf_text.max_text_len": 1000}).max_len == 64


def test_a_max_text_len_without_room_for_text_is_refused(bert_dir):
    # two columns with insert_sep: [CLS] a [SEP] b [SEP] leaves no token for text below 4
    with pytest.raises(ConfigError, match=r"model.hf_text.max_text_len is 3.*at least 4"):
        processor(bert_dir, FRAME, **{"model.hf_text.max_text_len": 3})
    assert collate(processor(bert_dir, FRAME, **{"model.hf_text.max_text_len": 4}))["hf_text.input_ids"].shape[1] == 4


def test_insert_sep_puts_sep_between_columns_and_segments_follow_columns(bert_dir):
    with_sep = processor(bert_dir, FRAME)
    tok = with_sep.tokenizer
    batch = collate(with_sep)
    row = batch["hf_text.input_ids"][1][batch["hf_text.attention_mask"][1].bool()].tolist()
    assert row[0] == tok.cls_token_id and row.count(tok.sep_token_id) == 2
    assert row == [tok.cls_token_id] + tok("bad", add_special_tokens=False)["input_ids"] + [tok.sep_token_id] \
        + tok("soft fabric fit", add_special_tokens=False)["input_ids"] + [tok.sep_token_id]
    types = batch["hf_text.token_type_ids"][1][: len(row)].tolist()
    assert types == [0, 0, 0] + [1] * (len(row) - 3)              # [CLS] bad [SEP] | column b ...
    no_sep = collate(processor(bert_dir, FRAME, **{"model.hf_text.insert_sep": False}))
    row = no_sep["hf_text.input_ids"][1][no_sep["hf_text.attention_mask"][1].bool()].tolist()
    assert row.count(tok.sep_token_id) == 1 and row[-1] == tok.sep_token_id
    one_segment = collate(processor(bert_dir, FRAME, **{"model.hf_text.text_segment_num": 1}))
    assert one_segment["hf_text.token_type_ids"].max() == 0


def test_truncation_keeps_short_columns_and_cuts_the_longest(bert_dir):
    proc = processor(bert_dir, FRAME, **{"model.hf_text.max_text_len": 16})
    batch = collate(proc)
    row = batch["hf_text.input_ids"][0].tolist()
    b_ids = proc.tokenizer("the crew", add_special_tokens=False)["input_ids"]
    assert row[-len(b_ids) - 1:-1] == b_ids                      # column b whole, column a truncated
    assert proc._allot([100, 3], 10) == [7, 3] and proc._allot([5, 5], 7) in ([4, 3], [3, 4])


def test_stochastic_chunk_samples_a_random_window_only_in_training(bert_dir):
    long = pd.DataFrame({"a": [" ".join(["good", "bad", "soft", "hard", "small", "large"] * 10)]})
    fixed = processor(bert_dir, long, ("a",), **{"model.hf_text.max_text_len": 8})
    random_chunks = processor(bert_dir, long, ("a",), **{"model.hf_text.max_text_len": 8,
                                                        "model.hf_text.stochastic_chunk": True})
    first = {tuple(collate(fixed, long, training=True)["hf_text.input_ids"][0].tolist()) for _ in range(5)}
    assert len(first) == 1
    seen = {tuple(collate(random_chunks, long, training=True)["hf_text.input_ids"][0].tolist()) for _ in range(10)}
    assert len(seen) > 1
    assert len({tuple(collate(random_chunks, long)["hf_text.input_ids"][0].tolist()) for _ in range(3)}) == 1


def test_chunk_draws_follow_torch_seed_so_each_dataloader_worker_draws_its_own(bert_dir):
    long = pd.DataFrame({"a": [" ".join(["good", "bad", "soft", "hard", "small", "large"] * 10)]})
    proc = processor(bert_dir, long, ("a",), **{"model.hf_text.max_text_len": 8,
                                                "model.hf_text.stochastic_chunk": True})

    def draws(seed):
        torch.manual_seed(seed)     # what a DataLoader worker gets: base seed + worker id
        return [collate(proc, long, training=True)["hf_text.input_ids"][0].tolist() for _ in range(6)]

    assert draws(1) == draws(1) and draws(1) != draws(2)


def test_trivial_augmentation_changes_long_texts_in_training_only(bert_dir):
    frame = pd.DataFrame({"a": ["good dress very soft fabric and nice fit so love it", "bad"]})
    proc = processor(bert_dir, frame, ("a",), **{"model.hf_text.text_trivial_aug_maxscale": 0.5,
                                                  "model.hf_text.text_aug_detect_length": 5})
    plain = collate(proc, frame)["hf_text.input_ids"]
    changed_long, changed_short = False, False
    for _ in range(10):
        batch = collate(proc, frame, training=True)["hf_text.input_ids"]
        changed_long |= batch[0].tolist() != plain[0].tolist()
        changed_short |= batch[1][:3].tolist() != plain[1][:3].tolist()
    assert changed_long and not changed_short
    off = processor(bert_dir, frame, ("a",))
    assert collate(off, frame, training=True)["hf_text.input_ids"].tolist() == \
        collate(off, frame)["hf_text.input_ids"].tolist()


def test_the_four_trivial_augmentations():
    rng = np.random.default_rng(0)
    words = "the dress is very good and soft".split()
    assert synonym_replacement(words, 2, rng) != words and len(synonym_replacement(words, 2, rng)) == len(words)
    swapped = random_swap(words, 3, np.random.default_rng(1))
    assert sorted(swapped) == sorted(words) and swapped != words
    assert len(random_deletion(words, 2, rng)) == len(words) - 2
    inserted = punctuation_insertion(words, 2, rng)
    assert len(inserted) == len(words) + 2 and sum(w in ".,;:?!" for w in inserted) == 2
    assert trivial_augment("", 0.5, rng) == ""


def test_text_segment_num_is_capped_by_the_model_token_types(bert_dir):
    frame = pd.DataFrame({"a": ["good"], "b": ["bad"], "c": ["soft"]})
    proc = processor(bert_dir, frame, ("a", "b", "c"), **{"model.hf_text.text_segment_num": 5})
    assert proc.segments == 2                                    # the model has type_vocab_size 2
    batch = collate(proc, frame)
    assert batch["hf_text.token_type_ids"][0].tolist() == [0, 0, 0, 1, 1, 1, 1]   # [CLS] a [SEP] b [SEP] c [SEP]


def test_normalize_text_key_decides_whether_columns_are_normalised(bert_dir):
    frame = pd.DataFrame({"a": ["soft \ufb01t"]})                 # the "fi" ligature: NFKC makes it "fi"
    on = processor(bert_dir, frame, ("a",), **{"data.text.normalize_text": True})
    assert collate(on, frame)["hf_text.input_ids"][0, 1:-1].tolist() == \
        on.tokenizer("soft fit", add_special_tokens=False)["input_ids"]
    off = processor(bert_dir, frame, ("a",))                       # the default: text as given
    assert off.tokenizer.unk_token_id in collate(off, frame)["hf_text.input_ids"][0].tolist()


def test_a_tokenizer_the_model_cannot_embed_is_refused_naming_the_key(bert_dir):
    # the CLIP tokenizer adds start / end tokens beyond the tiny BERT's 130 embeddings
    with pytest.raises(ConfigError, match=r"model.hf_text.tokenizer_name 'clip' gives token id 13\d.*embeds only 130 "
                                          r"ids.*hf_auto"):
        processor(bert_dir, FRAME, **{"model.hf_text.tokenizer_name": "clip"})


def test_text_the_tokenizer_mostly_does_not_know_is_reported(bert_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="automodal"):
        processor(bert_dir, pd.DataFrame({"a": ["\u65e5\u672c\u8a9e \u30c6\u30ad\u30b9\u30c8"] * 3}), ("a",))
    assert "model.hf_text.tokenizer_name 'hf_auto'" in caplog.text and "unknown to the tokenizer" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="automodal"):
        processor(bert_dir, FRAME)
    assert "unknown" not in caplog.text


def test_numbers_render_briefly_in_text():
    values = pd.Series([0.008142180518343508, 3.0, np.nan, 1234567.5, 1234567.0, -2.25, "a", 7, 1e300, 1e-20,
                        np.float32(1e20), -np.inf])
    assert render_column(values, False) == ["0.00814218", "3", "", "1234570", "1234567", "-2.25", "a", "7", "1e+300",
                                            "1e-20", "1e+20", "-inf"]


def test_normalize_text_repairs_wrongly_decoded_utf8():
    assert normalize_text("cafÃ© crÃ¨me") == "café crème"
    assert normalize_text("café") == "café"
    assert normalize_text("ﬁne") == "fine"        # NFKC folds the ligature


def test_buckets_group_similar_lengths_and_cover_every_row():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 500, size=2000)
    bucketed = list(BucketBatchSampler(lengths, 16, seed=0))
    assert sorted(i for b in bucketed for i in b) == list(range(2000))
    padded = sum(len(b) * lengths[b].max() for b in map(np.asarray, bucketed))
    random_batches = np.array_split(rng.permutation(2000), 125)
    padded_random = sum(len(b) * lengths[b].max() for b in random_batches)
    assert padded < 0.7 * padded_random
    assert list(BucketBatchSampler(lengths, 16, seed=0)) == bucketed           # reproducible per seed and epoch


@pytest.mark.parametrize("rows,batches", [(33, [16, 17]), (32, [16, 16]), (34, [2, 16, 16]), (1, [1])])
def test_training_batches_never_hold_a_single_row_when_others_exist(rows, batches):
    sampler = BucketBatchSampler(np.zeros(rows), 16, seed=0)     # equal lengths: a plain shuffle
    drawn = list(sampler)
    assert sorted(len(b) for b in drawn) == batches and len(sampler) == len(drawn)
    assert sorted(i for b in drawn for i in b) == list(range(rows))
    loader = make_loader({"x": np.zeros((rows, 2), dtype=np.float32)}, 16, shuffle=True)   # tabular training
    assert sorted(len(batch["x"]) for batch in loader) == batches


def test_state_round_trip_uses_saved_assets(bert_dir, tmp_path):
    proc = processor(bert_dir, FRAME)
    proc.save_assets(str(tmp_path / "hf_text"))
    restored = TextProcessor.from_dict(proc.to_dict(), str(tmp_path / "hf_text"))
    assert restored.pretrained is False and restored.max_len == proc.max_len
    assert collate(restored)["hf_text.input_ids"].tolist() == collate(proc)["hf_text.input_ids"].tolist()
