"""A table's label column as fit and evaluate take it: missing, blank and infinite labels dropped with a warning."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ...data.markers import is_marker, read_numbers
from ...errors import DataError

logger = logging.getLogger(__name__)


def clean_labels(frame: pd.DataFrame, label: str, what: str) -> pd.DataFrame:
    if label not in frame.columns:
        raise DataError(f"Label column '{label}' is not in {what}. Columns are: {list(frame.columns)}.")
    labels = frame[label]
    if is_marker(labels).any():
        numbers, not_numbers = read_numbers(labels)
        frame = frame.copy()
        if numbers.notna().any() and not not_numbers.any():
            frame[label] = numbers      # numbers with '?' for unknown ones: those rows have no label
        else:       # of other markers only a blank cell surely means "no label" ('n/a' may be a class)
            frame[label] = labels.mask(labels.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool))
    missing = frame[label].isna()
    if pd.api.types.is_float_dtype(frame[label]):
        missing |= np.isinf(frame[label].to_numpy(dtype=np.float64, na_value=np.nan))
    if missing.all():
        raise DataError(f"Label column '{label}' in {what} has no values (all NaN or infinite).")
    if missing.any():
        logger.warning("Dropping %d rows of %s whose label '%s' is missing or infinite.", int(missing.sum()), what,
                       label)
        frame = frame[~missing]
    return frame
