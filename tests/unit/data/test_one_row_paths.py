"""Prediction of a row or a few takes shortcuts around pandas' and scikit-learn's fixed costs (hashed text row by
row, numbers column by column, cached quantile tables): a frame transformed one row at a time gives the numbers
the whole frame gives, for every column type."""

import numpy as np
import pandas as pd

from automodal.data.hashed_text import ROW_BY_ROW_CHARACTERS, HashedTextProcessor
from automodal.data.processors import FEW_ROWS, CategoricalProcessor, NumericalProcessor

WORDS = "the a cozy apt Brooklyn park café naïve ÀB 12 x-y !! hello world cafÃ© ç 东京".split()


def rows_one_by_one(transform, frame):
    return [transform(frame.iloc[[i]]) for i in range(len(frame))]


def test_hashed_text_of_a_few_rows_equals_the_sparse_path():
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, rng.integers(0, 9))) for _ in range(200)]
    frame = pd.DataFrame({"a": texts, "b": texts[::-1], "n": rng.integers(0, 5, len(texts))})
    frame.loc[3, "a"] = None
    processor = HashedTextProcessor("hashed_text", state={"columns": ["a", "b", "n"], "num_buckets": 997,
                                                          "normalize": True})
    whole = processor.features(frame)
    # the whole frame takes the sparse path, each row the cell-by-cell one
    assert frame[["a", "b"]].fillna("").map(len).to_numpy().sum() > ROW_BY_ROW_CHARACTERS
    for i, row in enumerate(rows_one_by_one(processor.features, frame)):
        expected = (whole["hashed_text.buckets"][i], whole["hashed_text.weights"][i])
        got = (row["hashed_text.buckets"][0], row["hashed_text.weights"][0])
        assert got[0].dtype == np.int64 and got[1].dtype == np.float32
        order_expected, order_got = np.lexsort(expected[::-1]), np.lexsort(got[::-1])
        np.testing.assert_array_equal(got[0][order_got], expected[0][order_expected])
        np.testing.assert_allclose(got[1][order_got], expected[1][order_expected], atol=1e-6)


def test_numbers_dates_and_missing_values_one_row_at_a_time_equal_the_whole_frame():
    rng = np.random.default_rng(1)
    n = 40
    frame = pd.DataFrame({
        "float": rng.lognormal(size=n),
        "int": rng.integers(0, 100, n),
        "nullable": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
        "flag": rng.integers(0, 2, n).astype(bool),
        "date": [None if i % 9 == 0 else f"2019-0{1 + i % 9}-1{i % 10} 0{i % 10}:30" for i in range(n)],
        "day_first": [f"{13 + i % 15}/0{1 + i % 9}/2015" for i in range(n)],
        "stamp": pd.date_range("2020-01-01", periods=n, freq="37h"),
        "infinite": np.where(np.arange(n) % 5 == 0, np.inf, rng.normal(size=n)),
    })
    for transform in ("quantile", "standard"):
        processor = NumericalProcessor(list(frame.columns), transform=transform).fit(frame)
        whole = processor.transform(frame)
        one_by_one = np.vstack(rows_one_by_one(processor.transform, frame))
        np.testing.assert_array_equal(one_by_one, whole)
        assert np.isfinite(whole).all()


def test_categories_one_row_at_a_time_equal_the_whole_frame():
    rng = np.random.default_rng(2)
    n = 3 * FEW_ROWS
    frame = pd.DataFrame({
        "strings": rng.choice(["a", "b", "c", None], n),
        "ints": pd.array([None if i % 5 == 0 else i % 4 for i in range(n)], dtype="Int64"),
        "floats": rng.choice([1.0, 2.5, np.nan], n),
        "flags": rng.integers(0, 2, n).astype(bool),
    })
    processor = CategoricalProcessor(list(frame.columns)).fit(frame.iloc[: n // 2])   # later rows hold unseen values
    whole = processor.transform(frame)
    assert (whole == 0).any() and (whole > 0).any()
    np.testing.assert_array_equal(np.vstack(rows_one_by_one(processor.transform, frame)), whole)


def test_a_float_category_sent_alone_is_the_category_training_saw():
    from automodal.learners.contract import RequestSchema
    from automodal.serving.validation import RowChecker

    frame = pd.DataFrame({"size": [1.0, 2.5, np.nan, 1.0]})         # training renders these "1.0" and "2.5"
    processor = CategoricalProcessor(["size"]).fit(frame)
    assert processor.transform(pd.DataFrame({"size": [1.0]}))[0, 0] == processor.transform(frame)[0, 0] > 0
    checker = RowChecker(RequestSchema({"size": "categorical"}, categories=processor.categories))
    checker.check([{"size": 1.0}])      # a known category: no 422


def test_a_few_rows_of_numbers_and_nulls_as_objects_read_as_the_frame_reads_them():
    frame = pd.DataFrame({"n": [1.5, None, 3, 4.25, np.inf]})
    processor = NumericalProcessor(["n"]).fit(frame)
    as_objects = pd.DataFrame({"n": pd.Series([1.5, None, 3, 4.25, np.inf], dtype=object)})   # JSON records
    np.testing.assert_array_equal(processor.transform(as_objects), processor.transform(frame))
    np.testing.assert_array_equal(processor.transform(pd.DataFrame({"n": pd.Series([None], dtype=object)})),
                                  processor.transform(pd.DataFrame({"n": [np.nan]})))
