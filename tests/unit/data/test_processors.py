"""Numerical, categorical and label processors: fitted state, transformed values, NaNs, JSON round trips."""

import json

import numpy as np
import pandas as pd
import pytest

from automodal.config import resolve_config
from automodal.data.pipeline import FeaturePipeline
from automodal.data.processors import CategoricalProcessor, LabelProcessor, NumericalProcessor
from automodal.errors import DataError

# a: mean 2, population std sqrt(2/3); b: mean 20, std sqrt(200/3) (NaN rows ignored in both)
TRAIN = pd.DataFrame({"a": [1.0, 2.0, 3.0, np.nan], "b": [10.0, np.nan, 20.0, 30.0]})
MEAN = np.array([2.0, 20.0])
STD = np.array([np.sqrt(2 / 3), np.sqrt(200 / 3)])
TEST = pd.DataFrame({"a": [0.0, np.nan, 5.0], "b": [20.0, 40.0, np.nan]})
RAW = np.array([[0.0, 20.0], [2.0, 40.0], [5.0, 20.0]])   # TEST with NaNs filled by the training means


def _round_trip(processor):
    return type(processor).from_dict(json.loads(json.dumps(processor.to_dict())))


# ---------------------------------------------------------------- NumericalProcessor

def test_quantile_transform_tames_skew_and_outliers_and_survives_json():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.lognormal(0, 2, size=2000), "flag": rng.integers(0, 2, size=2000)})
    processor = NumericalProcessor(["income", "flag"], transform="quantile").fit(frame)
    out = processor.transform(frame)
    # a heavy-tailed column arrives close to a standard normal: centred, unit variance, bounded
    assert abs(out[:, 0].mean()) < 0.01 and abs(out[:, 0].std() - 1) < 0.01 and np.abs(out[:, 0]).max() < 3.6
    assert abs(pd.Series(out[:, 0]).skew()) < 0.1 < pd.Series(frame["income"]).skew()
    # ties keep the middle of their rank range: a 0/1 column gives two values, in order
    assert len(np.unique(out[:, 1])) == 2 and out[frame["flag"] == 1, 1].min() > out[frame["flag"] == 0, 1].max()
    # order is kept, far outliers stay bounded, missing values become the mean (0 after centring)
    probe = pd.DataFrame({"income": [0.5, 1.0, 2.0, 1e12, np.nan], "flag": [0, 1, 1, 0, np.nan]})
    mapped = processor.transform(probe)
    assert mapped[0, 0] < mapped[1, 0] < mapped[2, 0] < mapped[3, 0] == out[:, 0].max()
    assert mapped[4, 0] == pytest.approx(0)
    np.testing.assert_array_equal(_round_trip(processor).transform(probe), mapped)


def test_quantile_is_the_default_transform_of_a_pipeline():
    frame = pd.DataFrame({"x": np.arange(100.0) ** 3})
    config = resolve_config()
    pipeline = FeaturePipeline.fit(frame, {"x": "numerical"}, config, {"numerical_mlp": ("numerical",)})
    assert pipeline.processors["numerical"].transform_kind == "quantile"
    standard = FeaturePipeline.fit(frame, {"x": "numerical"}, resolve_config(
        hyperparameters={"data.numerical.transform": "standard"}), {"numerical_mlp": ("numerical",)})
    assert standard.processors["numerical"].quantiles is None


@pytest.mark.parametrize("with_mean,with_std,expected", [
    (True, True, (RAW - MEAN) / STD),
    (False, True, RAW / STD),
    (True, False, RAW - MEAN),
    (False, False, RAW),
])
def test_numerical_scaler_with_mean_and_with_std(with_mean, with_std, expected):
    processor = NumericalProcessor(["a", "b"], with_mean=with_mean, with_std=with_std).fit(TRAIN)
    np.testing.assert_allclose(processor.mean, MEAN)
    np.testing.assert_allclose(processor.scale, STD if with_std else [1.0, 1.0])
    out = processor.transform(TEST)
    assert out.dtype == np.float32 and out.shape == (3, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_numerical_default_standardises_the_training_data():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(5, 3, size=500), "y": rng.uniform(-100, 100, size=500)})
    out = NumericalProcessor(["x", "y"]).fit(frame).transform(frame)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)


