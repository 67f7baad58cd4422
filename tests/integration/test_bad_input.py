"""Bad input gets an automodal exception naming the column, key or file; CSV and Parquet paths work as data."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import fast
from automodal import MultiModalPredictor
from automodal.errors import AutomodalError, ConfigError, DataError


def make_frame(n=300, seed=0):
    """Like the mixed_frame fixture (binary label from two numbers and a category, with NaNs)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = 2 * x1 - x2 + np.where(color == "red", 1.5, -0.5)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "color": color,
                          "label": np.where(logit + rng.normal(scale=0.5, size=n) > 0, "yes", "no")})
    frame.loc[::17, "x2"] = np.nan
    frame.loc[::23, "color"] = None
    return frame


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bad_input")


@pytest.fixture(scope="module")
def train_frame():
    return make_frame()


@pytest.fixture(scope="module")
def test_frame():
    return make_frame(n=80, seed=1)


@pytest.fixture(scope="module")
def csv_fitted(data_dir, train_frame):
    """A predictor fitted from a CSV path and saved to a path of its own."""
    csv = data_dir / "train.csv"
    train_frame.to_csv(csv, index=False)
    path = str(data_dir / "model_csv")
    predictor = MultiModalPredictor(label="label", path=path, verbosity=0)
    predictor.fit(str(csv), hyperparameters=fast())
    return predictor


def _expect(error_type, call, *names):
    """Run call, expect error_type (an AutomodalError), and every name in its message; return the message."""
    with pytest.raises(error_type) as info:
        call()
    assert isinstance(info.value, AutomodalError)
    message = str(info.value)
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"
    return message


def _new(tmp_path, **kwargs):
    return MultiModalPredictor(label="label", path=str(tmp_path / "model"), verbosity=0, **kwargs)


# ---------------------------------------------------------------- bad training data (no training happens)

def test_empty_frame(tmp_path):
    _expect(DataError, lambda: _new(tmp_path).fit(pd.DataFrame(), hyperparameters=fast()), "train_data", "empty")
    no_rows = pd.DataFrame({"x1": pd.Series([], dtype=float), "label": pd.Series([], dtype=str)})
    _expect(DataError, lambda: _new(tmp_path).fit(no_rows, hyperparameters=fast()), "train_data", "0 rows")
    assert not os.path.exists(tmp_path / "model")


def test_column_names_that_are_not_strings(tmp_path):
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)))
    frame["label"] = np.where(frame[0] > 0, "a", "b")
    _expect(DataError, lambda: _new(tmp_path).fit(frame, hyperparameters=fast()), "train_data", "[0, 1, 2]",
            "not strings")


def test_an_unused_column_with_a_number_for_a_name_is_ignored_at_predict(csv_fitted, test_frame):
    extra = pd.concat([test_frame, pd.Series(range(len(test_frame)), index=test_frame.index)], axis=1)
    assert list(csv_fitted.predict(extra)) == list(csv_fitted.predict(test_frame))


def test_missing_label_column(tmp_path, mixed_frame):
    predictor = MultiModalPredictor(label="target", path=str(tmp_path / "model"), verbosity=0)
    _expect(DataError, lambda: predictor.fit(mixed_frame, hyperparameters=fast()), "'target'", "x1", "color")


def test_label_with_one_class(tmp_path, mixed_frame):
    one_class = mixed_frame.assign(label="yes")
    _expect(DataError, lambda: _new(tmp_path).fit(one_class, hyperparameters=fast()), "'label'", "'yes'")
    # One class once the rows with a missing label are dropped.
    mostly_missing = mixed_frame.assign(label=[None] * (len(mixed_frame) - 1) + ["no"])
    _expect(DataError, lambda: _new(tmp_path).fit(mostly_missing, hyperparameters=fast()), "'label'")


def test_all_missing_labels(tmp_path, mixed_frame):
    _expect(DataError, lambda: _new(tmp_path).fit(mixed_frame.assign(label=np.nan), hyperparameters=fast()),
            "'label'", "no values")


