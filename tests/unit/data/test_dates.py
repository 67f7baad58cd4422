"""Date strings and timestamps: recognised as dates, read as seconds since 1970 plus calendar parts, day-first
decided per column."""

import json

import numpy as np
import pandas as pd
import pytest

from automodal import MultiModalPredictor
from automodal.data import dates
from automodal.data.infer import infer_column_type
from automodal.data.processors import NumericalProcessor

N = 40
TWEETS = pd.Series([f"2015-02-{d:02d} 11:35:52 -0800" for d in range(1, 21)] * 2)


@pytest.mark.parametrize("values, expected", [
    (TWEETS, "numerical"),                                                   # timestamps with a UTC offset
    (pd.Series(["24/02/2015", "03/04/2015", "11/12/2016", "30/01/2017"] * 10), "numerical"),
    (pd.Series(["Feb 3, 2015", "March 9 2016", "1 Jan 2017", "Dec 24 2018"] * 10), "numerical"),
    (pd.Series(["10-12", "3-4", "5-6", "7-8"] * 10), "categorical"),          # ranges have no year
    (pd.Series([f"the {y} edition was good" for y in range(1990, 2030)]), "text"),   # sentences with a year
])
def test_date_strings_are_numerical_and_look_alikes_are_not(values, expected):
    assert infer_column_type(values.rename("c"))[0] == expected


def test_date_strings_become_seconds_in_time_order():
    frame = pd.DataFrame({"t": ["2015-02-24 11:35:52 -0800", "2015-02-24 20:35:52 +0000", None, "2016-01-01"]})
    processor = NumericalProcessor(["t"]).fit(frame)
    seconds = processor.transform(frame)[:, 0].astype(np.float64) * processor.scale[0] + processor.mean[0]
    expected = pd.Timestamp("2015-02-24 19:35:52", tz="UTC").timestamp()
    assert seconds[0] == pytest.approx(expected, abs=10)          # the UTC offset is applied
    assert seconds[1] - seconds[0] == pytest.approx(3600, abs=10)
    assert seconds[2] == pytest.approx(np.mean(seconds[[0, 1, 3]]), abs=10)   # missing: the training mean
    assert seconds[3] > seconds[1]


def test_day_first_is_decided_at_fit_and_kept_by_the_saved_processor():
    train = pd.DataFrame({"d": ["24/02/2015", "03/04/2015"], "m": ["02/24/2015", "03/04/2015"]})
    processor = NumericalProcessor(["d", "m"]).fit(train)
    assert processor.day_first == [True, False]
    restored = NumericalProcessor.from_dict(json.loads(json.dumps(processor.to_dict())))
    ambiguous = pd.DataFrame({"d": ["03/04/2015"], "m": ["03/04/2015"]})
    values = restored.transform(ambiguous)[0].astype(np.float64) * restored.scale + restored.mean
    april_3, march_4 = values[0], values[dates.WIDTH]            # each date column: seconds first, then calendar
    assert april_3 == pytest.approx(pd.Timestamp("2015-04-03", tz="UTC").timestamp(), abs=10)
    assert march_4 == pytest.approx(pd.Timestamp("2015-03-04", tz="UTC").timestamp(), abs=10)


def test_values_that_are_not_dates_count_as_missing_with_a_warning_naming_the_column(caplog):
    """A few placeholders ("0000-00-00", "unknown", "") in a date column must not stop a fit."""
    train = pd.DataFrame({"when": list(TWEETS) * 2 + ["0000-00-00", "unknown", ""]})
    processor = NumericalProcessor(["when"]).fit(train)
    assert processor.day_first == [False]
    with caplog.at_level("WARNING", logger="automodal"):
        values = processor.transform(pd.DataFrame({"when": ["soon", TWEETS[0]]}))[:, 0]
    assert "Column 'when' holds dates; 1 value(s) are not dates (e.g. 'soon')" in caplog.text
    assert values[0] == 0.0 and values[1] != 0.0      # missing: the training mean, 0 once standardised


def test_day_first_applies_only_to_values_that_start_with_day_and_month():
    processor = NumericalProcessor(["d"], with_mean=False, with_std=False).fit(
        pd.DataFrame({"d": ["24/02/2015", "03/04/2015", "2015-02-03"]}))
    assert processor.day_first == [True]
    parsed = pd.to_datetime(processor.transform(pd.DataFrame({"d": ["2015-02-03", "03/04/2015"]}))[:, 0]
                            .astype(np.float64), unit="s")
    assert parsed.month.tolist() == [2, 4] and parsed.day.tolist() == [3, 3]   # ISO stays year-month-day


