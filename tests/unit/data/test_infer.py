"""Column type and problem type inference."""

import numpy as np
import pandas as pd
import pytest

from automodal import MultiModalPredictor
from automodal.data.infer import (check_problem_type, infer_column_type, infer_column_types,
                                  infer_problem_type)
from automodal.data.types import IGNORE
from automodal.errors import AutomodalError, DataError

N = 60


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "price": rng.normal(size=N),                                   # float -> numerical
        "count": rng.integers(0, 50, size=N),                          # ints, repeated -> numerical
        "as_text_numbers": [f"{v:.2f}" for v in rng.normal(size=N)],   # numeric strings -> numerical
        "color": rng.choice(["red", "green", "blue"], size=N),         # few strings -> categorical
        "flag": rng.choice([True, False], size=N),                     # bool -> categorical
        "kind": pd.Categorical(rng.choice(["a", "b"], size=N)),        # pandas category -> categorical
        "review": [f"this product is rated {i} out of many" for i in range(N)],  # sentences -> text
        "row_id": np.arange(N),                                        # unique increasing ints -> dropped
        "uuid": [f"id-{i:05d}x" for i in rng.permutation(N)],          # distinct single tokens -> dropped
        "constant": 7.0,                                               # one value -> dropped
        "label": rng.choice(["yes", "no"], size=N),
    })


EXPECTED = {"price": "numerical", "count": "numerical", "as_text_numbers": "numerical", "color": "categorical",
            "flag": "categorical", "kind": "categorical", "review": "text"}


def test_column_types_are_inferred(frame):
    types, dropped = infer_column_types(frame, "label")
    assert types == EXPECTED
    assert set(dropped) == {"row_id", "uuid", "constant"}
    assert "label" not in types and "label" not in dropped


def test_dropped_columns_come_with_a_reason(frame):
    _, dropped = infer_column_types(frame, "label")
    assert dropped["constant"] == "constant"
    assert "identifier" in dropped["row_id"]
    assert "identifier" in dropped["uuid"]


@pytest.mark.parametrize("values,expected", [
    ([1.5, 2.5, np.nan, 4.0] * 10, "numerical"),
    (["1", "2.5", None, "-3"] * 10, "numerical"),
    (["130", " ?", "95.5", "-"] * 10, "numerical"),           # UCI's '?' and a dash stand for missing numbers
    (["?", "-"] * 20, "categorical"),                         # markers alone are no numbers
    (["1", "2", "x"] * 10, "categorical"),                    # another word is a category, not a missing value
    (["a", "b", None, "a"] * 10, "categorical"),
    ([np.nan, "x", np.nan, np.nan] * 10, "null"),            # constant once NaNs are ignored
    (["same"] * 40, "null"),
    (pd.date_range("2024-01-01", periods=40, freq="D"), "numerical"),
    (pd.to_timedelta(np.arange(40) * 7, unit="min"), "numerical"),        # durations, read as seconds
])
def test_single_column_inference(values, expected):
    kind, reason = infer_column_type(pd.Series(values, name="c"))
    assert kind == expected
    assert (reason is None) == (expected != "null")


def test_repeated_or_short_id_like_columns_are_kept():
    # Unique increasing integers in a short frame (<= 20 rows) are not taken for an identifier.
    assert infer_column_type(pd.Series(np.arange(10), name="c"))[0] == "numerical"
    # Unique integers that are not sorted are a feature, not a row id.
    assert infer_column_type(pd.Series(np.random.default_rng(0).permutation(50), name="c"))[0] == "numerical"


def test_a_saved_row_index_is_dropped_after_the_rows_were_shuffled():
    # pd.read_csv names a header-less first column "Unnamed: 0"; a train/test split leaves it unsorted.
    shuffled = np.random.default_rng(0).permutation(50)
    kind, reason = infer_column_type(pd.Series(shuffled, name="Unnamed: 0"))
    assert kind == "null" and "row index" in reason
    assert infer_column_type(pd.Series(shuffled % 7, name="Unnamed: 0"))[0] == "numerical"   # values repeat


def test_many_distinct_strings_are_text():
    words = pd.Series([f"w{i}" for i in range(300)] * 2, name="c")  # > 100 distinct, repeated -> free text
    assert infer_column_type(words)[0] == "text"


def test_few_distinct_strings_are_categorical_whatever_their_words_and_punctuation():
    rng = np.random.default_rng(0)
    levels = ["1. < HS Grad", "2. HS Grad", "3. Some College", "4. College Grad", "5. Advanced Degree"]
    assert infer_column_type(pd.Series(rng.choice(levels, size=3000), name="education"))[0] == "categorical"
    # 60 multi-word job titles repeated over 3,000 rows are categories too: free text rarely repeats
    titles = [f"senior staff engineer grade {i}" for i in range(60)]
    assert infer_column_type(pd.Series(rng.choice(titles, size=3000), name="title"))[0] == "categorical"


def test_long_varied_strings_are_text():
    rng = np.random.default_rng(0)
    words = ["fit", "fabric", "soft", "small", "large", "love", "return", "color", "dress", "great"]
    reviews = [" ".join(rng.choice(words, size=8)) for _ in range(300)]
    assert infer_column_type(pd.Series(reviews, name="review"))[0] == "text"