def test_infinite_numbers_are_missing_values_and_infinite_labels_are_dropped(tmp_path, caplog):
    frame = make_frame()
    frame.loc[::10, "x1"], frame.loc[5, "x2"] = np.inf, -np.inf    # a ratio over zero, a log of zero
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)      # numpy's "invalid value" warnings came from infinities
        predictor = _new(tmp_path).fit(frame, hyperparameters=fast())
    assert np.isfinite(predictor.predict_proba(frame).to_numpy()).all()
    numerical = predictor._learner.model.pipeline.processors["numerical"]
    assert np.isfinite(numerical.transform(frame)).all() and np.isfinite(numerical.mean).all()
    regression = make_frame().assign(label=lambda f: f.x1 * 2.0)
    regression.loc[3, "label"] = np.inf
    fitted = MultiModalPredictor(label="label", path=str(tmp_path / "r"), verbosity=0).fit(
        regression, hyperparameters=fast())
    assert "missing or infinite" in caplog.text and np.isfinite(fitted.predict(regression)).all()


def test_blank_labels_are_missing_labels(tmp_path, caplog):
    frame = make_frame()
    frame.loc[::30, "label"] = "  "        # a spreadsheet's empty cell, kept as spaces
    predictor = _new(tmp_path).fit(frame, hyperparameters=fast())
    assert predictor.problem_type == "binary" and predictor.class_labels == ["no", "yes"]
    assert "Dropping 10 rows" in caplog.text


def test_all_nan_column(tmp_path, mixed_frame):
    # A column with no values is dropped, as a constant one is: real tables often hold an empty column.
    frame = mixed_frame.assign(x2=np.nan)
    predictor = _new(tmp_path).fit(frame, hyperparameters=fast())
    assert predictor.fit_summary()["dropped_columns"] == {"x2": "no values (every value is missing)"}
    assert "x2" not in predictor.column_types
    assert len(predictor.predict(mixed_frame.head(5))) == 5      # values there now are ignored


def test_unknown_model_name(tmp_path, mixed_frame):
    hyperparameters = fast(**{"model.names": ["numerical_mlpp", "categorical_mlp", "fusion_mlp"]})
    _expect(ConfigError, lambda: _new(tmp_path).fit(mixed_frame, hyperparameters=hyperparameters),
            "model.names", "'numerical_mlpp'", "numerical_mlp")


def test_unknown_hyperparameter_key_at_fit(tmp_path, mixed_frame):
    _expect(ConfigError, lambda: _new(tmp_path).fit(mixed_frame, hyperparameters={"optimization.lr": 1e-3}),
            "'optimization.lr'")


def test_bad_file_paths(tmp_path):
    missing = str(tmp_path / "no_such_file.csv")
    _expect(DataError, lambda: _new(tmp_path).fit(missing), "train_data", missing, "does not exist")
    broken = tmp_path / "broken.parquet"
    broken.write_text("this is not parquet")
    _expect(DataError, lambda: _new(tmp_path).fit(str(broken)), "train_data", str(broken), "could not read")
    _expect(DataError, lambda: _new(tmp_path).fit(12345), "train_data", "int")


def test_tuning_data_missing_a_column(tmp_path, mixed_frame):
    _expect(DataError, lambda: _new(tmp_path).fit(mixed_frame, tuning_data=mixed_frame.drop(columns="color"),
                                                  hyperparameters=fast()), "tuning_data", "'color'")


def test_bad_column_types_and_problem_type(tmp_path, mixed_frame):
    _expect(DataError, lambda: _new(tmp_path).fit(mixed_frame, column_types={"x9": "numerical"}), "'x9'")
    _expect(DataError, lambda: _new(tmp_path).fit(mixed_frame, column_types={"x1": "float"}), "'x1'", "'float'")
    _expect(DataError, lambda: _new(tmp_path, problem_type="regression").fit(mixed_frame, hyperparameters=fast()),
            "'label'", "non-numeric")


def test_unfitted_predictor_and_bad_load_path(tmp_path, mixed_frame):
    _expect(AutomodalError, lambda: _new(tmp_path).predict(mixed_frame), "fit()")
    _expect(AutomodalError, lambda: MultiModalPredictor.load(str(tmp_path / "nowhere")), "nowhere")
    (tmp_path / "half").mkdir()
    _expect(AutomodalError, lambda: MultiModalPredictor.load(str(tmp_path / "half")), "model.safetensors")


# ---------------------------------------------------------------- bad prediction data

