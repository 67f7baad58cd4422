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
