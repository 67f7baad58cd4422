"""Column type and problem type inference from a training frame."""

from __future__ import annotations

import logging
import os
import re

import numpy as np
import pandas as pd

from ..errors import DataError
from .dates import looks_like_dates
from .image import cell_paths
from .markers import numbers_with_markers
from .types import (BINARY, CATEGORICAL, COLUMN_TYPE_ALIASES, COLUMN_TYPES, IGNORE, IMAGE, MULTICLASS, NUMERICAL,
                    PROBLEM_TYPES, REGRESSION, TEXT)

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
MAX_CATEGORIES = 100          # more distinct strings than this (and many per row) read as free text
FEW_VALUES = 20               # at most this many distinct strings are categories, however many words each has
MIN_TEXT_VARIETY = 0.1        # free text repeats little: at least this share of its values are distinct
MAX_CLASSES_FOR_INT_LABEL = 20
FEW_CLASSES, ROWS_PER_CLASS = 10, 10
UNNAMED = re.compile(r"Unnamed: \d+$")     # pandas' name for a column without a header, such as a saved row index


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _first_paths(values: pd.Series) -> pd.Series:
    """The first path of each of the first 50 cells ("" for an empty cell)."""
    return pd.Series([cell_paths(v)[0] or "" for v in values.head(50)], dtype=object)


def _image_path_kind(values: pd.Series) -> str | None:
    """"found" when the cells name image files that exist, "not found" when they name image files that mostly do
    not exist, else None."""
    first_paths = _first_paths(values)
    if not first_paths.str.lower().str.endswith(IMAGE_SUFFIXES).mean() >= 0.9:
        return None
    return "found" if np.mean([os.path.exists(p) for p in first_paths.head(10)]) >= 0.5 else "not found"


def _holds_lists(values: pd.Series) -> bool:
    return values.dtype == object and values.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any()


def infer_column_type(series: pd.Series) -> tuple[str, str | None]:
    """Return (type, reason); type IGNORE comes with the reason the column is dropped."""
    values = series.dropna()
    if len(values) == 0:
        return IGNORE, "no values (every value is missing)"      # nothing to learn from, as a constant column
    if _holds_lists(values):
        if _image_path_kind(values) == "found":
            return IMAGE, None
        raise DataError(f"Column '{series.name}' holds lists (e.g. {values.iloc[0]!r}). Lists are read as several "
                        "image paths per row, and these are not paths of existing image files. Join other values "
                        f"into a string, or fix the paths (column_types={{'{series.name}': 'image_path'}}).")
    n_unique = values.nunique()
    if n_unique == 1:
        return IGNORE, "constant"
    if pd.api.types.is_bool_dtype(series):
        return CATEGORICAL, None
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
        return NUMERICAL, None     # timestamps (data.dates); durations as seconds
    if _is_numeric(series):
        integral = pd.api.types.is_integer_dtype(series) or bool((values == np.round(values)).all())
        if integral and n_unique == len(series) and len(series) > 20:
            if values.is_monotonic_increasing:
                return IGNORE, "identifier (unique, increasing integers)"
            if UNNAMED.match(str(series.name)):     # still unique after the rows were shuffled or split
                return IGNORE, "row index saved with the file (an unnamed column of unique integers)"
        return NUMERICAL, None
    if isinstance(series.dtype, pd.CategoricalDtype):
        return CATEGORICAL, None
    strings = values.astype(str)
    if numbers_with_markers(strings):
        return NUMERICAL, None     # numbers, perhaps with '?' or '-' for missing values
    image_paths = _image_path_kind(values)
    if image_paths == "found":
        return IMAGE, None
    if image_paths == "not found":
        example = next(p for p in _first_paths(values).head(10) if not os.path.exists(p))
        logger.warning("Column '%s' names image files, but most do not exist (e.g. '%s'; relative paths are read from "
                       "the working directory '%s'). The column is dropped: fix the paths, or pass column_types="
                       "{'%s': 'image_path'} to train with the images that exist.", series.name, example,
                       os.getcwd(), series.name)
        return IGNORE, "image files not found"
    if looks_like_dates(strings):
        return NUMERICAL, None     # seconds since 1970, see data.dates
    # Word counts settle quickly; a sample keeps inference cheap on large frames.
    words = strings.sample(min(len(strings), 5000), random_state=0).str.split().str.len().mean()
    if n_unique == len(values) and words < 2 and len(values) > 20:
        return IGNORE, "identifier (every value distinct)"
    if n_unique <= FEW_VALUES:
        return CATEGORICAL, None   # '1. < HS Grad', '4. College Grad': a level, not prose
    varied = n_unique >= MIN_TEXT_VARIETY * len(values)
    if (words >= 3 and varied) or (n_unique > MAX_CATEGORIES and n_unique > 0.2 * len(values)):
        return TEXT, None
    return CATEGORICAL, None


def infer_column_types(frame: pd.DataFrame, label: str, overrides: dict | None = None) -> tuple[dict, dict]:
    """Return ({column: type} for used columns, {column: reason} for dropped ones)."""
    overrides = dict(overrides or {})
    for column, kind in list(overrides.items()):
        if column not in frame.columns:
            raise DataError(f"column_types names column '{column}', which is not in the training data. "
                            f"Columns are: {list(frame.columns)}.")
        kind = COLUMN_TYPE_ALIASES.get(str(kind).lower(), str(kind).lower())
        if kind not in COLUMN_TYPES:
            raise DataError(f"column_types['{column}'] is '{overrides[column]}'; use one of {', '.join(COLUMN_TYPES)}.")
        overrides[column] = kind
    types, dropped = {}, {}
    for column in frame.columns:
        if column == label:
            continue
        if column in overrides:
            kind, reason = overrides[column], "column_types says null"
        else:
            kind, reason = infer_column_type(frame[column])
        if kind == IGNORE:
            dropped[column] = reason
        else:
            types[column] = kind
    if dropped:
        logger.info("Dropped columns: %s", ", ".join(f"{c} ({r})" for c, r in dropped.items()))
    if not types:
        raise DataError(f"No usable feature columns: besides the label '{label}', every column was dropped "
                        f"({dropped}). Add feature columns or set column_types.")
    return types, dropped


def infer_problem_type(labels: pd.Series, label: str) -> str:
    values = labels.dropna()
    n_unique = values.nunique()
    if n_unique < 2:
        raise DataError(f"Label column '{label}' has a single value ({values.iloc[0]!r}) after dropping missing "
                        "labels; a model needs at least two classes or a varying target.")
    if n_unique == 2:
        return BINARY
    if _is_numeric(labels):
        integral = pd.api.types.is_integer_dtype(labels) or bool((values == np.round(values)).all())
        # more than ten values with fewer than ten rows each (on average) are too thin to learn one by one as
        # classes: read them as a quantity, as AutoGluon does for a high ratio of values to rows
        thin = n_unique > FEW_CLASSES and n_unique > len(values) / ROWS_PER_CLASS
        if integral and n_unique <= MAX_CLASSES_FOR_INT_LABEL and not thin:
            return MULTICLASS
        return REGRESSION
    return MULTICLASS


def check_problem_type(problem_type: str | None) -> str | None:
    if problem_type is None:
        return None
    name = str(problem_type).lower()
    if name in ("classification",):
        return None
    if name not in PROBLEM_TYPES:
        raise DataError(f"problem_type '{problem_type}' is not supported; use one of {', '.join(PROBLEM_TYPES)}.")
    return name
