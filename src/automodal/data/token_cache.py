"""A store of tokenised texts: text -> token ids under one tokenizer, so that fits and predictions skip the
tokenizer for texts it has seen. It is a memo, keyed by a fingerprint of the tokenizer (its full serialised
vocabulary and rules): a text it does not hold is tokenised as usual, and a changed tokenizer finds no store."""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager

import numpy as np

_ACTIVE: dict = {}          # tokenizer fingerprint -> TokenStore


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything that decides the tokenizer's output (computed once per tokenizer object)."""
    known = getattr(tokenizer, "_automodal_fingerprint", None)
    if known is not None:
        return known
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode())
    else:
        digest.update(repr(sorted(tokenizer.get_vocab().items())).encode())
    fingerprint = digest.hexdigest()[:16]
    try:
        tokenizer._automodal_fingerprint = fingerprint
    except AttributeError:
        pass
    return fingerprint


class TokenStore:
    def __init__(self, path: str):
        import pandas as pd

        table = pd.read_parquet(path)
        self.path = path
        self.ids = dict(zip(table["text"], table["ids"]))

    def lookup(self, texts: list) -> tuple[list, list]:
        """(ids or None per text, positions of the texts the store lacks)."""
        found = [self.ids.get(t) for t in texts]
        return found, [i for i, ids in enumerate(found) if ids is None]

    @staticmethod
    def build(path: str, tokenizer, texts: list) -> "TokenStore":
        import pandas as pd

        unique = sorted(set(texts))
        ids = tokenizer(unique, add_special_tokens=False, truncation=False)["input_ids"] if unique else []
        temporary = f"{path}.tmp-{os.getpid()}"
        pd.DataFrame({"text": unique, "ids": [np.asarray(i, dtype=np.int32) for i in ids]}).to_parquet(
            temporary, index=False)
        os.replace(temporary, path)
        return TokenStore(path)


def tokenize(tokenizer, texts: list) -> list:
    """The tokenizer's ids of each text (no special tokens, no truncation), from the active store where it
    holds them."""
    store = _ACTIVE.get(tokenizer_fingerprint(tokenizer)) if _ACTIVE else None
    if store is None:
        return tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
    found, missing = store.lookup(texts)
    if missing:
        fresh = tokenizer([texts[i] for i in missing], add_special_tokens=False, truncation=False)["input_ids"]
        for position, ids in zip(missing, fresh):
            found[position] = ids
    return found


@contextmanager
def active(stores: dict):
    """{fingerprint: TokenStore} consulted by tokenize() inside this block."""
    global _ACTIVE
    previous, _ACTIVE = _ACTIVE, dict(stores)
    try:
        yield
    finally:
        _ACTIVE = previous