def test_numerical_nan_becomes_the_training_mean():
    processor = NumericalProcessor(["a", "b"]).fit(TRAIN)
    out = processor.transform(pd.DataFrame({"a": [np.nan], "b": [None]}))
    np.testing.assert_allclose(out, [[0.0, 0.0]], atol=1e-7)   # the mean, centred
    assert not np.isnan(processor.transform(TRAIN)).any()


def test_numerical_constant_column_is_not_divided_by_zero():
    processor = NumericalProcessor(["c"]).fit(pd.DataFrame({"c": [4.0, 4.0, 4.0]}))
    assert processor.scale.tolist() == [1.0]
    np.testing.assert_allclose(processor.transform(pd.DataFrame({"c": [4.0, 6.0]})), [[0.0], [2.0]])


def test_numerical_strings_of_numbers_and_bools_are_read_as_numbers():
    processor = NumericalProcessor(["s", "b"], with_mean=False, with_std=False).fit(
        pd.DataFrame({"s": ["1.5", "2.5"], "b": [True, False]}))
    np.testing.assert_allclose(processor.transform(pd.DataFrame({"s": ["3", None], "b": [False, True]})),
                               [[3.0, 0.0], [2.0, 1.0]])


def test_numerical_missing_value_markers_are_missing_numbers():
    processor = NumericalProcessor(["s"], with_mean=False, with_std=False).fit(pd.DataFrame({"s": ["1", "?", "3"]}))
    np.testing.assert_allclose(processor.transform(pd.DataFrame({"s": [" ?", "-", "N/A", "5"]})),
                               [[2.0], [2.0], [2.0], [5.0]])      # the training mean of 1 and 3


def test_numerical_durations_are_seconds():
    frame = pd.DataFrame({"d": pd.to_timedelta([60, 90, None], unit="s")})
    processor = NumericalProcessor(["d"], with_mean=False, with_std=False).fit(frame)
    np.testing.assert_allclose(processor.transform(frame), [[60.0], [90.0], [75.0]])


def test_numerical_non_number_raises_naming_the_column():
    processor = NumericalProcessor(["a", "b"]).fit(TRAIN)
    with pytest.raises(DataError, match=r"Numerical column 'b'.*'lots'.*1 such rows"):
        processor.transform(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, "lots"]}))


@pytest.mark.parametrize("with_mean,with_std", [(True, True), (False, False), (False, True)])
def test_numerical_json_round_trip(with_mean, with_std):
    processor = NumericalProcessor(["a", "b"], with_mean, with_std).fit(TRAIN)
    restored = _round_trip(processor)
    assert restored.with_mean is with_mean and restored.with_std is with_std
    assert restored.columns == ["a", "b"]
    np.testing.assert_array_equal(restored.transform(TEST), processor.transform(TEST))


# ---------------------------------------------------------------- CategoricalProcessor

def test_categorical_codes_unseen_and_missing_are_zero():
    processor = CategoricalProcessor(["color"]).fit(pd.DataFrame({"color": ["red", "green", None, "blue", "red"]}))
    assert processor.categories == {"color": ["blue", "green", "red"]}
    assert processor.num_categories == [4]
    codes = processor.transform(pd.DataFrame({"color": ["blue", "green", "red", "purple", None, np.nan]}))
    assert codes.dtype == np.int64
    assert codes[:, 0].tolist() == [1, 2, 3, 0, 0, 0]


def test_categorical_numbers_match_across_int_and_float_columns():
    # A NaN turns an int column into floats; 3 and 3.0 must stay one category.
    processor = CategoricalProcessor(["n"]).fit(pd.DataFrame({"n": [1, 2, 3, 2]}))
    assert processor.categories == {"n": ["1", "2", "3"]}
    codes = processor.transform(pd.DataFrame({"n": [3.0, np.nan, 1.0, 7.0]}))
    assert codes[:, 0].tolist() == [3, 0, 1, 0]


