"""Tiny random-initialised checkpoints saved to a directory, loaded through the same path a user's takes."""

import os
import re

WORDS = ("good great fine nice love perfect bad awful poor terrible hate broken small large soft hard the a is it "
         "was this dress shirt flight delay crew seat bag fabric color fit size very not really and but so too")


def build_text_checkpoint(directory: str, kind: str = "bert", max_positions: int = 64) -> str:
    """A 2-layer encoder with hidden size 32 and a WordPiece vocabulary of the test words and letters."""
    from transformers import (BertConfig, BertModel, BertTokenizerFast, ElectraConfig, ElectraModel,
                              ElectraTokenizerFast)

    os.makedirs(directory, exist_ok=True)
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?;:'")
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + letters + ["##" + c for c in letters]
             + sorted(set(re.findall(r"[a-z]+", WORDS))))
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab))}   # "a" is a letter and a word
    sizes = dict(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=37, max_position_embeddings=max_positions, type_vocab_size=2)
    if kind == "electra":
        ElectraTokenizerFast(vocab=vocab).save_pretrained(directory)
        ElectraModel(ElectraConfig(embedding_size=32, **sizes)).save_pretrained(directory)
    else:
        BertTokenizerFast(vocab=vocab).save_pretrained(directory)
        BertModel(BertConfig(**sizes)).save_pretrained(directory)
    return directory


def build_clip_checkpoint(directory: str, image_size: int = 32, preprocessor: dict | None = None) -> str:
    """A 2-layer CLIP (both towers of width 32, projection 16) with a byte-level BPE vocabulary: every byte, the
    test words as whole tokens, and CLIP's start / end tokens. `preprocessor` is written as preprocessor_config.json."""
    import json

    from transformers import CLIPConfig, CLIPModel, CLIPTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    os.makedirs(directory, exist_ok=True)
    characters = list(bytes_to_unicode().values())
    vocab, merges = characters + [c + "</w>" for c in characters], []
    for word in sorted(set(WORDS.split())):
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        merged = pieces[0]
        for piece in pieces[1:]:
            merges.append((merged, piece))
            merged += piece
            vocab.append(merged)
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab + ["<|startoftext|>", "<|endoftext|>"]))}
    CLIPTokenizerFast(vocab=vocab, merges=list(dict.fromkeys(merges))).save_pretrained(directory)
    ends = dict(bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                pad_token_id=vocab["<|endoftext|>"])
    tower = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2)
    config = CLIPConfig(text_config=dict(vocab_size=len(vocab), max_position_embeddings=77, **ends, **tower),
                        vision_config=dict(image_size=image_size, patch_size=8, **tower), projection_dim=16)
    CLIPModel(config).save_pretrained(directory)
    if preprocessor is not None:
        with open(os.path.join(directory, "preprocessor_config.json"), "w", encoding="utf-8") as f:
            json.dump(preprocessor, f)
    return directory
