"""One processor per modality: fitted on the training frame, applied to whole columns at once, saved as JSON."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from ..errors import DataError
from . import dates
from .crosses import SEPARATOR as CROSS_SEPARATOR, cross_name
from .markers import numbers_with_markers, read_numbers
from .types import BINARY, CATEGORICAL, CLASSIFICATION, NUMERICAL, REGRESSION

logger = logging.getLogger(__name__)


def _to_python(value):
    """JSON-safe scalar (numpy scalars become Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def _class_value(value):
    """A class as a JSON-safe scalar, with 1.0 the class 1 (a missing label turns an int column into floats)."""
    value = _to_python(value)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _holds_date_strings(series: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        return False
    strings = series.dropna().astype(str)
    return len(strings) > 0 and not numbers_with_markers(strings) and dates.looks_like_dates(strings)


def _numeric_block(series: pd.Series, column: str, day_first: bool | None = None,
                   date_width: int = dates.WIDTH) -> np.ndarray:
    """The column as float64 of shape (n, 1) for numbers, (n, date_width) for timestamps and date strings (seconds,
    then calendar parts). day_first is None for a column that held numbers at fit, else the date strings' order.
    date_width 1 is the format saved before calendar parts, which read any timestamp column as seconds."""
    if day_first is None and pd.api.types.is_numeric_dtype(series.dtype):      # bool included
        if isinstance(series.dtype, np.dtype):      # na_value costs a scan that NumPy columns do not need
            return series.to_numpy(dtype=np.float64)[:, None]
        return series.to_numpy(dtype=np.float64, na_value=np.nan)[:, None]
    if day_first is None and series.dtype == object and len(series) <= FEW_ROWS:
        # a few rows of numbers and missing values (JSON's null makes a column of objects): read in plain Python
        values = series.to_numpy()
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)[:, None]
    if pd.api.types.is_datetime64_any_dtype(series):
        if day_first is None and date_width != 1:
            raise DataError(f"Column '{column}' held numbers in training but holds dates ({series.dtype}) now; "
                            "pass the numbers it was trained on.")
        return dates.features(series)[:, :date_width]
    if pd.api.types.is_timedelta64_dtype(series):
        return series.dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)[:, None]
    if day_first is not None:
        parts = dates.features(dates.parse(series, day_first))
        bad = np.isnan(parts[:, 0]) & ~pd.isna(series.to_numpy(dtype=object))
        if bad.any():
            logger.warning("Column '%s' holds dates; %d value(s) are not dates (e.g. %r) and count as missing. Pass "
                           "column_types={'%s': 'categorical'} (or 'text') if the column is not a date.",
                           column, int(bad.sum()), series[bad].iloc[0], column)
        return parts[:, :date_width]
    numbers, bad = read_numbers(series)
    if bad.any():
        example = series[bad].iloc[0]
        raise DataError(f"Numerical column '{column}' holds a value that is not a number: {example!r} "
                        f"({int(bad.sum())} such rows). Clean the column, or pass column_types={{'{column}': "
                        "'categorical'} (or 'text') when it is not numerical.")
    return numbers.to_numpy(dtype=np.float64)[:, None]


def require_columns(frame: pd.DataFrame, columns, what: str = "data"):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} is missing column(s) {missing} that the model was trained on. "
                        "Add them (NaN is allowed where a value is unknown).")


FEW_ROWS = 8                 # up to this many rows take per-value paths: whole-column calls have fixed costs
QUANTILES = 1000             # at most this many quantiles per column describe its distribution