def test_categorical_several_columns_and_round_trip():
    train = pd.DataFrame({"c": ["x", "y", "x"], "d": [True, False, True]})
    processor = CategoricalProcessor(["c", "d"]).fit(train)
    test = pd.DataFrame({"c": ["y", "z"], "d": [False, True]})
    expected = [[2, 1], [0, 2]]
    assert processor.transform(test).tolist() == expected
    restored = _round_trip(processor)
    assert restored.transform(test).tolist() == expected
    assert restored.num_categories == [3, 3]


# ---------------------------------------------------------------- LabelProcessor: regression

Y = pd.Series([10.0, 20.0, 30.0, 40.0])


def test_label_standardscaler():
    processor = LabelProcessor("y", "regression", "standardscaler").fit(Y)
    assert processor.center == pytest.approx(25.0)
    assert processor.scale == pytest.approx(np.std([10, 20, 30, 40]))
    out = processor.transform(Y)
    assert out.dtype == np.float32
    assert out.mean() == pytest.approx(0, abs=1e-6) and out.std() == pytest.approx(1, abs=1e-6)
    np.testing.assert_allclose(processor.inverse_regression(out.astype(np.float64)), Y, rtol=1e-6)


def test_label_minmaxscaler():
    processor = LabelProcessor("y", "regression", "minmaxscaler").fit(Y)
    assert processor.center == 10.0 and processor.scale == 30.0
    out = processor.transform(Y)
    np.testing.assert_allclose(out, [0.0, 1 / 3, 2 / 3, 1.0], rtol=1e-6)
    np.testing.assert_allclose(processor.inverse_regression(np.array([0.0, 0.5, 1.0])), [10.0, 25.0, 40.0])


def test_label_scalers_differ_and_both_invert():
    standard = LabelProcessor("y", "regression", "standardscaler").fit(Y)
    minmax = LabelProcessor("y", "regression", "minmaxscaler").fit(Y)
    assert not np.allclose(standard.transform(Y), minmax.transform(Y))
    for processor in (standard, minmax):
        restored = _round_trip(processor)
        assert restored.preprocessing == processor.preprocessing
        np.testing.assert_allclose(restored.inverse_regression(processor.transform(Y).astype(np.float64)), Y,
                                   rtol=1e-6)


def test_label_constant_regression_target_does_not_divide_by_zero():
    for preprocessing in ("standardscaler", "minmaxscaler"):
        processor = LabelProcessor("y", "regression", preprocessing).fit(pd.Series([5.0, 5.0]))
        assert processor.scale == 1.0
        assert np.isfinite(processor.transform(pd.Series([5.0, 6.0]))).all()


def test_label_regression_non_number_raises_naming_the_label():
    with pytest.raises(DataError, match="'y'.*'ten'"):
        LabelProcessor("y", "regression").fit(pd.Series([1.0, "ten", 3.0]))


# ---------------------------------------------------------------- LabelProcessor: classification

def test_label_classes_are_sorted_and_the_second_is_positive_by_default():
    processor = LabelProcessor("y", "binary").fit(pd.Series(["yes", "no", "no", "yes"]))
    assert processor.classes == ["no", "yes"]
    assert processor.encode(pd.Series(["yes", "no"])).tolist() == [1, 0]
    assert processor.num_outputs == 2


