"""Text columns for a Hugging Face backbone: tokenised once per column in batches, assembled and padded per batch.

A row's sequence is [CLS] column_1 [SEP] column_2 [SEP] ... (no SEP between columns when insert_sep is false),
truncated longest-column-first to the maximum length. Column i gets token type id min(i, segments - 1).
"""

from __future__ import annotations

import logging
import unicodedata

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..models.checkpoints import resolve_hf_checkpoint
from .text_augment import trivial_augment
from .token_cache import tokenize
from .types import TEXT

TOKENIZER_CLASSES = {"bert": "BertTokenizerFast", "electra": "ElectraTokenizerFast", "clip": "CLIPTokenizerFast"}
UNBOUNDED = 1_000_000  # tokenizers without a limit report ~1e30 as their maximum length
UNKNOWN_SAMPLE = 200        # training rows whose tokens are checked against the vocabulary at fit
MAX_UNKNOWN_SHARE = 0.2     # more unknown tokens than this suggests a tokenizer that does not match the model

logger = logging.getLogger(__name__)


def normalize_text(text: str) -> str:
    """Repair text decoded with the wrong codec (UTF-8 read as Latin-1, e.g. 'cafÃ©') and unify Unicode forms."""
    try:
        repaired = text.encode("latin-1").decode("utf-8")
        text = repaired
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return unicodedata.normalize("NFKC", text)


def load_tokenizer(directory: str, tokenizer_name: str):
    import transformers

    if tokenizer_name == "hf_auto":
        return transformers.AutoTokenizer.from_pretrained(directory, use_fast=True)
    return getattr(transformers, TOKENIZER_CLASSES[tokenizer_name]).from_pretrained(directory)


