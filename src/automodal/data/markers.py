"""Strings that files exported by other tools write for a missing value.

pandas' `read_csv` already reads most of them ('NA', 'n/a', 'null', ...) as missing; '?' (UCI's files), '-' and '.'
it keeps as strings, which would turn a column of numbers into categories."""

from __future__ import annotations

import pandas as pd

MISSING_MARKERS = frozenset({"", "?", "-", "--", ".", "na", "n/a", "n.a.", "nan", "null", "none", "#n/a", "missing"})


def is_marker(values: pd.Series) -> pd.Series:
    """True where a cell is a string that stands for a missing value (case and surrounding spaces ignored)."""
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return pd.Series(False, index=values.index)
    return values.map(lambda v: isinstance(v, str) and v.strip().lower() in MISSING_MARKERS).astype(bool)


def read_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numbers, not_numbers): the values as floats, NaN where a cell is missing or a marker; and True where a cell
    is neither a number, missing, nor a marker."""
    markers = is_marker(values)
    numbers = pd.to_numeric(values.mask(markers), errors="coerce").astype("float64")
    return numbers, numbers.isna() & values.notna() & ~markers


def numbers_with_markers(values: pd.Series) -> bool:
    """Every value a number or a missing-value marker ('?', '-', ...), and at least one a number."""
    numbers, not_numbers = read_numbers(values)
    return bool(numbers.notna().any() and not not_numbers.any())
