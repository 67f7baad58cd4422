"""Text columns for the built-in hashed_text model: word unigrams and bigrams and character 3- and 4-grams, hashed
into a fixed number of buckets, so nothing is downloaded and nothing is fitted.

Each column is hashed on its own and shifted in bucket space by its position, so a word in one column does not
count as the same word in another. Counts are damped (log1p) and each column's vector is scaled to unit length;
a row is then a short list of (bucket, weight) pairs, which the model sums as an embedding bag.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import torch

from .text import render_column
from .types import TEXT

COLUMN_SHIFT = 7919          # a prime: columns land on different buckets for the same n-gram
INT32_MIN = -2 ** 31
# Text of up to this many characters in all is hashed cell by cell; more goes through the vectorizers' sparse path,
# which costs about 2.5 ms whatever the size and then less per character (2 cores: 16 rows of four short Airbnb
# columns 1.1 ms cell by cell against 2.7 ms; 64 rows of two review columns, 22,000 characters, 25 ms against 18)
ROW_BY_ROW_CHARACTERS = 4000
CACHED_CELLS = 8192          # (text, column) pairs whose buckets a predicting processor keeps


def _vectorizers(num_buckets: int) -> list:
    from sklearn.feature_extraction.text import HashingVectorizer

    common = dict(n_features=num_buckets, alternate_sign=False, norm=None, lowercase=True, dtype=np.float32)
    return [HashingVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", **common),
            HashingVectorizer(analyzer="char_wb", ngram_range=(3, 4), **common)]


def _murmurhash():
    from sklearn.utils import murmurhash3_32    # with the vectorizers: 0.7 s at import, paid only by text models

    return murmurhash3_32


def bucket_matrix(buckets: np.ndarray, weights: np.ndarray, num_buckets: int):
    """The per-row (bucket, weight) lists of HashedTextProcessor.features as a sparse rows x buckets matrix."""
    import scipy.sparse as sp

    indptr = np.concatenate([[0], np.cumsum([len(b) for b in buckets])])
    flat = np.concatenate(list(buckets)) if len(buckets) else np.zeros(0, np.int64)
    values = np.concatenate(list(weights)).astype(np.float64) if len(weights) else np.zeros(0)
    return sp.csr_matrix((values, flat, indptr), shape=(len(buckets), num_buckets))


class HashedTextProcessor:
    def __init__(self, name: str, column_types: dict | None = None, config=None, state: dict | None = None):
        self.name = name
        if state is not None:
            self.columns, self.num_buckets, self.normalize = state["columns"], state["num_buckets"], state["normalize"]
        else:
            self.columns = [c for c, t in column_types.items() if t == TEXT]
            self.num_buckets = config["model.hashed_text.num_buckets"]
            self.normalize = config["data.text.normalize_text"]
        self._vectorizers = _vectorizers(self.num_buckets)
        self._analyzers = [v.build_analyzer() for v in self._vectorizers]
        self._hash = _murmurhash()
        # cells repeat (categories read as text, short phrases): each is hashed once, until the store fills
        self._cells: dict = {}

    def fit(self, frame: pd.DataFrame) -> "HashedTextProcessor":
        return self     # hashing has nothing to learn

    def _column_matrix(self, texts: list, position: int):
        import scipy.sparse as sp

        counts = sp.hstack([v.transform(texts) for v in self._vectorizers]).tocsr()
        counts.data = np.log1p(counts.data)
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        counts = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ counts
        counts = counts.tocsr()
        # both vectorizers share the bucket range; fold the second one's half back onto it, shifted per column
        counts.indices = (counts.indices % self.num_buckets + position * COLUMN_SHIFT) % self.num_buckets
        return counts

    def _bucket(self, ngram: str) -> int:
        """The bucket HashingVectorizer gives an n-gram (sklearn's FeatureHasher: signed MurmurHash3, seed 0)."""
        code = self._hash(ngram)
        if code == INT32_MIN:
            return (2 ** 31 - 1 - (self.num_buckets - 1)) % self.num_buckets
        return abs(code) % self.num_buckets

    def _column_pairs(self, text: str, position: int) -> tuple[np.ndarray, np.ndarray]:
        """One cell's (buckets, weights), the numbers the sparse path gives for it, without its fixed cost."""
        buckets, tallies = [], []
        for analyzer in self._analyzers:
            counts = Counter(map(self._bucket, analyzer(text)))
            ordered = sorted(counts)
            buckets += ordered
            tallies += [counts[bucket] for bucket in ordered]
        values = np.log1p(np.asarray(tallies, dtype=np.float32))
        norm = np.sqrt(np.sum(values.astype(np.float64) ** 2))
        shifted = (np.asarray(buckets, dtype=np.int64) + position * COLUMN_SHIFT) % self.num_buckets
        return shifted, (values / (norm if norm > 0 else 1.0)).astype(np.float32)

    def _cell(self, text: str, position: int) -> tuple[np.ndarray, np.ndarray]:
        pairs = self._cells.get((text, position))
        if pairs is None:
            if len(self._cells) >= CACHED_CELLS:
                self._cells.clear()
            pairs = self._cells[(text, position)] = self._column_pairs(text, position)
        return pairs

    def _row_by_row(self, columns: list, rows: int) -> dict:
        indices = np.empty(rows, dtype=object)
        weights = np.empty(rows, dtype=object)
        for row, texts in enumerate(zip(*columns)):
            pairs = [self._cell(text, position) for position, text in enumerate(texts)]
            indices[row] = np.concatenate([buckets for buckets, _ in pairs])
            weights[row] = np.concatenate([values for _, values in pairs])
        return {f"{self.name}.buckets": indices, f"{self.name}.weights": weights}

    def features(self, frame: pd.DataFrame) -> dict:
        import scipy.sparse as sp

        columns = [render_column(frame[column], self.normalize) for column in self.columns]
        if sum(len(text) for texts in columns for text in texts) <= ROW_BY_ROW_CHARACTERS:
            return self._row_by_row(columns, len(frame))
        matrices = [self._column_matrix(texts, position) for position, texts in enumerate(columns)]
        rows = sp.hstack(matrices).tocsr() if len(matrices) > 1 else matrices[0]
        split = rows.indptr[1:-1]
        indices = np.empty(rows.shape[0], dtype=object)
        weights = np.empty(rows.shape[0], dtype=object)
        indices[:] = np.split((rows.indices % self.num_buckets).astype(np.int64), split)
        weights[:] = np.split(rows.data.astype(np.float32), split)
        return {f"{self.name}.buckets": indices, f"{self.name}.weights": weights}

    def collate(self, features: dict, indices: np.ndarray, training: bool) -> dict:
        buckets = [features[f"{self.name}.buckets"][r] for r in indices]
        weights = [features[f"{self.name}.weights"][r] for r in indices]
        offsets = np.zeros(len(buckets), dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in buckets[:-1]])
        return {f"{self.name}.buckets": torch.from_numpy(np.concatenate(buckets) if buckets else np.zeros(0, np.int64)),
                f"{self.name}.offsets": torch.from_numpy(offsets),
                f"{self.name}.weights": torch.from_numpy(np.concatenate(weights) if weights
                                                         else np.zeros(0, np.float32))}

    def model_inputs(self) -> dict:
        return {self.name: {"num_buckets": self.num_buckets}}

    def to_dict(self) -> dict:
        return {"kind": "hashed_text", "name": self.name, "columns": self.columns, "num_buckets": self.num_buckets,
                "normalize": self.normalize}

    @classmethod
    def from_dict(cls, state: dict, directory: str | None = None) -> "HashedTextProcessor":
        return cls(state["name"], state=state)
