"""Pairs of columns whose values act on the label together are found by their out-of-fold interaction gain, and
the categorical processor codes their cells, the same for one row as for many."""

import numpy as np
import pandas as pd
import pytest

from automodal.data.crosses import find_crosses, interaction_gain
from automodal.data.processors import CategoricalProcessor
from automodal.data.types import CATEGORICAL, NUMERICAL
from table_helpers import flights

TYPES = {"month": NUMERICAL, "day": NUMERICAL, "carrier": CATEGORICAL, "distance": NUMERICAL}


def test_the_date_is_crossed_when_month_and_day_act_together():
    found = find_crosses(flights(), "late", TYPES, "binary", 2)
    assert [cross["columns"] for cross in found] == [["month", "day"]]
    assert found[0]["gain"] > 0.1


def test_two_effects_side_by_side_are_no_cross():
    assert find_crosses(flights(together=False), "late", TYPES, "binary", 2) == []


def test_a_regression_label_and_the_limit():
    frame = flights()
    frame["late"] = (frame["late"] == "yes") + np.random.default_rng(1).normal(scale=0.1, size=len(frame))
    assert [c["columns"] for c in find_crosses(frame, "late", TYPES, "regression", 2)] == [["month", "day"]]
    assert find_crosses(frame, "late", TYPES, "regression", 0) == []


def test_too_few_rows_per_cell_are_no_cross():
    # 336 cells of about 3 rows each: too few to judge
    assert find_crosses(flights(rows=1000), "late", TYPES, "binary", 2) == []


def test_the_gain_is_beyond_the_two_columns_apart():
    frame = flights(together=False)
    keys = [pd.factorize(frame[c], sort=True)[0] + 1 for c in ("month", "day")]
    targets = (frame["late"] == "yes").to_numpy(dtype=float)[:, None]
    # 336 noisy cells explain less than two sets of well-filled means added
    assert interaction_gain(*keys, targets) < 0


def test_the_processor_codes_cells_after_the_columns_and_one_row_as_among_many():
    frame = flights(rows=400)
    processor = CategoricalProcessor(["carrier"], crosses=[{"columns": ["month", "day"]}]).fit(frame)
    assert processor.names == ["carrier", "month × day"]
    assert processor.num_categories[1] == frame.groupby(["month", "day"]).ngroups + 1
    codes = processor.transform(frame)
    assert codes.shape == (400, 2) and (codes[:, 1] > 0).all()
    # a row alone, its numbers arriving as floats (as from JSON), and a missing day
    row = frame.head(1).astype({"month": float, "day": float})
    assert processor.transform(row)[0, 1] == codes[0, 1]
    assert processor.transform(row.assign(day=np.nan))[0, 1] == 0
    assert processor.transform(row.assign(day=99.0))[0, 1] == 0        # a cell never seen in training
    loaded = CategoricalProcessor.from_dict(processor.to_dict())
    np.testing.assert_array_equal(loaded.transform(frame), codes)


def test_a_saved_processor_without_crosses_loads():
    state = CategoricalProcessor(["carrier"]).fit(flights(rows=50)).to_dict()
    state.pop("crosses")
    assert CategoricalProcessor.from_dict(state).names == ["carrier"]


@pytest.mark.parametrize("value", [-1, "two", 1.5])
def test_a_wrong_number_of_crosses_is_refused(value):
    from automodal import MultiModalPredictor
    from automodal.errors import ConfigError

    with pytest.raises(ConfigError, match="data.categorical.crosses"):
        MultiModalPredictor(label="late", hyperparameters={"data.categorical.crosses": value})
