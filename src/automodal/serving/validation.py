"""Checks of one request's rows before they join a batch, so that a bad request fails alone with a message that
names the column, and never reaches (or takes down) the model. The rows are checked as the records JSON gave, column
by column, in plain Python: a frame per request, and pandas' per-call costs, would take longer than the model."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

from ..data import dates
from ..data.image import readable
from ..data.markers import read_numbers
from ..data.processors import integer_style, number_category
from ..data.types import CATEGORICAL, IMAGE, NUMERICAL, TEXT
from ..learners.contract import RequestSchema, json_value


class RequestError(ValueError):
    """A request the server refuses: status (4xx) and a message naming the column."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def request_rows(body, max_rows: int) -> list:
    """The request's rows: a list of records, or {"rows": [...]}."""
    rows = body.get("rows") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise RequestError(422, 'send rows as a JSON list of records, or {"rows": [{column: value, ...}, ...]}.')
    if len(rows) > max_rows:
        raise RequestError(413, f"{len(rows)} rows in one request; the limit is {max_rows}. Split the request.")
    return rows


def rows_frame(rows: list) -> pd.DataFrame:
    """Checked rows, of one request or of a whole batch, as the frame the model reads (one call for the batch)."""
    return pd.DataFrame.from_records(rows)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _iso_date(value) -> bool:
    """An ISO 8601 date or time, which pandas reads too: the common case, checked without pandas' per-call cost."""
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def category_texts(present: list, integers: bool) -> list:
    """category_values of the values as the model's frame holds them: a column of numbers only is numeric there
    (whole ones "3" when `integers`, else "3.0"); any other column renders each value as its text."""
    if not all(_number(v) for v in present):
        return [str(v) for v in present]
    return [number_category(v, integers) for v in present]


class RowChecker:
    """The checks of a learner's request schema: every column present, values of the type training saw."""

    def __init__(self, schema: RequestSchema):
        self.column_types, self.categories = schema.column_types, schema.categories
        self.known = {column: frozenset(known) for column, known in self.categories.items()}
        self.integers = {column: integer_style(known) for column, known in self.categories.items()}
        # columns that held dates in training: their values are dates, read the way training read them
        self.day_first = schema.day_first

    def check(self, rows: list):
        """Raise RequestError naming the first column whose values training could not have read."""
        if len(rows) == 1:
            keys = rows[0].keys()
        else:
            keys = set().union(*(row.keys() for row in rows))
        missing = [c for c in self.column_types if c not in keys]
        if missing:
            raise RequestError(422, f"missing column(s) {missing}; every row needs {list(self.column_types)}.")
        for column, kind in self.column_types.items():
            present = [value for value in (row.get(column) for row in rows) if not _missing(value)]
            if present:
                self._check_column(column, kind, present)

    def _check_column(self, column: str, kind: str, present: list):
        if kind == NUMERICAL and column in self.day_first:
            others = [value for value in present if not _iso_date(value)]
            if others:
                parsed = dates.parse(pd.Series(others, dtype=object), self.day_first[column])
                bad = [value for value, gone in zip(others, parsed.isna()) if gone]
                if bad:
                    raise RequestError(422, f"column '{column}' takes dates; got {bad[0]!r}.")
        elif kind == NUMERICAL:
            # JSON true / false would read as 1 / 0: a flag sent where training saw numbers is a client's error
            bad = [v for v in present if isinstance(v, bool) or not isinstance(v, (int, float, str))]
            strings = [v for v in present if isinstance(v, str)]
            if strings and not bad:         # "3.5", "?" and other markers are read as the model reads them
                bad = [v for v, wrong in zip(strings, read_numbers(pd.Series(strings, dtype=object))[1]) if wrong]
            if bad:
                raise RequestError(422, f"column '{column}' takes numbers; got {json_value(bad[0])!r}.")
        elif kind == CATEGORICAL and column in self.categories:
            unseen = [v for v in category_texts(present, self.integers[column]) if v not in self.known[column]]
            if unseen:
                known = sorted(self.categories[column])
                shown = f"{known[:10]}{' ...' if len(known) > 10 else ''}"
                raise RequestError(422, f"column '{column}' has category {unseen[0]!r}, unseen in training; "
                                        f"known: {shown}.")
        elif kind == TEXT:
            bad = [v for v in present if not isinstance(v, str)]
            if bad:
                raise RequestError(422, f"column '{column}' takes text; got {bad[0]!r}.")
        elif kind == IMAGE:
            for value in present:
                for path in str(value).split(";"):
                    path = path.strip()
                    if path and not readable(path):
                        raise RequestError(422, f"column '{column}': cannot read image '{path}' on the server.")
