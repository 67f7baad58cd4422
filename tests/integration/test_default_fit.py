"""A default fit (no hyperparameters) on real tables: scores near a one-line scikit-learn baseline, values chosen
for the data with the user's and presets' keys kept, text read offline, no crash when validations share a step."""

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from automodal import MultiModalPredictor
from automodal.errors import CheckpointNotFoundError, ConfigError
from text_helpers import review


def split(loader, stratify=True):
    frame = loader(as_frame=True).frame.rename(columns={"target": "label"})
    return train_test_split(frame, test_size=0.3, random_state=0, stratify=frame["label"] if stratify else None)


def default_fit(train, tmp_path, **fit_args):
    return MultiModalPredictor(label="label", path=str(tmp_path / "model"), verbosity=0).fit(train, **fit_args)


def baseline(model, train, test):
    fitted = make_pipeline(StandardScaler(), model).fit(train.drop(columns="label"), train["label"])
    return fitted, test.drop(columns="label")


def test_breast_cancer_default_fit_matches_logistic_regression(tmp_path):
    train, test = split(load_breast_cancer)
    predictor = default_fit(train, tmp_path)
    ours = roc_auc_score(test["label"], predictor.predict_proba(test).iloc[:, 1])
    fitted, x = baseline(LogisticRegression(max_iter=1000), train, test)
    theirs = roc_auc_score(test["label"], fitted.predict_proba(x)[:, 1])
    assert ours >= theirs - 0.015, (ours, theirs)        # it was 0.53 with the fine-tuning defaults
    chosen = predictor.fit_summary()["chosen_defaults"]
    assert {"optimization.learning_rate", "env.batch_size", "optimization.max_epochs"} <= set(chosen)
    assert all(entry["reason"] for entry in chosen.values())
    assert chosen["model.numerical_mlp.piecewise_bins"]["value"] == 48          # a classification's numbers as steps
    assert predictor.fit_summary()["bag_folds"] == 5     # a classification of 398 rows: a bag of five (test_bagging)
    assert all(net.backbones["numerical_mlp"].piecewise is not None for net in predictor._learner.model.net.nets)


def test_wine_default_fit_matches_logistic_regression(tmp_path):
    train, test = split(load_wine)
    ours = accuracy_score(test["label"], default_fit(train, tmp_path).predict(test))
    fitted, x = baseline(LogisticRegression(max_iter=1000), train, test)
    assert ours >= accuracy_score(test["label"], fitted.predict(x)) - 0.04, ours    # one row of 54


def test_diabetes_default_fit_matches_ridge_from_its_linear_start(tmp_path):
    train, test = split(load_diabetes, stratify=False)
    predictor = default_fit(train, tmp_path)
    ours = r2_score(test["label"], predictor.predict(test))
    fitted, x = baseline(Ridge(), train, test)
    theirs = r2_score(test["label"], fitted.predict(x))
    assert ours >= theirs - 0.03, (ours, theirs)     # it was -0.40 with the fine-tuning defaults, 0.33 / 0.42 without
    assert predictor.fit_summary()["linear_start"] and predictor.fit_summary()["head_scale"] in (0.5, 0.75, 1.0)
    assert "model.numerical_mlp.piecewise_bins" not in predictor.fit_summary()["chosen_defaults"]    # smooth numbers
    without = MultiModalPredictor(label="label", path=str(tmp_path / "without"), verbosity=0).fit(
        train, hyperparameters={"model.linear_start": False})
    assert not without.fit_summary()["linear_start"]
    assert all(net.linear_start is None for net in without._learner.model.net.nets)      # a bag of five (test_bagging)
    assert without.fit_summary()["head_scale"] is None


def test_an_integer_school_id_is_read_as_categories_and_beats_reading_it_as_a_number(tmp_path):
    rng = np.random.default_rng(0)
    school, years = rng.integers(1, 41, 1600), rng.integers(0, 25, 1600)
    score = rng.normal(size=41)[school] + 0.08 * years + rng.normal(scale=0.7, size=1600)
    frame = pd.DataFrame({"school_id": school, "years": years, "label": score})
    train, test = frame.iloc[:1200], frame.iloc[1200:]
    predictor = default_fit(train, tmp_path)
    assert predictor.column_types == {"school_id": "categorical", "years": "numerical"}
    assert list(predictor.fit_summary()["integer_codes"]) == ["school_id"]
    as_number = MultiModalPredictor(label="label", path=str(tmp_path / "number"), verbosity=0).fit(
        train, column_types={"school_id": "numerical"})
    assert as_number.column_types["school_id"] == "numerical" and as_number.fit_summary()["integer_codes"] == {}
    ours, theirs = (r2_score(test["label"], p.predict(test)) for p in (predictor, as_number))
    assert ours > theirs + 0.1, (ours, theirs)       # 0.68 against 0.50


