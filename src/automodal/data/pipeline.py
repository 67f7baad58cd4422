"""All processors of a predictor together: frame in, a dict of arrays out, saved as one JSON document."""

from __future__ import annotations

import pandas as pd

from .processors import CategoricalProcessor, NumericalProcessor, require_columns
from .types import CATEGORICAL, NUMERICAL


class FeaturePipeline:
    """Turns the feature columns of a frame into arrays keyed by modality ('numerical', 'categorical')."""

    def __init__(self, column_types: dict, numerical=None, categorical=None):
        self.column_types = dict(column_types)
        self.numerical = numerical
        self.categorical = categorical

    @classmethod
    def fit(cls, frame: pd.DataFrame, column_types: dict, config) -> "FeaturePipeline":
        numerical_columns = [c for c, t in column_types.items() if t == NUMERICAL]
        categorical_columns = [c for c, t in column_types.items() if t == CATEGORICAL]
        numerical = categorical = None
        if numerical_columns:
            numerical = NumericalProcessor(numerical_columns, config["data.numerical.scaler_with_mean"],
                                           config["data.numerical.scaler_with_std"]).fit(frame)
        if categorical_columns:
            categorical = CategoricalProcessor(categorical_columns).fit(frame)
        return cls(column_types, numerical, categorical)

    @property
    def modalities(self) -> set:
        present = set()
        if self.numerical is not None:
            present.add(NUMERICAL)
        if self.categorical is not None:
            present.add(CATEGORICAL)
        return present

    def model_inputs(self) -> dict:
        """Shapes the model builders need: feature counts and category counts."""
        return {
            "num_numerical": len(self.numerical.columns) if self.numerical else 0,
            "num_categories": self.categorical.num_categories if self.categorical else [],
        }

    def transform(self, frame: pd.DataFrame, what: str = "data") -> dict:
        require_columns(frame, list(self.column_types), what)
        arrays = {}
        if self.numerical is not None:
            arrays[NUMERICAL] = self.numerical.transform(frame)
        if self.categorical is not None:
            arrays[CATEGORICAL] = self.categorical.transform(frame)
        return arrays

    def to_dict(self) -> dict:
        return {"column_types": self.column_types,
                "numerical": self.numerical.to_dict() if self.numerical else None,
                "categorical": self.categorical.to_dict() if self.categorical else None}

    @classmethod
    def from_dict(cls, state: dict) -> "FeaturePipeline":
        return cls(state["column_types"],
                   NumericalProcessor.from_dict(state["numerical"]) if state["numerical"] else None,
                   CategoricalProcessor.from_dict(state["categorical"]) if state["categorical"] else None)