def test_column_missing_at_predict_time(csv_fitted, test_frame):
    for method in (csv_fitted.predict, csv_fitted.predict_proba, csv_fitted.extract_embedding):
        _expect(DataError, lambda: method(test_frame.drop(columns="x2")), "'x2'")
    _expect(DataError, lambda: csv_fitted.evaluate(test_frame.drop(columns="label")), "'label'")
    # The label itself is not needed to predict.
    assert len(csv_fitted.predict(test_frame.drop(columns="label"))) == len(test_frame)


def test_wrong_dtype_at_predict_time(csv_fitted, test_frame):
    bad = test_frame.astype({"x1": object})
    bad.loc[bad.index[3], "x1"] = "not a number"
    message = _expect(DataError, lambda: csv_fitted.predict(bad), "'x1'", "'not a number'")
    assert "column_types" in message     # says how to fix it
    # Numbers written as strings are still numbers.
    as_strings = test_frame.astype({"x1": str})
    np.testing.assert_allclose(csv_fitted.predict_proba(as_strings, as_pandas=False),
                               csv_fitted.predict_proba(test_frame, as_pandas=False), atol=1e-5)
    # Timestamps where numbers were trained would be read as seconds since 1970: refused.
    dated = test_frame.assign(x1=pd.Timestamp("2020-01-01"))
    _expect(DataError, lambda: csv_fitted.predict(dated), "'x1'", "held numbers in training")


def test_bad_prediction_data(csv_fitted, tmp_path):
    _expect(DataError, lambda: csv_fitted.predict(pd.DataFrame(columns=["x1", "x2", "color"])), "empty")
    missing = str(tmp_path / "missing.parquet")
    _expect(DataError, lambda: csv_fitted.predict(missing), missing)
    _expect(ConfigError, lambda: csv_fitted.evaluate(make_frame(40, 3), metrics=["rmse"]), "'rmse'", "binary")


# ---------------------------------------------------------------- a failed fit keeps the saved model

def test_failed_fit_leaves_the_saved_model_intact(csv_fitted, test_frame):
    path = csv_fitted.path
    before = MultiModalPredictor.load(path).predict_proba(test_frame, as_pandas=False)
    files = sorted(os.listdir(path))
    bad = make_frame(100, 5).assign(x1=[[1, 2]] * 100)   # lists that are not image paths
    second = MultiModalPredictor(label="label", path=path, verbosity=0)
    with pytest.raises(DataError, match="'x1'"):
        second.fit(bad, hyperparameters=fast())
    with pytest.raises(DataError, match="'label'"):
        second.fit(bad.drop(columns="label"), hyperparameters=fast())
    assert sorted(os.listdir(path)) == files
    reloaded = MultiModalPredictor.load(path)
    np.testing.assert_allclose(reloaded.predict_proba(test_frame, as_pandas=False), before, atol=1e-6)
    assert reloaded.class_labels == ["no", "yes"]