class FileTokenizer:
    """A saved fast tokenizer (tokenizer.json) read with the `tokenizers` library alone: the ids and special
    tokens that prediction needs, without transformers (which imports torch)."""

    def __init__(self, directory: str):
        import json
        import os

        from tokenizers import Tokenizer

        self.backend = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
        self.backend.no_truncation()
        self.backend.no_padding()
        special = {}
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            path = os.path.join(directory, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as handle:
                    special.update(json.load(handle))
        for role in ("cls", "sep", "pad", "bos", "eos", "unk"):
            token = special.get(f"{role}_token")
            token = token.get("content") if isinstance(token, dict) else token
            setattr(self, f"{role}_token_id", self.backend.token_to_id(token) if token else None)

    def __call__(self, texts, add_special_tokens: bool = False, truncation: bool = False) -> dict:
        return {"input_ids": [e.ids for e in self.backend.encode_batch(list(texts),
                                                                        add_special_tokens=add_special_tokens)]}


def render_value(value) -> str:
    """A cell as text; numbers briefly (3.0 as "3", 0.008142180518343508 as "0.00814218", 1e300 as "1e+300"), since
    every digit is a token the text model reads: integers whole, others to six significant digits."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        size = abs(value)
        if value.is_integer() and size < 1e15:
            return str(int(value))
        if size >= 1e15 or size < 1e-4:
            return format(float(value), ".6g")
        return np.format_float_positional(value, precision=6, fractional=False, trim="-")
    return str(value)


def render_column(series: pd.Series, normalize: bool) -> list:
    # Plain numpy and a list comprehension: pandas' per-call overhead would dominate one-row predictions.
    values = series.to_numpy(dtype=object)
    missing = pd.isna(values)
    texts = ["" if gone else render_value(value) for value, gone in zip(values, missing)]
    return [normalize_text(t) for t in texts] if normalize else texts


class TextProcessor:
    def __init__(self, name: str, column_types: dict | None = None, config=None, state: dict | None = None,
                 settings: dict | None = None):
        """settings: the model.hf_text.* keys (without prefix) plus normalize_text; read from config when None."""
        self.name = name
        self._tokenizer = None
        self._model_config = None     # the checkpoint's config, held for save_assets
        if state is not None:
            self.__dict__.update({k: v for k, v in state.items() if k != "kind"})
            return
        if settings is None:
            settings = dict(config.group("model.hf_text"), normalize_text=config["data.text.normalize_text"])
        self.columns = [c for c, t in column_types.items() if t == TEXT]
        self.checkpoint_name = settings["checkpoint_name"]
        self.checkpoint_dir = None
        self.pretrained = True
        self.tokenizer_name = settings["tokenizer_name"]
        self.requested_max_len = settings["max_text_len"]
        self.insert_sep = settings["insert_sep"]
        self.requested_segments = settings["text_segment_num"]
        self.stochastic_chunk = settings["stochastic_chunk"]
        self.aug_detect_length = settings["text_aug_detect_length"]
        self.aug_max_scale = settings["text_trivial_aug_maxscale"]
        self.normalize = settings["normalize_text"]

    # ------------------------------------------------------------------ fitting and state
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.checkpoint_dir, self.tokenizer_name)
        return self._tokenizer

    def fit(self, frame: pd.DataFrame, checkpoint_dir: str | None = None,
            group: str = "model.hf_text") -> "TextProcessor":
        """checkpoint_dir: the already resolved checkpoint (a backbone sharing it with other processors); group: the
        keys' prefix, for error messages."""
        from transformers import AutoConfig

        key = f"{group}.checkpoint_name"
        self.checkpoint_dir = checkpoint_dir or resolve_hf_checkpoint(self.checkpoint_name, key)
        try:
            self._model_config = AutoConfig.from_pretrained(self.checkpoint_dir)
            self._tokenizer = load_tokenizer(self.checkpoint_dir, self.tokenizer_name)
        except (OSError, ValueError) as error:
            raise ConfigError(f"{key}: '{self.checkpoint_dir}' is not a Hugging Face transformers checkpoint with a "
                              f"{self.tokenizer_name} tokenizer ({error}). Point {key} at a directory holding "
                              "config.json, the weights and the tokenizer files, as save_pretrained() writes "
                              "them.") from error
        if len(self.tokenizer) <= len(self.tokenizer.all_special_ids):
            raise ConfigError(f"{key}: '{self.checkpoint_dir}' has no tokenizer vocabulary (only special tokens "
                              "were found). Save the tokenizer beside the model (tokenizer.save_pretrained(DIR)), "
                              "or copy its files (tokenizer.json, or vocab.txt / vocab.json and merges.txt) there.")
        model_config = getattr(self._model_config, "text_config", None) or self._model_config   # CLIP: its text
        self._check_vocabulary(frame, model_config, group)
        limits = [getattr(model_config, "max_position_embeddings", None), self.tokenizer.model_max_length]
        model_max = min(v for v in limits if v and v < UNBOUNDED) if any(v and v < UNBOUNDED for v in limits) else 512
        self.max_len = min(self.requested_max_len, model_max) if self.requested_max_len > 0 else model_max
        if self.max_len <= self._special_count():
            raise ConfigError(f"{group}.max_text_len is {self.requested_max_len}, but {self._special_count()} "
                              f"tokens of each sequence are start / separator tokens for {len(self.columns)} text "
                              f"column(s); set it to at least {self._special_count() + 1}.")
        self.segments = max(1, min(self.requested_segments, getattr(model_config, "type_vocab_size", 1) or 1))
        return self

    def _check_vocabulary(self, frame: pd.DataFrame, model_config, group: str):
        """Refuse a tokenizer that gives ids the model cannot embed; warn when it knows few of the training words
        (both signs of a tokenizer_name that does not match the checkpoint)."""
        names = f"{group}.tokenizer_name '{self.tokenizer_name}'"
        tokenizer = self.tokenizer
        sample = frame[self.columns].head(UNKNOWN_SAMPLE)
        tokens = np.asarray([t for c in self.columns for row in self._tokenize(render_column(sample[c], self.normalize))
                             for t in row], dtype=np.int64)
        specials = [tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id,
                    tokenizer.pad_token_id]
        highest = max([int(tokens.max(initial=0))] + [i for i in specials if i is not None])
        embeddable = getattr(model_config, "vocab_size", None)
        if embeddable and highest >= embeddable:
            raise ConfigError(f"{names} gives token id {highest}, but the model of {group}.checkpoint_name "
                              f"('{self.checkpoint_dir}', {getattr(model_config, 'model_type', 'unknown')}) embeds "
                              f"only {embeddable} ids: the tokenizer does not belong to this model. Set "
                              f"{group}.tokenizer_name to 'hf_auto' to use the checkpoint's own tokenizer.")
        share = float(np.mean(tokens == tokenizer.unk_token_id)) if len(tokens) and tokenizer.unk_token_id is not None \
            else 0.0
        if share > MAX_UNKNOWN_SHARE:
            logger.warning("%s: %.0f%% of the training text's tokens are unknown to the tokenizer of '%s'. Check that "
                           "the tokenizer matches the checkpoint ('hf_auto' uses its own).", names, 100 * share,
                           self.checkpoint_dir)

    def model_inputs(self) -> dict:
        return {self.name: {"checkpoint": self.checkpoint_dir, "pretrained": self.pretrained}}

    def save_assets(self, directory: str):
        self.tokenizer.save_pretrained(directory)
        self._model_config.save_pretrained(directory)

    def to_dict(self) -> dict:
        keys = ("columns", "checkpoint_name", "tokenizer_name", "requested_max_len", "max_len", "insert_sep",
                "requested_segments", "segments", "stochastic_chunk", "aug_detect_length", "aug_max_scale",
                "normalize")
        return {"kind": "text", "name": self.name, **{k: getattr(self, k) for k in keys}}

    @classmethod
    def from_dict(cls, state: dict, directory: str | None = None) -> "TextProcessor":
        processor = cls(state["name"], state=state)
        processor.checkpoint_dir = directory     # tokenizer and model config saved beside the predictor
        processor.pretrained = False             # weights come from the predictor's model.safetensors
        # read now: the directory may be moved or saved over before the predictor predicts or is saved again
        from transformers import AutoConfig

        processor._tokenizer = load_tokenizer(directory, processor.tokenizer_name)
        processor._model_config = AutoConfig.from_pretrained(directory)
        return processor

    @classmethod
    def for_onnx(cls, state: dict, directory: str) -> "TextProcessor":
        """The saved processor with its tokenizer read by FileTokenizer: features and batches, no torch."""
        processor = cls(state["name"], state=state)
        processor.checkpoint_dir, processor.pretrained = directory, False
        processor._tokenizer = FileTokenizer(directory)
        return processor

    # ------------------------------------------------------------------ features
    def _tokenize(self, texts: list) -> list:
        return tokenize(self.tokenizer, texts)

    def features(self, frame: pd.DataFrame) -> dict:
        texts = [render_column(frame[column], self.normalize) for column in self.columns]
        # One tokenizer call for every column: the fast tokenizer batches internally, per-call overhead is paid once.
        tokens = self._tokenize([t for column in texts for t in column])
        features = {}
        for i, column_texts in enumerate(texts):
            ids = np.empty(len(column_texts), dtype=object)
            ids[:] = [np.asarray(t, dtype=np.int64) for t in tokens[i * len(frame):(i + 1) * len(frame)]]
            features[f"{self.name}.ids.{i}"] = ids
            if self.aug_max_scale > 0:
                raw = np.empty(len(column_texts), dtype=object)
                raw[:] = column_texts
                features[f"{self.name}.text.{i}"] = raw
        return features

    def _special_count(self) -> int:
        return 1 + (len(self.columns) if self.insert_sep else 1)

    def lengths(self, features: dict) -> np.ndarray:
        total = sum(np.fromiter((len(t) for t in features[f"{self.name}.ids.{i}"]), dtype=np.int64)
                    for i in range(len(self.columns)))
        return np.minimum(total + self._special_count(), self.max_len)

    # ------------------------------------------------------------------ batches
    @staticmethod
    def _batch_rng() -> np.random.Generator:
        """Augmentation and chunk randomness for one training batch, drawn from torch's generator: the fit seed
        decides it, and each DataLoader worker (seeded apart by torch) draws its own."""
        import torch

        return np.random.default_rng(int(torch.randint(0, 2 ** 62, ())))

    def _augmented(self, features: dict, column: int, rows: np.ndarray, ids: list, rng) -> list:
        """Replace the token ids of long-enough texts by those of an augmented copy of the text."""
        picks = [j for j, r in enumerate(rows) if len(ids[j]) >= self.aug_detect_length]
        if not picks:
            return ids
        texts = features[f"{self.name}.text.{column}"]
        augmented = [trivial_augment(texts[rows[j]], self.aug_max_scale, rng) for j in picks]
        for j, tokens in zip(picks, self._tokenize(augmented)):
            ids[j] = np.asarray(tokens, dtype=np.int64)
        return ids

    @staticmethod
    def _allot(lengths: list, budget: int) -> list:
        """Truncate the longest columns first: find the largest cap c with sum(min(L, c)) <= budget."""
        if sum(lengths) <= budget:
            return list(lengths)
        low, high = 0, max(lengths)
        while low < high:
            cap = (low + high + 1) // 2
            if sum(min(n, cap) for n in lengths) <= budget:
                low = cap
            else:
                high = cap - 1
        allotted = [min(n, low) for n in lengths]
        spare = budget - sum(allotted)
        for i, n in enumerate(lengths):    # hand out what the integer cap left over
            if spare and n > allotted[i]:
                allotted[i] += 1
                spare -= 1
        return allotted

    def _chunk(self, tokens: np.ndarray, size: int, rng) -> np.ndarray:
        """The first `size` tokens, or (rng given) a window starting at random."""
        if len(tokens) <= size:
            return tokens
        start = int(rng.integers(0, len(tokens) - size + 1)) if rng is not None else 0
        return tokens[start:start + size]

    def collate_arrays(self, features: dict, indices: np.ndarray, training: bool) -> dict:
        """The batch's token ids, token types and attention mask as int64 numpy arrays (rows x tokens)."""
        tokenizer = self.tokenizer
        cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        augment = training and self.aug_max_scale > 0
        rng = self._batch_rng() if augment or (training and self.stochastic_chunk) else None
        columns = []
        for i in range(len(self.columns)):
            ids = [features[f"{self.name}.ids.{i}"][r] for r in indices]
            if augment:
                ids = self._augmented(features, i, indices, ids, rng)
            columns.append(ids)
        budget = self.max_len - self._special_count()
        sequences, segments = [], []
        for j in range(len(indices)):
            parts = [col[j] for col in columns]
            allotted = self._allot([len(p) for p in parts], budget)
            ids, types = [cls_id], [0]
            for i, (part, size) in enumerate(zip(parts, allotted)):
                chunk = self._chunk(part, size, rng if self.stochastic_chunk else None).tolist()
                segment = min(i, self.segments - 1)
                ids += chunk
                types += [segment] * len(chunk)
                if self.insert_sep or i == len(parts) - 1:
                    ids.append(sep_id)
                    types.append(segment)
            sequences.append(ids)
            segments.append(types)
        width = max(len(s) for s in sequences)
        input_ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
        token_types = np.zeros((len(sequences), width), dtype=np.int64)
        mask = np.zeros((len(sequences), width), dtype=np.int64)
        for j, (ids, types) in enumerate(zip(sequences, segments)):
            input_ids[j, :len(ids)] = ids
            token_types[j, :len(types)] = types
            mask[j, :len(ids)] = 1
        return {f"{self.name}.input_ids": input_ids, f"{self.name}.token_type_ids": token_types,
                f"{self.name}.attention_mask": mask}

    def collate(self, features: dict, indices: np.ndarray, training: bool) -> dict:
        import torch

        return {k: torch.from_numpy(v) for k, v in self.collate_arrays(features, indices, training).items()}
