"""Date and time strings ("2015-02-24 11:35:52 -0800", "24/02/2015") as numbers: seconds since 1970 (UTC) and the
calendar parts a trend in seconds cannot show (month, day of month, day of week, hour of day; in UTC).

A string column is read as dates when nearly every value names a four-digit year and parses as a date, so that
ranges ("10-12") and sizes stay categories. Whether "03/04/2015" is the 3rd of April or the 4th of March is decided
once per column at fit time: day first when some value can only be read that way ("24/02/2015").
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

YEAR = re.compile(r"(?<!\d)(?:1[89]|2[01])\d\d(?!\d)")
MAX_DATE_LENGTH = 40          # longer strings are sentences that mention a date
SAMPLE = 200
NEEDED = 0.95                 # share of sampled values that must be dates
NUMERIC_DATE = r"\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d"   # 03/04/2015: the order of day and month is ambiguous
NUMERIC_DATE_START = re.compile(NUMERIC_DATE)


def parse(values: pd.Series, day_first: bool) -> pd.Series:
    """Timezone-aware UTC timestamps; NaT where a value is not a date. day_first applies only to values that begin
    with two numbers (24/02/2015): year-first values (2015-02-03) always read year, month, day. The strings go to
    pandas as a list: a Series costs several times more per call, which a one-row prediction pays."""
    raw = values.to_numpy(dtype=object)
    strings = [None if gone else str(v) for v, gone in zip(raw, pd.isna(raw))]   # 20150203 is a date, not ns
    with warnings.catch_warnings():   # pandas warns about mixed formats it then parses one by one
        warnings.simplefilter("ignore")
        parsed = pd.Series(pd.to_datetime(strings, errors="coerce", utc=True, format="mixed"), index=values.index)
        if day_first:
            numeric = np.array([s is not None and NUMERIC_DATE_START.match(s) is not None for s in strings], bool)
            if numeric.any():
                parsed[numeric] = pd.to_datetime([s for s, n in zip(strings, numeric) if n], errors="coerce",
                                                 utc=True, format="mixed", dayfirst=True)
    return parsed


def _utc_nanoseconds(timestamps: pd.Series) -> np.ndarray:
    """datetime64[ns] in UTC (aware timestamps are converted, naive ones count as UTC)."""
    return timestamps.to_numpy(dtype="datetime64[ns]")


def seconds(timestamps: pd.Series) -> np.ndarray:
    """Seconds since 1970-01-01 UTC as float64 (naive timestamps count as UTC); NaN where one is missing."""
    nanoseconds = _utc_nanoseconds(timestamps)
    result = nanoseconds.astype(np.int64).astype(np.float64) / 1e9
    result[np.isnat(nanoseconds)] = np.nan
    return result


CALENDAR = ("month", "day", "weekday", "hour")
WIDTH = 1 + len(CALENDAR)     # numbers per date column


def features(timestamps: pd.Series) -> np.ndarray:
    """(n, WIDTH) float64: seconds since 1970, month (1-12), day of month, day of week (Monday 0) and hour of day
    (minutes and seconds as its fraction), all in UTC; NaN where a timestamp is missing. numpy's calendar units,
    not pandas' accessors: a one-row prediction pays for this on every call."""
    nanoseconds = _utc_nanoseconds(timestamps)
    days = nanoseconds.astype("datetime64[D]")
    months = nanoseconds.astype("datetime64[M]")
    parts = np.column_stack([
        nanoseconds.astype(np.int64) / 1e9,
        months.astype(np.int64) % 12 + 1,
        (days - months.astype("datetime64[D]")).astype(np.int64) + 1,
        (days.astype(np.int64) + 3) % 7,                        # 1970-01-01 was a Thursday
        (nanoseconds - days).astype(np.int64) / 3.6e12,
    ]).astype(np.float64)
    parts[np.isnat(nanoseconds)] = np.nan
    return parts


def looks_like_dates(strings: pd.Series) -> bool:
    """Strings (no missing values) that are dates: short, with a year, and parsed as dates."""
    sample = strings.sample(min(len(strings), SAMPLE), random_state=0)
    if sample.str.len().max() > MAX_DATE_LENGTH or sample.str.contains(YEAR).mean() < NEEDED:
        return False
    return parse(sample, day_first(sample)).notna().mean() >= NEEDED


def day_first(strings: pd.Series) -> bool:
    """Whether numeric dates put the day first: some value's first number exceeds 12 and no second one does."""
    parts = strings.dropna().astype(str).str.extract("^" + NUMERIC_DATE).dropna()
    if parts.empty:             # ISO dates and named months are unambiguous
        return False
    first, second = parts[0].astype(int), parts[1].astype(int)
    return bool((first > 12).any() and not (second > 12).any())
