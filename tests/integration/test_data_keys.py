"""The data.* keys change what a fit saves and predicts: scalers, label preprocessing, pos_label, unseen categories."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from conftest import fast
from automodal import MultiModalPredictor


def binary_frame(n=300, seed=0):
    """Like the mixed_frame fixture: a binary label from two numbers and a category, with NaNs."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(5, 2, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = 2 * x1 - (x2 - 5) + np.where(color == "red", 1.5, -0.5)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "color": color,
                          "label": np.where(logit + rng.normal(scale=0.5, size=n) > 0, "yes", "no")})
    frame.loc[::17, "x2"] = np.nan
    frame.loc[::23, "color"] = None
    return frame


def regression_frame(n=300, seed=1):
    """Like the regression_frame fixture: y = 100 + 30a - 20b + noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                         "y": 100 + 30 * x[:, 0] - 20 * x[:, 1] + rng.normal(scale=3, size=n)})


def processors(predictor) -> dict:
    with open(os.path.join(predictor.path, "processors.json"), encoding="utf-8") as f:
        return json.load(f)


def fit(tmp_path_factory, name, frames, label, **keys):
    """Fit on frames = (train, tuning): processors are fitted on exactly the train frame."""
    path = str(tmp_path_factory.mktemp(name) / "model")
    predictor = MultiModalPredictor(label=label, path=path, verbosity=0)
    return predictor.fit(frames[0], tuning_data=frames[1], hyperparameters=fast(**keys))


@pytest.fixture(scope="module")
def train():
    return binary_frame(), binary_frame(n=100, seed=3)


@pytest.fixture(scope="module")
def test():
    return binary_frame(n=200, seed=7)


@pytest.fixture(scope="module")
def default_binary(tmp_path_factory, train):
    return fit(tmp_path_factory, "default", train, "label")


# ---------------------------------------------------------------- data.numerical.scaler_with_mean / with_std

@pytest.fixture(scope="module")
def scaler_fits(tmp_path_factory, train):
    # only the saved processors matter here; the scaler keys alone decide them under the standard transform
    short = {"optimization.max_epochs": 1, "data.numerical.transform": "standard"}
    return {
        "standard": fit(tmp_path_factory, "standard", train, "label", **short),
        "no_mean": fit(tmp_path_factory, "no_mean", train, "label", **short,
                       **{"data.numerical.scaler_with_mean": False}),
        "no_std": fit(tmp_path_factory, "no_std", train, "label", **short,
                      **{"data.numerical.scaler_with_std": False}),
    }


def test_scaler_keys_change_the_saved_processor_state(scaler_fits, test):
    default = processors(scaler_fits["standard"])["features"]["processors"]["numerical"]
    no_mean = processors(scaler_fits["no_mean"])["features"]["processors"]["numerical"]
    no_std = processors(scaler_fits["no_std"])["features"]["processors"]["numerical"]
    assert default["columns"] == no_mean["columns"] == no_std["columns"] == ["x1", "x2"]
    assert (default["with_mean"], default["with_std"]) == (True, True)
    assert (no_mean["with_mean"], no_mean["with_std"]) == (False, True)
    assert (no_std["with_mean"], no_std["with_std"]) == (True, False)
    # Means and stds of the training frame (NaNs ignored); with_std=False stores unit scales.
    frame = binary_frame()
    for state in (default, no_mean, no_std):
        np.testing.assert_allclose(state["mean"], [frame["x1"].mean(), frame["x2"].mean()], rtol=1e-9)
    stds = [np.nanstd(frame["x1"]), np.nanstd(frame["x2"])]
    np.testing.assert_allclose(default["scale"], stds, rtol=1e-9)
    np.testing.assert_allclose(no_mean["scale"], stds, rtol=1e-9)
    assert no_std["scale"] == [1.0, 1.0]
    # The saved state is what prediction uses: reloaded models transform as the flags say.
    rows = test.head(5).assign(x2=[1.0, 2.0, 3.0, 4.0, 5.0])
    raw = rows[["x1", "x2"]].to_numpy()
    mean, scale = np.array(default["mean"]), np.array(default["scale"])
    expected = {"default": (scaler_fits["standard"], (raw - mean) / scale),
                "no_mean": (scaler_fits["no_mean"], raw / scale),
                "no_std": (scaler_fits["no_std"], raw - mean)}
    for name, (predictor, values) in expected.items():
        pipeline = MultiModalPredictor.load(predictor.path)._learner.model.pipeline
        np.testing.assert_allclose(pipeline.transform(rows)["numerical"], values, rtol=1e-5, err_msg=name)
        assert len(predictor.predict(test)) == len(test)


def test_scaler_keys_are_recorded_in_the_saved_config(scaler_fits):
    config = MultiModalPredictor.load(scaler_fits["no_mean"].path).config
    assert config["data"]["numerical"]["scaler_with_mean"] is False
    assert config["data"]["numerical"]["scaler_with_std"] is True


# ---------------------------------------------------------------- data.label.numerical_label_preprocessing

@pytest.fixture(scope="module")
def regression_fits(tmp_path_factory):
    data = regression_frame(), regression_frame(n=100, seed=2)
    return {method: fit(tmp_path_factory, method, data, "y",
                        **{"data.label.numerical_label_preprocessing": method, "optimization.max_epochs": 12})
            for method in ("standardscaler", "minmaxscaler")}


@pytest.mark.parametrize("method", ["standardscaler", "minmaxscaler"])
def test_regression_predictions_are_on_the_original_scale(regression_fits, method):
    predictor = regression_fits[method]
    assert predictor.problem_type == "regression"
    holdout = regression_frame(n=200, seed=11)
    y = holdout["y"].to_numpy()
    predictions = np.asarray(predictor.predict(holdout))
    mean_rmse = float(np.sqrt(np.mean((y - y.mean()) ** 2)))           # about 36
    rmse = float(np.sqrt(np.mean((y - predictions) ** 2)))
    assert rmse < 0.35 * mean_rmse, (method, rmse, mean_rmse)
    assert abs(predictions.mean() - y.mean()) < 0.2 * y.std()         # centred near 100, not near 0 or 0.5
    assert predictions.std() > 0.5 * y.std()                           # spread like the labels, not squashed
    assert predictor.evaluate(holdout, metrics="rmse")["rmse"] == pytest.approx(rmse, rel=1e-4)


def test_label_preprocessing_is_saved(regression_fits):
    train = regression_frame()["y"]
    standard = processors(regression_fits["standardscaler"])["label"]
    minmax = processors(regression_fits["minmaxscaler"])["label"]
    assert standard["preprocessing"] == "standardscaler" and minmax["preprocessing"] == "minmaxscaler"
    # Fitted on the training frame.
    assert standard["center"] == pytest.approx(train.mean()) and standard["scale"] == pytest.approx(np.std(train))
    assert minmax["center"] == pytest.approx(train.min())
    assert minmax["scale"] == pytest.approx(train.max() - train.min())
    # Reloaded models invert their own scaling.
    holdout = regression_frame(n=50, seed=12)
    for predictor in regression_fits.values():
        np.testing.assert_allclose(MultiModalPredictor.load(predictor.path).predict(holdout),
                                   predictor.predict(holdout), atol=1e-2)   # labels are about 100 +- 40


# ---------------------------------------------------------------- data.pos_label

@pytest.fixture(scope="module")
def pos_no(tmp_path_factory, train):
    path = str(tmp_path_factory.mktemp("pos_no") / "model")
    predictor = MultiModalPredictor(label="label", path=path, verbosity=0)
    return predictor.fit(train[0], tuning_data=train[1],
                         hyperparameters=[f"{k}={v}" for k, v in fast().items()] + ["data.pos_label=no"])


def test_pos_label_changes_the_positive_class(default_binary, pos_no, test):
    assert default_binary.class_labels == ["no", "yes"] and default_binary.positive_class == "yes"
    assert pos_no.class_labels == ["yes", "no"] and pos_no.positive_class == "no"
    p_yes = default_binary.predict_proba(test, as_multiclass=False)
    p_no = pos_no.predict_proba(test, as_multiclass=False)
    assert p_yes.name == "yes" and p_no.name == "no"
    # Each model returns the probability of its own positive class.
    np.testing.assert_allclose(p_yes, default_binary.predict_proba(test)["yes"], rtol=1e-6)
    np.testing.assert_allclose(p_no, pos_no.predict_proba(test)["no"], rtol=1e-6)
    # Two models of the same task: P(no) from one is about 1 - P(yes) from the other.
    assert np.corrcoef(p_yes, p_no)[0, 1] < -0.9
    assert np.mean(np.abs((1 - p_yes) - p_no)) < 0.1
    assert ((p_no > 0.5) == (test["label"] == "no")).mean() > 0.8
    # Predicted labels stay labels.
    assert set(pos_no.predict(test)) <= {"yes", "no"}


def test_pos_label_changes_the_f1_score(default_binary, pos_no, test):
    f1_default = default_binary.evaluate(test, metrics="f1")["f1"]
    f1_no = pos_no.evaluate(test, metrics="f1")["f1"]
    y = test["label"]
    assert f1_default == pytest.approx(f1_score(y, default_binary.predict(test), pos_label="yes"))
    assert f1_no == pytest.approx(f1_score(y, pos_no.predict(test), pos_label="no"))
    assert abs(f1_default - f1_no) > 1e-3
    # Swapping pos_label on the same predictions gives the other f1 (so it is the key, not the model, that matters).
    assert f1_score(y, pos_no.predict(test), pos_label="yes") != pytest.approx(f1_no)


def test_pos_label_is_saved_and_reloaded(pos_no, test):
    label = processors(pos_no)["label"]
    assert label["pos_label"] == "no" and label["classes"] == ["yes", "no"]
    reloaded = MultiModalPredictor.load(pos_no.path)
    assert reloaded.positive_class == "no"
    np.testing.assert_allclose(reloaded.predict_proba(test, as_multiclass=False),
                               pos_no.predict_proba(test, as_multiclass=False), atol=1e-4)


# ---------------------------------------------------------------- unseen categories at predict time

def test_unseen_categories_at_predict_time(default_binary, test):
    assert processors(default_binary)["features"]["processors"]["categorical"]["categories"]["color"] == ["blue", "green", "red"]
    unseen = test.assign(color=np.where(np.arange(len(test)) % 2 == 0, "purple", test["color"]))
    missing = test.assign(color=np.where(np.arange(len(test)) % 2 == 0, None, test["color"]))
    proba = default_binary.predict_proba(unseen, as_pandas=False)
    assert proba.shape == (len(test), 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    # An unseen category is treated like a missing one (code 0) ...
    np.testing.assert_allclose(proba, default_binary.predict_proba(missing, as_pandas=False), rtol=1e-6)
    # ... and differs from the known category it replaced, where the model uses the category.
    known = default_binary.predict_proba(test, as_pandas=False)
    assert not np.allclose(proba[::2], known[::2], atol=1e-3)
    np.testing.assert_allclose(proba[1::2], known[1::2], rtol=1e-6)
    # A column of only unseen values, with a numerical dtype, also works.
    numbers = test.assign(color=3.5)
    assert set(default_binary.predict(numbers)) <= {"yes", "no"}
    assert default_binary.evaluate(unseen, metrics="accuracy")["accuracy"] > 0.6