def test_failed_save_leaves_the_saved_model_intact(csv_fitted, parquet_fitted, test_frame, monkeypatch):
    path = csv_fitted.path
    before = MultiModalPredictor.load(path).predict_proba(test_frame, as_pandas=False)
    assert not np.allclose(parquet_fitted.predict_proba(test_frame, as_pandas=False), before, atol=1e-3)

    import safetensors.torch

    def broken_save_file(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        parquet_fitted.save(path)            # overwrite P with another model, failing half way
    monkeypatch.undo()
    np.testing.assert_allclose(MultiModalPredictor.load(path).predict_proba(test_frame, as_pandas=False), before,
                               atol=1e-6)
    leftovers = [name for name in os.listdir(os.path.dirname(path)) if name.startswith(".automodal-save-")]
    assert leftovers == []


def test_a_path_holding_other_files_is_refused_before_training_and_left_alone(csv_fitted, tmp_path, train_frame):
    saved = MultiModalPredictor.load(csv_fitted.path)          # saving moves a predictor's path: use a copy
    folder = tmp_path / "project"
    (folder / "images").mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me")
    (folder / "images" / "a.png").write_bytes(b"png")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    fresh = MultiModalPredictor(label="label", path=str(folder), verbosity=0)
    message = _expect(AutomodalError, lambda: fresh.fit(train_frame, hyperparameters=fast()), str(folder),
                      "images", "notes.txt", "new or empty directory")
    assert fresh._learner.model is None                                # refused before any training
    _expect(AutomodalError, lambda: saved.save(str(folder)), str(folder))
    _expect(AutomodalError, lambda: saved.save(str(folder / "notes.txt")), "is a file")
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert (folder / "notes.txt").read_text() == "keep me" and "previous" not in message
    saved.save(str(folder / "model"))                          # a new subdirectory is fine, and so is replacing it
    saved.save(str(folder / "model"))
    assert MultiModalPredictor.load(str(folder / "model")).class_labels == ["no", "yes"]


# ---------------------------------------------------------------- CSV and Parquet paths

@pytest.fixture(scope="module")
def parquet_fitted(data_dir, train_frame):
    parquet = data_dir / "train.parquet"
    train_frame.to_parquet(parquet, index=False)
    predictor = MultiModalPredictor(label="label", path=str(data_dir / "model_parquet"), verbosity=0)
    predictor.fit(str(parquet), hyperparameters=fast(**{"optimization.max_epochs": 3}), seed=1)
    return predictor


def test_fit_and_predict_from_a_csv_path(csv_fitted, data_dir, test_frame):
    assert csv_fitted.column_types == {"x1": "numerical", "x2": "numerical", "color": "categorical"}
    assert csv_fitted.problem_type == "binary"
    csv = data_dir / "test.csv"
    test_frame.to_csv(csv, index=False)
    from_path = csv_fitted.predict(str(csv))
    assert isinstance(from_path, np.ndarray)       # a path gives arrays unless as_pandas=True
    assert list(from_path) == list(csv_fitted.predict(test_frame))
    np.testing.assert_allclose(csv_fitted.predict_proba(str(csv)), csv_fitted.predict_proba(test_frame, as_pandas=False),
                               atol=1e-5)
    scores = csv_fitted.evaluate(str(csv), metrics=["roc_auc", "accuracy"])
    assert scores["roc_auc"] > 0.85 and scores["accuracy"] > 0.75


def test_fit_and_predict_from_a_parquet_path(parquet_fitted, csv_fitted, data_dir, test_frame):
    assert parquet_fitted.column_types == csv_fitted.column_types
    assert parquet_fitted.class_labels == ["no", "yes"]
    parquet = data_dir / "test.parquet"
    test_frame.to_parquet(parquet, index=False)
    proba = parquet_fitted.predict_proba(str(parquet), as_multiclass=False)
    np.testing.assert_allclose(proba, parquet_fitted.predict_proba(test_frame, as_multiclass=False, as_pandas=False),
                               atol=1e-6)
    assert proba.shape == (len(test_frame),)
    assert parquet_fitted.evaluate(str(parquet), metrics="roc_auc")["roc_auc"] > 0.8
    # The model saved by a fit from a path loads and predicts the same.
    reloaded = MultiModalPredictor.load(parquet_fitted.path)
    # (the fitted model may sit on a GPU, the reloaded one on the CPU: equal up to float rounding)
    np.testing.assert_allclose(reloaded.predict_proba(str(parquet), as_multiclass=False), proba, atol=1e-4)


def test_a_predictor_saved_in_an_older_format_gets_a_clear_error(tmp_path, mixed_frame):
    import json

    path = tmp_path / "old"
    MultiModalPredictor(label="label", path=str(path), verbosity=0).fit(mixed_frame, hyperparameters=fast(
        **{"optimization.max_epochs": 1}))
    processors = json.loads((path / "processors.json").read_text())
    processors["features"] = processors["features"]["processors"]     # the layout before named processors
    (path / "processors.json").write_text(json.dumps(processors))
    meta = json.loads((path / "automodal.json").read_text())
    del meta["format_version"]                                         # format 1 did not record its version
    (path / "automodal.json").write_text(json.dumps(meta))
    with pytest.raises(AutomodalError, match="saved in format 1.*automodal upgrade mode.version=1 mode.path="):
        MultiModalPredictor.load(str(path))
    meta["format_version"] = 3
    (path / "automodal.json").write_text(json.dumps(meta))
    with pytest.raises(AutomodalError, match="format 3 by a newer automodal"):
        MultiModalPredictor.load(str(path))
