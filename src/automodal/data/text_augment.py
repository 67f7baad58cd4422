"""Trivial text augmentation (model.hf_text.text_trivial_aug_maxscale): one of four word-level operations on a
random fraction of the words. Synonyms come from a small built-in English table, so it works offline."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

PUNCTUATION = (".", ",", ";", ":", "?", "!")


@lru_cache(maxsize=1)
def synonyms() -> dict:
    text = resources.files(__package__).joinpath("synonyms.json").read_text(encoding="utf-8")
    table = {}
    for group in json.loads(text):
        for word in group:
            table[word] = [w for w in group if w != word]
    return table


def synonym_replacement(words: list, count: int, rng) -> list:
    table = synonyms()
    candidates = [i for i, w in enumerate(words) if w.lower() in table]
    words = list(words)
    for i in rng.permutation(candidates)[:count]:
        options = table[words[i].lower()]
        words[i] = options[rng.integers(len(options))]
    return words


def random_swap(words: list, count: int, rng) -> list:
    words = list(words)
    for _ in range(count):
        i, j = rng.integers(len(words), size=2)
        words[i], words[j] = words[j], words[i]
    return words


def random_deletion(words: list, count: int, rng) -> list:
    if len(words) <= 1:
        return list(words)
    drop = set(rng.permutation(len(words))[:min(count, len(words) - 1)].tolist())
    return [w for i, w in enumerate(words) if i not in drop]


def punctuation_insertion(words: list, count: int, rng) -> list:
    words = list(words)
    for _ in range(count):
        words.insert(int(rng.integers(len(words) + 1)), PUNCTUATION[rng.integers(len(PUNCTUATION))])
    return words


OPERATIONS = (synonym_replacement, random_swap, random_deletion, punctuation_insertion)


def trivial_augment(text: str, max_scale: float, rng: np.random.Generator) -> str:
    """Pick one operation and a fraction in [0, max_scale] of the words to apply it to."""
    words = text.split()
    if not words:
        return text
    count = max(1, int(round(rng.uniform(0, max_scale) * len(words))))
    operation = OPERATIONS[rng.integers(len(OPERATIONS))]
    return " ".join(operation(words, count, rng))