class QuantileLevels:
    """One column's rank-Gauss map before the normal quantile function: values to levels in (0, 1) through the
    training quantiles. The smallest and largest of `rows` training values sit at levels 0.5 / rows and
    1 - 0.5 / rows, as their ranks say, and values beyond them stay there. Ties take the middle of their quantile
    range, so a 0/1 column maps to two values, not to its extremes. Built once per column: a one-row prediction
    would otherwise rebuild the tables on every call."""

    def __init__(self, quantiles: np.ndarray, rows: int):
        tail = 0.5 / max(rows, 1)
        self.quantiles = quantiles
        self.levels = np.linspace(tail, 1.0 - tail, len(quantiles))
        self.falling_quantiles = -quantiles[::-1]
        self.falling_levels = -self.levels[::-1]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Levels; NaN stays NaN."""
        rising = np.interp(values, self.quantiles, self.levels)
        falling = -np.interp(-values, self.falling_quantiles, self.falling_levels)
        return 0.5 * (rising + falling)


def normal_scores(values: np.ndarray, quantiles: np.ndarray, rows: int) -> np.ndarray:
    """Map values through the training quantiles to the standard normal's (a rank-Gauss transform): skewed columns
    and outliers arrive as well-spread numbers of bounded size (QuantileLevels says how)."""
    from scipy.special import ndtri     # 0.2 s at import, paid only by models with the quantile transform

    return ndtri(QuantileLevels(quantiles, rows)(values))


class NumericalProcessor:
    """Numbers column-wise: transform "quantile" maps each through its training quantiles to normal scores (then
    centres and scales as below); "standard" only centres (with_mean) and scales to unit variance (with_std).
    Missing values become the training mean. A column of timestamps or date strings gives several numbers: seconds
    since 1970 and calendar parts (data.dates)."""

    def __init__(self, columns, with_mean=True, with_std=True, mean=None, scale=None, day_first=None,
                 date_width=dates.WIDTH, transform="standard", quantiles=None, quantile_rows=None):
        self.columns = list(columns)
        self.with_mean, self.with_std = with_mean, with_std
        self.transform_kind = transform
        self.quantiles = None if quantiles is None else [np.asarray(q, dtype=np.float64) for q in quantiles]
        self.quantile_rows = quantile_rows      # per column: the training values its quantiles summarise
        self._levels = None                     # per column: QuantileLevels, built on first use
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        # per column: None for numbers, else (timestamps, date strings) whether date strings put the day first
        self.day_first = list(day_first) if day_first is not None else [None] * len(self.columns)
        self.date_width = date_width      # numbers per date column

    def _matrix(self, frame):
        if not self.columns:
            return np.zeros((len(frame), 0))
        # column by column: selecting several columns of a one-row frame costs more than converting each
        values = np.hstack([_numeric_block(frame[c], c, d, self.date_width)
                            for c, d in zip(self.columns, self.day_first)])
        # an infinite value (a ratio over zero, a failed log) has no rank or size to learn from: it is missing
        return np.where(np.isinf(values), np.nan, values)

    def fit(self, frame: pd.DataFrame) -> "NumericalProcessor":
        self.day_first = [False if pd.api.types.is_datetime64_any_dtype(frame[c])
                          else dates.day_first(frame[c]) if _holds_date_strings(frame[c]) else None
                          for c in self.columns]
        values = self._matrix(frame)
        if self.transform_kind == "quantile":
            self.quantiles = [self._column_quantiles(values[:, j]) for j in range(values.shape[1])]
            self.quantile_rows = np.sum(~np.isnan(values), axis=0).tolist()
            self._levels = None
            values = self._normal_scores(values)
        mean = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0)
        self.mean = mean
        self.scale = np.where(std > 0, std, 1.0) if self.with_std else np.ones_like(std)
        return self

    @staticmethod
    def _column_quantiles(column: np.ndarray) -> np.ndarray:
        present = column[~np.isnan(column)]
        if len(present) == 0:
            return np.zeros(2)
        return np.quantile(present, np.linspace(0.0, 1.0, int(min(QUANTILES, max(2, len(present))))))

    def _normal_scores(self, values: np.ndarray) -> np.ndarray:
        from scipy.special import ndtri     # 0.2 s at import, paid only by models with the quantile transform

        if self._levels is None:
            self._levels = [QuantileLevels(q, rows) for q, rows in zip(self.quantiles, self.quantile_rows)]
        levels = np.empty(values.shape)
        for j, column_levels in enumerate(self._levels):
            levels[:, j] = column_levels(values[:, j])
        return ndtri(levels)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        values = self._matrix(frame)
        if self.quantiles is not None:
            values = self._normal_scores(values)
        values = np.where(np.isnan(values), self.mean, values)
        if self.with_mean:
            values = values - self.mean
        return (values / self.scale).astype(np.float32)

    def model_inputs(self) -> dict:
        return {"num_numerical": sum(1 if d is None else self.date_width for d in self.day_first)}

    def features(self, frame: pd.DataFrame) -> dict:
        return {NUMERICAL: self.transform(frame)}

    def to_dict(self):
        return {"kind": "numerical", "columns": self.columns, "with_mean": self.with_mean,
                "with_std": self.with_std, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "day_first": self.day_first, "date_width": self.date_width, "transform": self.transform_kind,
                "quantiles": None if self.quantiles is None else [q.tolist() for q in self.quantiles],
                "quantile_rows": self.quantile_rows}

    @classmethod
    def from_dict(cls, state, directory=None):
        saved = {k: v for k, v in state.items() if k != "kind"}
        saved.setdefault("date_width", 1)   # saved before dates had calendar parts: seconds only
        return cls(**saved)


INTEGER = re.compile(r"-?\d+")


def integer_style(categories) -> bool:
    """Whether a column's training categories render numbers as integers ("3"), which happens when every number
    the column held in training was whole; else as floats ("3.0", "2.5")."""
    return all(INTEGER.fullmatch(str(c)) for c in categories)


def number_category(value: float, integers: bool) -> str:
    """A number as a category: "3" for a whole number when the column's numbers render as integers, else "3.0"."""
    return str(int(value)) if integers and float(value).is_integer() else repr(float(value))