def test_a_column_with_no_values_is_dropped():
    assert infer_column_type(pd.Series([np.nan] * 5, name="empty")) == (IGNORE, "no values (every value is missing)")
    types, dropped = infer_column_types(pd.DataFrame({"x": [1.0, 2.0, 3.0], "empty": [None] * 3, "y": [0, 1, 0]}), "y")
    assert types == {"x": "numerical"} and list(dropped) == ["empty"]


def test_image_path_columns_lists_separators_and_files_not_found(tmp_path, caplog):
    import logging

    folder = tmp_path / "img;set"                               # the separator inside a real path
    folder.mkdir()
    paths = [str(folder / f"{i}.png") for i in range(30)]
    for path in paths:
        open(path, "wb").close()
    assert infer_column_type(pd.Series(paths, name="photo"))[0] == "image_path"
    lists = pd.Series([[p, paths[0]] for p in paths], name="photos")
    assert infer_column_type(lists)[0] == "image_path"
    with pytest.raises(DataError, match="'tags' holds lists"):
        infer_column_type(pd.Series([["a", "b"], ["c"]] * 15, name="tags"))
    gone = pd.Series([f"relative/dir/{i}.jpg" for i in range(30)], name="image")
    with caplog.at_level(logging.WARNING, logger="automodal"):
        assert infer_column_type(gone) == ("null", "image files not found")
    assert "'image' names image files" in caplog.text and "relative/dir/0.jpg" in caplog.text
    assert "working directory" in caplog.text


def test_column_types_override(frame):
    overrides = {"count": "categorical", "color": "null", "price": "Numerical", "flag": "drop",
                 "row_id": "numerical", "review": "categorical"}
    types, dropped = infer_column_types(frame, "label", overrides)
    assert types["count"] == "categorical"
    assert types["price"] == "numerical"
    assert types["row_id"] == "numerical"       # an override keeps a column inference would drop
    assert types["review"] == "categorical"
    assert "color" not in types and "flag" not in types
    assert dropped["color"] == dropped["flag"] == "column_types says null"
    # Columns not overridden are still inferred.
    assert types["as_text_numbers"] == "numerical" and "constant" in dropped


def test_column_types_override_with_unknown_column_or_type_raises(frame):
    with pytest.raises(DataError, match="'nope'"):
        infer_column_types(frame, "label", {"nope": "numerical"})
    with pytest.raises(DataError, match=r"column_types\['color'\].*'numbers'.*numerical.*categorical"):
        infer_column_types(frame, "label", {"color": "numbers"})


def test_no_usable_columns_raises(frame):
    with pytest.raises(DataError, match="No usable feature columns"):
        infer_column_types(frame[["constant", "row_id", "label"]], "label")


# ---------------------------------------------------------------- problem type

@pytest.mark.parametrize("values,expected", [
    (["yes", "no", "yes", "no"], "binary"),
    ([0, 1, 1, 0], "binary"),
    ([0.0, 1.0, np.nan, 1.0], "binary"),
    ([True, False, True], "binary"),
    ([10.5, 20.25, 10.5], "binary"),                   # two distinct values are binary whatever their type
    (["a", "b", "c", "a"], "multiclass"),
    ([0, 1, 2, 3, 4, 2, 1], "multiclass"),             # few distinct integers
    ([1.0, 2.0, 3.0, 1.0], "multiclass"),              # integral floats
    (list(np.linspace(0, 1, 50)), "regression"),       # non-integral floats
    (list(range(100)), "regression"),                  # more than 20 distinct integers
    (list(range(4, 22)) * 2, "regression"),            # 18 integers with two rows each: a quantity
    (list(range(4, 22)) * 10, "multiclass"),           # 18 integers with ten rows each: classes
    ([0, 1, 2] * 3, "multiclass"),                     # few values are classes however few rows
    (["1", "2", "3"], "multiclass"),                   # strings are classes
])
def test_problem_type_is_inferred(values, expected):
    assert infer_problem_type(pd.Series(values), "y") == expected


def test_a_single_label_value_raises_naming_the_label():
    with pytest.raises(DataError, match="'target'.*single value"):
        infer_problem_type(pd.Series(["a", "a", None]), "target")


@pytest.mark.parametrize("given,expected", [(None, None), ("binary", "binary"), ("MULTICLASS", "multiclass"),
                                            ("regression", "regression"), ("classification", None)])
def test_problem_type_override_is_checked(given, expected):
    assert check_problem_type(given) == expected


def test_unknown_problem_type_raises():
    with pytest.raises(DataError, match="'ranking'.*binary, multiclass, regression"):
        check_problem_type("ranking")
    with pytest.raises(AutomodalError, match="'ranking'"):
        MultiModalPredictor(label="y", problem_type="ranking", verbosity=0).fit(
            pd.DataFrame({"x": np.arange(10.0), "y": [0, 1] * 5}))


def test_problem_type_override_is_used_by_fit():
    # Integer labels 0..2 infer as multiclass; the overrides below are honoured, which these errors prove.
    data = pd.DataFrame({"x": np.linspace(0, 1, 30), "y": [0, 1, 2] * 10})
    with pytest.raises(DataError, match="problem_type is binary but label 'y' has 3 classes"):
        MultiModalPredictor(label="y", problem_type="binary", verbosity=0).fit(data)
    words = pd.DataFrame({"x": np.linspace(0, 1, 30), "y": ["low", "mid", "high"] * 10})
    with pytest.raises(DataError, match="regression task holds a non-numeric value"):
        MultiModalPredictor(label="y", problem_type="regression", verbosity=0).fit(words)
