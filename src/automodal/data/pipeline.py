"""All processors of a predictor together: frame in, a dict of features out, saved as JSON (plus the assets some
processors need, such as tokenizer files).

A processor has `fit(frame)`, `features(frame) -> {feature name: array or object}`, `model_inputs() -> dict`,
`to_dict()` (with a "kind" from PROCESSOR_KINDS) and `from_dict(state, directory)`. Numeric arrays are indexed per
batch directly; a processor whose features need per-batch work (padding, decoding) also has
`collate(features, indices, training) -> {name: tensor}`, and may have `lengths(features)` for length-sorted
batching, `keep_mask(features)` for rows to skip in training, and `save_assets(directory)`. Every feature is a
numpy array (dtype object for per-row lists) with one entry per row, so rows can be selected uniformly.
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pandas as pd

from ..models.registry import get_spec
from .processors import CategoricalProcessor, NumericalProcessor, require_columns
from .types import CATEGORICAL, NUMERICAL

# kind -> (module, class); modules with heavy imports load only when their kind is used.
PROCESSOR_KINDS = {
    "numerical": ("automodal.data.processors", "NumericalProcessor"),
    "categorical": ("automodal.data.processors", "CategoricalProcessor"),
    "text": ("automodal.data.text", "TextProcessor"),
    "hashed_text": ("automodal.data.hashed_text", "HashedTextProcessor"),
    "image": ("automodal.data.image", "ImageProcessor"),
    "clip": ("automodal.data.clip", "ClipProcessor"),
}


def processor_class(kind: str):
    module, name = PROCESSOR_KINDS[kind]
    return getattr(importlib.import_module(module), name)


class FeaturePipeline:
    def __init__(self, column_types: dict, processors: dict):
        self.column_types = dict(column_types)
        self.processors = dict(processors)      # name -> processor; names prefix the features they produce

    @classmethod
    def fit(cls, frame: pd.DataFrame, column_types: dict, config, reads: dict, crosses=()) -> "FeaturePipeline":
        """Shared processors for numerical / categorical columns, plus one per backbone that needs its own.
        reads: {backbone: the column types it reads} (models.net.select_models); crosses: pairs of columns the
        categorical processor also reads together (data.crosses)."""
        modalities = {m for read in reads.values() for m in read}
        processors = {}
        numerical = [c for c, t in column_types.items() if t == NUMERICAL]
        categorical = [c for c, t in column_types.items() if t == CATEGORICAL]
        if numerical and NUMERICAL in modalities:
            processors["numerical"] = NumericalProcessor(numerical, config["data.numerical.scaler_with_mean"],
                                                         config["data.numerical.scaler_with_std"],
                                                         transform=config["data.numerical.transform"]).fit(frame)
        if (categorical or crosses) and CATEGORICAL in modalities:
            processors["categorical"] = CategoricalProcessor(
                categorical, crosses=[{"columns": list(pair)} for pair in crosses]).fit(frame)
        for name, read in reads.items():
            spec = get_spec(name)
            if spec.processor is not None:
                columns = {c: t for c, t in column_types.items() if t in read}
                processors[name] = spec.processor(name, columns, config).fit(frame)
        return cls(column_types, processors)

    @property
    def collators(self) -> list:
        return [p for p in self.processors.values() if hasattr(p, "collate")]

    def lengths(self, features: dict):
        """Per-row sequence lengths for length-sorted batching, from the first processor that has them."""
        for processor in self.processors.values():
            lengths = processor.lengths(features) if hasattr(processor, "lengths") else None
            if lengths is not None:
                return lengths
        return None

    def keep_mask(self, features: dict):
        """Rows to keep (a boolean array) when a processor asks to skip some, else None."""
        masks = [p.keep_mask(features) for p in self.processors.values() if hasattr(p, "keep_mask")]
        masks = [m for m in masks if m is not None]
        return np.logical_and.reduce(masks) if masks else None

    def model_inputs(self) -> dict:
        inputs = {"num_numerical": 0, "num_categories": []}
        for processor in self.processors.values():
            inputs.update(processor.model_inputs())
        return inputs

    def transform(self, frame: pd.DataFrame, what: str = "data") -> dict:
        require_columns(frame, list(self.column_types), what)
        features = {}
        for processor in self.processors.values():
            features.update(processor.features(frame))
        return features

    def save_assets(self, directory: str):
        for name, processor in self.processors.items():
            if hasattr(processor, "save_assets"):
                processor.save_assets(os.path.join(directory, name))

    def to_dict(self) -> dict:
        return {"column_types": self.column_types,
                "processors": {name: p.to_dict() for name, p in self.processors.items()}}

    @classmethod
    def from_dict(cls, state: dict, directory: str | None = None) -> "FeaturePipeline":
        processors = {}
        for name, processor_state in state["processors"].items():
            kind = processor_state["kind"]
            assets = os.path.join(directory, name) if directory else None
            processors[name] = processor_class(kind).from_dict(processor_state, assets)
        return cls(state["column_types"], processors)
