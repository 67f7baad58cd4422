"""Reading user data: a DataFrame, or a path to a CSV or Parquet file."""

from __future__ import annotations

import os

import pandas as pd

from ..errors import DataError


def read_frame(data, name: str = "data") -> pd.DataFrame:
    """Return `data` as a DataFrame; a str or PathLike is read as CSV or Parquet by its suffix."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.isfile(path):
            raise DataError(f"{name}: file '{path}' does not exist. Pass a DataFrame or the path of a CSV or "
                            "Parquet file.")
        try:
            if path.lower().endswith((".parquet", ".pq")):
                frame = pd.read_parquet(path)
            else:
                frame = pd.read_csv(path)
        except Exception as exc:  # pandas raises many types; the user needs the file name and the reason
            raise DataError(f"{name}: could not read '{path}' ({type(exc).__name__}: {exc}). "
                            "Use a CSV file (.csv) or a Parquet file (.parquet).") from exc
    elif isinstance(data, dict):
        frame = pd.DataFrame(data)
    else:
        raise DataError(f"{name} must be a pandas DataFrame or a path to a CSV or Parquet file, "
                        f"got {type(data).__name__}.")
    if len(frame) == 0:
        raise DataError(f"{name} is empty (0 rows). Pass a frame with at least one row.")
    if len(frame.columns) == 0:
        raise DataError(f"{name} has no columns.")
    if not frame.columns.is_unique:     # cached by the index: a one-row prediction does not pay for the search
        duplicated = frame.columns[frame.columns.duplicated()].tolist()
        raise DataError(f"{name} has duplicated column names {duplicated}; rename them so each is unique.")
    return frame


def require_string_names(frame: pd.DataFrame, name: str):
    """Training columns must be named by strings: a saved predictor stores the names as text."""
    unnamed = [c for c in frame.columns if not isinstance(c, str)]
    if unnamed:
        raise DataError(f"{name} has column names that are not strings ({unnamed[:5]}), e.g. a frame built from an "
                        "array; a saved predictor stores names as text. Name the columns, e.g. "
                        "frame.columns = [f'col{i}' for i in range(frame.shape[1])].")