def test_numbers_written_with_question_marks_for_missing_values_stay_numbers(tmp_path):
    # UCI's files (auto-mpg's horsepower, the heart disease tables) write '?' for a number nobody measured.
    rng = np.random.default_rng(0)
    power = rng.uniform(50, 200, 300)
    mpg = 60 - 0.2 * power + rng.normal(scale=2, size=300)
    frame = pd.DataFrame({"horsepower": power.round().astype(int).astype(str), "label": mpg.round(1).astype(str)})
    frame.loc[::25, "horsepower"], frame.loc[7, "label"] = "?", "?"
    predictor = default_fit(frame.iloc[:240], tmp_path)
    assert predictor.column_types == {"horsepower": "numerical"} and predictor.problem_type == "regression"
    test = frame.iloc[240:].drop(index=[250, 275])        # scored on the rows whose horsepower is known
    assert r2_score(test["label"].astype(float), predictor.predict(test)) > 0.9
    assert predictor.predict(frame.iloc[[250]]).notna().all()      # '?' is predicted from the mean


def test_a_linear_start_on_numbers_own_scale_is_saved_loaded_and_exported(tmp_path):
    # shelf-location-like data: a class is a straight line in uniform numbers, which normal scores bend
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(0, 10, size=(600, 3)), columns=["price", "income", "age"])
    signal = frame.price - frame.income + rng.normal(scale=1.0, size=600)
    frame["label"] = np.where(signal > 2, "good", np.where(signal < -2, "bad", "medium"))
    predictor = default_fit(frame.iloc[:450], tmp_path)
    assert predictor._learner.meta["architecture"]["linear_knots"] == 32
    test = frame.iloc[450:]
    loaded = MultiModalPredictor.load(str(tmp_path / "model"))
    assert np.allclose(loaded.predict_proba(test), predictor.predict_proba(test), atol=1e-6)
    pytest.importorskip("onnxruntime")
    from automodal.onnx_predictor import OnnxPredictor

    predictor.export_onnx(test.head(4), path=str(tmp_path / "onnx"))       # checked against torch within 1e-4
    assert np.allclose(OnnxPredictor(str(tmp_path / "onnx")).predict_proba(test), predictor.predict_proba(test),
                       atol=1e-4)


@pytest.fixture
def small_table():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["label"] = np.where(x[:, 0] - x[:, 1] > 0, "yes", "no")
    return frame


def test_keys_set_by_the_user_or_a_preset_are_kept(small_table, tmp_path):
    user = {"optimization.learning_rate": 2e-3, "env.batch_size": 16}
    predictor = MultiModalPredictor(label="label", presets="best_quality", path=str(tmp_path / "m"), verbosity=0)
    predictor.fit(small_table, hyperparameters={**user, "model.names": ["numerical_mlp"]})
    config, chosen = predictor.fit_summary()["config"], predictor.fit_summary()["chosen_defaults"]
    assert config["optimization"]["learning_rate"] == 2e-3 and config["env"]["batch_size"] == 16
    assert config["optimization"]["max_epochs"] == 20                     # best_quality's value
    assert config["env"]["per_gpu_batch_size"] == 16    # chosen, but never above the batch size the user set
    assert not {"optimization.learning_rate", "env.batch_size", "optimization.max_epochs"} & set(chosen)
    assert config["env"]["num_workers"] == 0 and "env.num_workers" in chosen   # features are in memory