def test_missing_timestamps_count_as_missing():
    frame = pd.DataFrame({"t": pd.to_datetime(["2020-01-01", None, "2020-01-03"])})
    values = NumericalProcessor(["t"], with_mean=False, with_std=False).fit(frame).transform(frame)[:, 0]
    assert values[1] == pytest.approx((values[0] + values[2]) / 2)   # NaT is imputed, not read as year -292


def test_a_date_gives_seconds_and_its_calendar_parts():
    frame = pd.DataFrame({"t": ["2015-02-24 11:35:52 -0800", None, "2016-01-03 06:30"], "x": [1.0, 2.0, 3.0]})
    processor = NumericalProcessor(["t", "x"], with_mean=False, with_std=False).fit(frame)
    assert processor.model_inputs() == {"num_numerical": dates.WIDTH + 1}
    values = processor.transform(frame).astype(np.float64)
    # 2015-02-24 19:35:52 UTC, a Tuesday; 2016-01-03 06:30 (naive: UTC), a Sunday
    assert values[0, 1:5].tolist() == pytest.approx([2, 24, 1, 19 + 35 / 60 + 52 / 3600])
    assert values[2, 1:5].tolist() == pytest.approx([1, 3, 6, 6.5])
    assert values[1, 1:5].tolist() == pytest.approx(((values[0] + values[2]) / 2)[1:5].tolist())   # imputed
    assert values[:, 5].tolist() == [1.0, 2.0, 3.0]
    # a date column that arrives as all-missing floats (one row, no date) still gives its five numbers
    one = processor.transform(pd.DataFrame({"t": [np.nan], "x": [1.0]}))
    assert one.shape == (1, dates.WIDTH + 1)


def test_a_processor_saved_before_calendar_parts_still_reads_dates_as_seconds():
    legacy = {"kind": "numerical", "columns": ["t", "w", "x"], "with_mean": False, "with_std": False,
              "mean": [0.0, 0.0, 0.0], "scale": [1.0, 1.0, 1.0], "day_first": [False, None, None]}
    processor = NumericalProcessor.from_dict(legacy)
    assert processor.model_inputs() == {"num_numerical": 3}
    frame = pd.DataFrame({"t": ["2015-02-24 19:35:52"], "w": pd.to_datetime(["1970-01-02"]), "x": [1.5]})
    values = processor.transform(frame)
    assert values.shape == (1, 3) and values[0, 1] == 86400.0 and values[0, 2] == 1.5   # a timestamp column too
    assert values[0, 0] == pytest.approx(pd.Timestamp("2015-02-24 19:35:52", tz="UTC").timestamp())


def test_a_model_learns_the_weekday_of_a_date(tmp_path):
    rng = np.random.default_rng(1)
    days = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 700, size=400), unit="D")
    frame = pd.DataFrame({"created": days.strftime("%Y-%m-%d"), "noise": rng.normal(size=400),
                          "label": np.where(days.weekday >= 5, "weekend", "weekday")})
    train, test = frame.iloc[:300], frame.iloc[300:]
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(
        train, hyperparameters={"optimization.learning_rate": 3e-3, "optimization.max_epochs": 15,
                                "env.per_gpu_batch_size": 32, "env.batch_size": 32})
    assert predictor.evaluate(test, metrics=["accuracy"])["accuracy"] > 0.9     # weekends are 2 in 7: 0.71


def test_a_model_learns_from_a_date_string_column(tmp_path):
    rng = np.random.default_rng(0)
    days = rng.integers(0, 365, size=300)
    frame = pd.DataFrame({
        "created": [str(pd.Timestamp("2015-01-01") + pd.Timedelta(days=int(d), hours=int(h)))
                    for d, h in zip(days, rng.integers(0, 24, size=300))],
        "noise": rng.normal(size=300),
        "label": np.where(days > 180, "late", "early"),
    })
    train, test = frame.iloc[:240], frame.iloc[240:]
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(train, hyperparameters={
        "optimization.learning_rate": 3e-3, "optimization.max_epochs": 15, "env.per_gpu_batch_size": 32,
        "env.batch_size": 32})
    assert predictor.column_types["created"] == "numerical"
    assert predictor.evaluate(test, metrics=["accuracy"])["accuracy"] > 0.85