def category_values(series: pd.Series, integers: bool | None = None) -> np.ndarray:
    """Categories as an object array of strings (None where missing). Numbers render as training rendered the
    column: whole numbers as integers ("3", so 3 and 3.0 are one category although a NaN turns ints to floats) when
    `integers`, else every number as a float ("3.0"); None decides from the values themselves (at fit), so a row
    predicted alone renders as the same row among others."""
    values = series.to_numpy(dtype=object)
    valid = ~pd.isna(values)
    out = np.full(len(values), None, dtype=object)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = values[valid].astype(np.float64)
        if integers is None:
            integers = bool(np.array_equal(numbers, np.round(numbers)))
        out[valid] = [number_category(v, integers) for v in numbers]
    else:
        out[valid] = [str(v) for v in values[valid]]
    return out


def category_strings(series: pd.Series, integers: bool | None = None) -> pd.Series:
    """category_values as a Series on the same index."""
    return pd.Series(category_values(series, integers), index=series.index, dtype=object)


class CategoricalProcessor:
    """Integer codes per column: 0 for missing or unseen values, 1..K for the training categories. Crosses (pairs of
    columns read together, data.crosses) follow the columns, each coded by its cells ("7 × 4")."""

    def __init__(self, columns, categories=None, crosses=None):
        self.columns = list(columns)
        self.categories = categories or {}
        # each {"columns": [first, second], "integers": how each rendered numbers in training, "categories": cells}
        self.crosses = [dict(cross) for cross in crosses or []]
        self._indexes = {}      # per column: its categories as an index, for many rows at once
        self._codes = {}        # per column: category -> code, for a few rows
        self._integers = {}     # per column: whether training rendered its numbers as integers

    def fit(self, frame: pd.DataFrame) -> "CategoricalProcessor":
        self.categories = {c: sorted(category_strings(frame[c]).dropna().unique().tolist()) for c in self.columns}
        for cross in self.crosses:
            cross["integers"] = [integer_style(category_strings(frame[c]).dropna().unique()) for c in cross["columns"]]
            cells = self._cross_strings(frame, cross)
            cross["categories"] = sorted(set(cells[~pd.isna(cells)].tolist()))
        self._indexes, self._codes, self._integers = {}, {}, {}
        return self

    @property
    def names(self) -> list:
        """What each code column holds: the columns, then the crosses."""
        return self.columns + [cross_name(cross["columns"]) for cross in self.crosses]

    @property
    def num_categories(self) -> list:
        return [len(self.categories[c]) + 1 for c in self.columns] + \
            [len(cross["categories"]) + 1 for cross in self.crosses]

    @staticmethod
    def _cross_strings(frame: pd.DataFrame, cross: dict) -> np.ndarray:
        first, second = (category_values(frame[c], integers) for c, integers in zip(cross["columns"],
                                                                                    cross["integers"]))
        cells = np.full(len(frame), None, dtype=object)
        both = ~(pd.isna(first) | pd.isna(second))
        cells[both] = [a + CROSS_SEPARATOR + b for a, b in zip(first[both], second[both])]
        return cells

    def _strings(self, frame: pd.DataFrame, j: int) -> tuple:
        """(name, the categories it knows, its values in frame as strings) of code column j."""
        if j >= len(self.columns):
            cross = self.crosses[j - len(self.columns)]
            return cross_name(cross["columns"]), cross["categories"], self._cross_strings(frame, cross)
        column = self.columns[j]
        if column not in self._integers:
            self._integers[column] = integer_style(self.categories[column])
        return column, self.categories[column], category_values(frame[column], self._integers[column])

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        codes = np.zeros((len(frame), len(self.columns) + len(self.crosses)), dtype=np.int64)
        for j in range(codes.shape[1]):
            name, categories, strings = self._strings(frame, j)
            if len(strings) <= FEW_ROWS:        # a dictionary: an index's lookup has a fixed cost per call
                if name not in self._codes:
                    self._codes[name] = {c: i + 1 for i, c in enumerate(categories)}
                known = self._codes[name]
                codes[:, j] = [0 if value is None else known.get(value, 0) for value in strings]
                continue
            if name not in self._indexes:
                self._indexes[name] = pd.Index(categories, dtype=object)
            found = self._indexes[name].get_indexer(strings)
            codes[:, j] = np.where(pd.isna(strings), 0, found + 1)
        return codes

    def model_inputs(self) -> dict:
        return {"num_categories": self.num_categories}

    def features(self, frame: pd.DataFrame) -> dict:
        return {CATEGORICAL: self.transform(frame)}

    def to_dict(self):
        return {"kind": "categorical", "columns": self.columns, "categories": self.categories,
                "crosses": self.crosses}

    @classmethod
    def from_dict(cls, state, directory=None):
        return cls(**{k: v for k, v in state.items() if k != "kind"})