def test_a_metric_of_predicted_classes_is_followed_through_the_log_loss(small_table, tmp_path):
    def fitted(**kwargs):
        return MultiModalPredictor(label="label", eval_metric="accuracy", path=str(tmp_path / "m"), verbosity=0,
                                   **kwargs).fit(small_table, hyperparameters={"optimization.max_epochs": 4})

    summary = fitted().fit_summary()
    assert summary["validation_metric"] == "log_loss"
    assert summary["chosen_defaults"]["optimization.val_metric"]["value"] == "log_loss"
    kept = [c["score"] for c in summary["checkpoints"]]
    assert kept == sorted(kept) and kept[0] > 0          # log losses, the lowest first
    assert summary["eval_metric"] == "accuracy" and 0.5 <= summary["val_score"] <= 1
    # A metric the user names is followed: AUCs, the highest first, and nothing chosen for the key.
    summary = fitted(validation_metric="roc_auc").fit_summary()
    assert summary["validation_metric"] == "roc_auc" and "optimization.val_metric" not in summary["chosen_defaults"]
    kept = [c["score"] for c in summary["checkpoints"]]
    assert kept == sorted(kept, reverse=True) and all(0.5 <= k <= 1 for k in kept)
    with pytest.raises(ConfigError, match="optimization.val_metric"):
        fitted(validation_metric="rmse")


def test_pretrained_backbones_keep_the_documented_defaults():
    from automodal.config import resolve_config
    from automodal.config.data_defaults import choose_defaults

    config, chosen = choose_defaults(resolve_config(), 5000, from_scratch=False, in_memory=False)
    assert chosen == {}
    assert config["optimization.learning_rate"] == 1e-4 and config["env.per_gpu_batch_size"] == 8
    # a predictor fitted from scratch on a small table keeps its config; fitted again on text, the values chosen
    # for the table do not linger, and a key the user set stays
    table, chosen = choose_defaults(resolve_config(hyperparameters={"optimization.patience": 7}), 300, True, True,
                                    bag_rows=300)
    assert table["optimization.learning_rate"] == 1e-3 and table["env.num_workers"] == 0
    assert table["optimization.bag_folds"] == 5 and "optimization.patience" not in chosen
    again, chosen = choose_defaults(table, 5000, from_scratch=False, in_memory=False)
    assert again["optimization.learning_rate"] == 1e-4 and again["env.per_gpu_batch_size"] == 8
    assert again["env.num_workers"] == 2 and again["optimization.bag_folds"] == 0
    assert again["optimization.patience"] == 7 and chosen == {}


def test_cpu_fit_with_default_precision_gives_no_warning(small_table, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="automodal"):
        default_fit(small_table, tmp_path, hyperparameters={"optimization.max_epochs": 2})
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_validations_sharing_an_optimizer_step_do_not_break_checkpointing(small_table, tmp_path):
    """8 batches accumulate per step and validation runs every 2 batches: four validations per step."""
    predictor = default_fit(small_table, tmp_path, hyperparameters={
        "env.per_gpu_batch_size": 8, "env.batch_size": 64, "optimization.val_check_interval": 2,
        "optimization.max_epochs": 3, "optimization.top_k": 3})
    summary = predictor.fit_summary()
    assert len(summary["checkpoints"]) == 3
    steps = [c["step"] for c in summary["checkpoints"]]
    assert summary["global_step"] * 4 >= len(steps) and len(set(steps)) <= len(steps)


def reviews(n, seed):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, size=n)
    return pd.DataFrame({"review": [review(rng, bool(y)) for y in label], "stars": rng.integers(1, 6, size=n),
                         "label": np.where(label, "pos", "neg")})


def test_text_is_read_offline_by_the_built_in_model_when_the_default_checkpoint_is_missing(offline, tmp_path,
                                                                                          caplog):
    train, test = reviews(300, 0), reviews(100, 1)
    with caplog.at_level(logging.WARNING, logger="automodal"):
        predictor = default_fit(train, tmp_path)
    assert predictor.fit_summary()["models"][0] == "hashed_text"
    assert caplog.text.count("not available offline") == 1
    assert accuracy_score(test["label"], predictor.predict(test)) > 0.9
    # the classification's linear start reads the text's n-grams too, in each network of the bag (test_bagging)
    assert predictor.fit_summary()["linear_start"] and predictor.fit_summary()["bag_folds"] == 5
    for net in predictor._learner.model.net.nets:
        assert net.linear_start.text_weight is not None and net.linear_start.text_weight.any()
    loaded = MultiModalPredictor.load(predictor.path)
    assert np.array_equal(loaded.predict_proba(test).to_numpy(), predictor.predict_proba(test).to_numpy())


def test_a_named_checkpoint_that_is_missing_still_fails(offline, tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="model.hf_text.checkpoint_name"):
        default_fit(reviews(60, 0), tmp_path,
                    hyperparameters={"model.hf_text.checkpoint_name": "someone/missing-model"})