@pytest.mark.parametrize("labels,pos_label,classes", [
    (["yes", "no"], "no", ["yes", "no"]),
    (["yes", "no"], "yes", ["no", "yes"]),
    (["changed", "not changed"], "changed", ["not changed", "changed"]),
    ([0, 1], 0, [1, 0]),
    ([0, 1], "0", [1, 0]),           # "key=value" strings give the class as text
    ([False, True], False, [True, False]),
])
def test_pos_label_moves_the_class_to_index_1(labels, pos_label, classes):
    processor = LabelProcessor("y", "binary", pos_label=pos_label).fit(pd.Series(labels * 3))
    assert processor.classes == classes
    assert processor.encode(pd.Series([classes[1], classes[0]])).tolist() == [1, 0]
    restored = _round_trip(processor)
    assert restored.classes == classes
    assert restored.encode(pd.Series([classes[1]])).tolist() == [1]


def test_pos_label_errors():
    with pytest.raises(DataError, match="'maybe'.*not a class of label 'y'"):
        LabelProcessor("y", "binary", pos_label="maybe").fit(pd.Series(["yes", "no"]))
    with pytest.raises(DataError, match="pos_label.*binary tasks only"):
        LabelProcessor("y", "multiclass", pos_label="a").fit(pd.Series(["a", "b", "c"]))


def test_label_binary_with_three_classes_raises():
    with pytest.raises(DataError, match="binary but label 'y' has 3 classes"):
        LabelProcessor("y", "binary").fit(pd.Series(["a", "b", "c"]))


def test_label_unseen_class_raises_naming_it():
    processor = LabelProcessor("y", "multiclass").fit(pd.Series(["a", "b", "c"]))
    assert processor.classes == ["a", "b", "c"]
    assert processor.num_outputs == 3
    with pytest.raises(DataError, match=r"'y'.*\['d'\]"):
        processor.encode(pd.Series(["a", "d"]))


def test_label_integer_classes_match_float_labels():
    # A missing label turns an int column into floats (in training or in evaluation data); 1 and 1.0 are one class.
    from_floats = LabelProcessor("y", "binary").fit(pd.Series([0, 1, np.nan, 1]))
    assert from_floats.encode(pd.Series([0, 1])).tolist() == [0, 1]
    from_ints = LabelProcessor("y", "binary").fit(pd.Series([0, 1, 1]))
    assert from_ints.encode(pd.Series([0.0, 1.0])).tolist() == [0, 1]
    assert from_ints.classes == [0, 1]
    assert from_floats.classes == [0, 1]


def test_label_json_round_trip_with_numpy_labels():
    labels = pd.Series(np.array([3, 5, 7, 5], dtype=np.int64))
    processor = LabelProcessor("y", "multiclass").fit(labels)
    text = json.dumps(processor.to_dict())
    restored = LabelProcessor.from_dict(json.loads(text))
    assert restored.classes == [3, 5, 7]
    assert restored.encode(labels).tolist() == processor.encode(labels).tolist() == [0, 1, 2, 1]


# ---------------------------------------------------------------- FeaturePipeline

def test_pipeline_uses_the_scaler_keys_and_round_trips():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "x"]})
    config = resolve_config(hyperparameters={"data.numerical.scaler_with_mean": False,
                                             "data.numerical.scaler_with_std": False,
                                             "data.numerical.transform": "standard"})
    pipeline = FeaturePipeline.fit(frame, {"a": "numerical", "c": "categorical"}, config,
                                   {"numerical_mlp": ("numerical",), "categorical_mlp": ("categorical",)})
    assert set(pipeline.processors) == {"numerical", "categorical"}
    assert pipeline.model_inputs() == {"num_numerical": 1, "num_categories": [3]}
    arrays = pipeline.transform(frame)
    np.testing.assert_allclose(arrays["numerical"][:, 0], [1.0, 2.0, 3.0])   # neither centred nor scaled
    assert arrays["categorical"][:, 0].tolist() == [1, 2, 1]
    restored = FeaturePipeline.from_dict(json.loads(json.dumps(pipeline.to_dict())))
    assert restored.processors["numerical"].with_mean is False
    assert restored.processors["numerical"].with_std is False
    for key, value in restored.transform(frame).items():
        np.testing.assert_array_equal(value, arrays[key])
    with pytest.raises(DataError, match=r"missing column\(s\) \['c'\]"):
        restored.transform(frame[["a"]])