class LabelProcessor:
    """Class indices for classification (the positive class of a binary task is index 1); scaling for regression."""

    def __init__(self, label, problem_type, preprocessing="standardscaler", pos_label=None,
                 classes=None, center=None, scale=None):
        self.label, self.problem_type = label, problem_type
        self.preprocessing, self.pos_label = preprocessing, pos_label
        self.classes = classes
        self.center, self.scale = center, scale

    def fit(self, labels: pd.Series) -> "LabelProcessor":
        values = labels.dropna()
        if self.problem_type in CLASSIFICATION:
            classes = sorted({_class_value(v) for v in values.unique()})
            if self.problem_type == BINARY and len(classes) != 2:
                raise DataError(f"problem_type is binary but label '{self.label}' has {len(classes)} classes "
                                f"({classes[:10]}). Use problem_type='multiclass' or fix the labels.")
            if self.pos_label is not None:
                if self.problem_type != BINARY:
                    raise DataError(f"data.pos_label is set to {self.pos_label!r} but the task is "
                                    f"{self.problem_type}; pos_label applies to binary tasks only.")
                matches = [c for c in classes if c == self.pos_label or str(c) == str(self.pos_label)]
                if not matches:
                    raise DataError(f"data.pos_label {self.pos_label!r} is not a class of label '{self.label}'; "
                                    f"the classes are {classes}.")
                classes = [c for c in classes if c != matches[0]] + [matches[0]]
            self.classes = classes
        else:
            numbers = self._regression_values(labels)
            if self.preprocessing == "minmaxscaler":
                low, high = float(np.min(numbers)), float(np.max(numbers))
                self.center, self.scale = low, (high - low) or 1.0
            else:
                std = float(np.std(numbers))
                self.center, self.scale = float(np.mean(numbers)), std or 1.0
        return self

    def _regression_values(self, labels):
        numbers = pd.to_numeric(labels, errors="coerce")
        if (numbers.isna() & labels.notna()).any():
            bad = labels[numbers.isna() & labels.notna()].iloc[0]
            raise DataError(f"Label '{self.label}' of a regression task holds a non-numeric value {bad!r}. "
                            "Clean the labels or set problem_type='multiclass'.")
        return numbers.to_numpy(dtype=np.float64)

    @property
    def num_outputs(self) -> int:
        return 1 if self.problem_type == REGRESSION else len(self.classes)

    def transform(self, labels: pd.Series) -> np.ndarray:
        if self.problem_type == REGRESSION:
            return ((self._regression_values(labels) - self.center) / self.scale).astype(np.float32)
        return self.encode(labels)

    def encode(self, labels: pd.Series) -> np.ndarray:
        index = {str(_class_value(c)): i for i, c in enumerate(self.classes)}
        uniques = pd.unique(labels.to_numpy())  # look each distinct value up once, then broadcast
        unique_codes = np.array([index.get(str(_class_value(v)), -1) for v in uniques], dtype=np.int64)
        codes = unique_codes[pd.Index(uniques).get_indexer(labels.to_numpy())]
        if (codes < 0).any():
            unseen = labels[codes < 0].unique()[:5].tolist()
            raise DataError(f"Label '{self.label}' has value(s) {unseen} that were not seen in training; "
                            f"the known classes are {self.classes}.")
        return codes

    def inverse_regression(self, outputs: np.ndarray) -> np.ndarray:
        return outputs * self.scale + self.center

    def to_dict(self):
        return {"label": self.label, "problem_type": self.problem_type, "preprocessing": self.preprocessing,
                "pos_label": _to_python(self.pos_label), "classes": self.classes,
                "center": self.center, "scale": self.scale}

    @classmethod
    def from_dict(cls, state):
        return cls(**state)
