"""Integer columns that name groups are read as categories; integers that measure an amount stay numbers."""

import numpy as np
import pandas as pd

from automodal.data.codes import code_evidence, read_codes
from automodal.data.types import CATEGORICAL, NUMERICAL


def school_table(rows=3000, schools=60, seed=0):
    """A score that depends on which school (an id with no order) and, linearly, on years of experience."""
    rng = np.random.default_rng(seed)
    school = rng.integers(1, schools + 1, rows)
    school_effect = rng.normal(size=schools + 1)
    years = rng.integers(0, 25, rows)
    children = rng.integers(0, 5, rows)             # unrelated to the score
    score = school_effect[school] + 0.08 * years + rng.normal(scale=0.7, size=rows)
    return pd.DataFrame({"school_id": school, "years": years, "children": children, "score": score})


def numerical_types(frame, label):
    return {c: NUMERICAL for c in frame.columns if c != label}


def test_a_school_id_is_read_as_categories_and_amounts_stay_numbers():
    frame = school_table()
    types, codes = read_codes(frame, "score", numerical_types(frame, "score"), "regression")
    assert types == {"school_id": CATEGORICAL, "years": NUMERICAL, "children": NUMERICAL}
    assert list(codes) == ["school_id"] and "integer codes" in codes["school_id"]
    groups, curve = code_evidence(frame["school_id"], frame["score"], "regression")
    assert groups > 0.3 and curve < 0.05, (groups, curve)


def test_hundreds_of_groups_with_rows_enough_are_codes_too():
    frame = school_table(rows=9000, schools=365)    # the day of a year: about 25 rows a day
    types, codes = read_codes(frame, "score", numerical_types(frame, "score"), "regression")
    assert list(codes) == ["school_id"] and types["years"] == NUMERICAL


def test_thousands_of_groups_are_codes_when_each_holds_rows_enough():
    """2,500 lecturers, 12 ratings each, each lecturer a small shift: visible over all 30,000 rows, not in a sample
    of 20,000 (8 rows a lecturer) nor beyond a bound of 1,000 values."""
    rng = np.random.default_rng(0)
    lecturer = rng.integers(1, 2501, 30000)
    rating = rng.normal(scale=0.25, size=2501)[lecturer] + rng.normal(size=30000)
    frame = pd.DataFrame({"lecturer": lecturer, "rating": rating})
    types, codes = read_codes(frame, "rating", {"lecturer": NUMERICAL}, "regression")
    assert types == {"lecturer": CATEGORICAL}, codes


def test_codes_are_found_for_a_class_label_too():
    frame = school_table()
    frame["passed"] = np.where(frame.pop("score") > 0.9, "yes", "no")
    types, codes = read_codes(frame, "passed", numerical_types(frame, "passed"), "binary")
    assert list(codes) == ["school_id"] and types["years"] == NUMERICAL


def test_a_type_the_user_chose_is_kept():
    frame = school_table()
    types, codes = read_codes(frame, "score", numerical_types(frame, "score"), "regression", chosen={"school_id"})
    assert codes == {} and types["school_id"] == NUMERICAL


def test_too_few_rows_per_value_or_fractions_keep_a_number():
    frame = school_table(rows=300)                   # 5 rows per school: group means too noisy to judge
    assert read_codes(frame, "score", numerical_types(frame, "score"), "regression")[1] == {}
    frame = school_table()
    frame["school_id"] = frame["school_id"] + 0.5    # not integers
    assert read_codes(frame, "score", numerical_types(frame, "score"), "regression")[1] == {}


def test_missing_values_in_a_code_column_are_tolerated():
    frame = school_table()
    frame.loc[::7, "school_id"] = np.nan
    types, codes = read_codes(frame, "score", numerical_types(frame, "score"), "regression")
    assert types["school_id"] == CATEGORICAL
    frame["school_id"] = frame["school_id"].astype("Int64")     # pandas' nullable integers, with <NA>
    assert read_codes(frame, "score", numerical_types(frame, "score"), "regression")[0]["school_id"] == CATEGORICAL
