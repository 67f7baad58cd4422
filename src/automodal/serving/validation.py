"""Checks of one request's rows before they join a batch, so that a bad request fails alone with a message that
names the column, and never reaches (or takes down) the model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import dates
from ..data.image import readable
from ..data.markers import read_numbers
from ..data.processors import category_strings, integer_style
from ..data.types import CATEGORICAL, IMAGE, NUMERICAL, TEXT
from ..learners.contract import RequestSchema, json_value


class RequestError(ValueError):
    """A request the server refuses: status (4xx) and a message naming the column."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def rows_frame(body, max_rows: int) -> pd.DataFrame:
    """The request's rows: a list of records, or {"rows": [...]}."""
    rows = body.get("rows") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise RequestError(422, 'send rows as a JSON list of records, or {"rows": [{column: value, ...}, ...]}.')
    if len(rows) > max_rows:
        raise RequestError(413, f"{len(rows)} rows in one request; the limit is {max_rows}. Split the request.")
    return pd.DataFrame.from_records(rows)


class RowChecker:
    """The checks of a learner's request schema: every column present, values of the type training saw."""

    def __init__(self, schema: RequestSchema):
        self.column_types, self.categories = schema.column_types, schema.categories
        self.integers = {column: integer_style(known) for column, known in self.categories.items()}
        # columns that held dates in training: their values are dates, read the way training read them
        self.day_first = schema.day_first

    def check(self, frame: pd.DataFrame):
        missing = [c for c in self.column_types if c not in frame.columns]
        if missing:
            raise RequestError(422, f"missing column(s) {missing}; every row needs {list(self.column_types)}.")
        for column, kind in self.column_types.items():
            values = frame[column]
            present = values[values.notna()]
            if kind == NUMERICAL and column in self.day_first:
                bad = present[dates.parse(present, self.day_first[column]).isna()]
                if len(bad):
                    raise RequestError(422, f"column '{column}' takes dates; got {bad.iloc[0]!r}.")
            elif kind == NUMERICAL:
                # JSON true / false would read as 1 / 0: a flag sent where training saw numbers is a client's error
                bad = present[present.map(lambda v: isinstance(v, (bool, np.bool_))).astype(bool)
                              | read_numbers(present)[1]]
                if len(bad):
                    raise RequestError(422, f"column '{column}' takes numbers; got {json_value(bad.iloc[0])!r}.")
            elif kind == CATEGORICAL and column in self.categories:
                strings = category_strings(present, self.integers[column])
                unseen = strings[~strings.isin(self.categories[column])]
                if len(unseen):
                    known = sorted(self.categories[column])
                    shown = f"{known[:10]}{' ...' if len(known) > 10 else ''}"
                    raise RequestError(422, f"column '{column}' has category {unseen.iloc[0]!r}, unseen in "
                                            f"training; known: {shown}.")
            elif kind == TEXT:
                bad = present[~present.map(lambda v: isinstance(v, str))]
                if len(bad):
                    raise RequestError(422, f"column '{column}' takes text; got {bad.iloc[0]!r}.")
            elif kind == IMAGE:
                for value in present:
                    for path in str(value).split(";"):
                        path = path.strip()
                        if path and not readable(path):
                            raise RequestError(422, f"column '{column}': cannot read image '{path}' on the server.")
