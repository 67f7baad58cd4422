"""optimization.bag_folds: k networks, each tuned on another fold of train_data, averaged into one model."""

import time

import numpy as np
import pandas as pd
import pytest

from automodal import MultiModalPredictor
from automodal.errors import ConfigError, DataError
from automodal.inference import FittedModel
from automodal.models.fold_bag import FoldBag
from automodal.models.net import MultimodalNet
from conftest import FAST, fast

NOT_CHOSEN = {k: v for k, v in FAST.items() if k != "optimization.bag_folds"}    # left to the data


def fit(frame, tmp_path, label, name="model", hyperparameters=NOT_CHOSEN, **fit_args):
    return MultiModalPredictor(label=label, path=str(tmp_path / name), verbosity=0).fit(
        frame, hyperparameters=hyperparameters, **fit_args)


def each_network(predictor, frame, proba=False) -> list:
    """Every network of the bag on its own, through the bag's processors."""
    model = predictor._learner.model
    outputs = []
    for net in model.net.nets:
        alone = FittedModel.from_config(net, model.pipeline, model.label_processor, model.problem_type,
                                        predictor._learner.config)
        outputs.append(alone.outputs(frame))
    return outputs


def test_a_small_regression_averages_five_networks_each_tuned_on_another_fold(regression_frame, tmp_path):
    predictor = fit(regression_frame, tmp_path, "y")
    summary = predictor.fit_summary()
    assert summary["bag_folds"] == 5 and summary["chosen_defaults"]["optimization.bag_folds"]["value"] == 5
    assert "300 rows" in summary["chosen_defaults"]["optimization.bag_folds"]["reason"]
    folds = summary["folds"]
    assert [f["train_rows"] + f["tuning_rows"] for f in folds] == [300] * 5
    assert sum(f["tuning_rows"] for f in folds) == 300           # every row tunes exactly one network
    assert all(f["head_scale"] in (0.5, 0.75, 1.0) for f in folds)
    net = predictor._learner.model.net
    assert isinstance(net, FoldBag) and len(net.nets) == 5
    assert all(isinstance(n, MultimodalNet) for n in net.nets)
    predicted = predictor.predict(regression_frame)
    assert np.allclose(predicted, np.mean(each_network(predictor, regression_frame), axis=0), atol=1e-4)
    # the tuning score is that of the out-of-fold predictions, all 300 rows
    assert 0 < summary["val_score"] < regression_frame["y"].std()
    loaded = MultiModalPredictor.load(str(tmp_path / "model"))
    assert np.allclose(loaded.predict(regression_frame), predicted, atol=1e-6)
    width = net.nets[0].feature_width
    assert predictor.extract_embedding(regression_frame.head(4)).shape == (4, 5 * width)


def test_bag_folds_set_for_a_classification_averages_probabilities_and_exports(mixed_frame, tmp_path):
    predictor = fit(mixed_frame, tmp_path, "label", hyperparameters=fast(**{"optimization.bag_folds": 3}))
    summary = predictor.fit_summary()
    assert summary["bag_folds"] == 3 and "optimization.bag_folds" not in summary["chosen_defaults"]
    assert sorted(f["tuning_rows"] for f in summary["folds"]) == [133, 133, 134]
    proba = predictor.predict_proba(mixed_frame)
    assert np.allclose(proba.to_numpy(), np.mean(each_network(predictor, mixed_frame), axis=0), atol=1e-5)
    assert predictor.evaluate(mixed_frame)["roc_auc"] > 0.85
    pytest.importorskip("onnxruntime")
    from automodal.onnx_predictor import OnnxPredictor

    predictor.export_onnx(mixed_frame.head(4), path=str(tmp_path / "onnx"))
    assert np.allclose(OnnxPredictor(str(tmp_path / "onnx")).predict_proba(mixed_frame), proba, atol=1e-4)


def test_bagging_is_left_out_where_it_does_not_apply(regression_frame, tmp_path):
    one = fit(regression_frame, tmp_path, "y", "zero", hyperparameters=fast())          # bag_folds 0
    assert one.fit_summary()["bag_folds"] == 0 and isinstance(one._learner.model.net, MultimodalNet)
    assert one.fit_summary()["tuning_rows"] == 60
    tuned = fit(regression_frame.iloc[:240], tmp_path, "y", "tuned", tuning_data=regression_frame.iloc[240:])
    assert tuned.fit_summary()["bag_folds"] == 0 and "optimization.bag_folds" not in \
        tuned.fit_summary()["chosen_defaults"]
    rng = np.random.default_rng(0)
    large = pd.DataFrame({"x": rng.normal(size=1100)}).assign(y=lambda f: f.x + rng.normal(size=1100))
    assert fit(large, tmp_path, "y", "large").fit_summary()["bag_folds"] == 0
    classes = large.assign(y=lambda f: np.where(f.y > 0, "up", "down"))
    assert fit(classes, tmp_path, "y", "large_classes").fit_summary()["bag_folds"] == 0


def test_a_small_classification_averages_the_probabilities_of_five_networks(mixed_frame, tmp_path):
    predictor = fit(mixed_frame, tmp_path, "label")
    summary = predictor.fit_summary()
    assert summary["bag_folds"] == 5 and "a table of 400 rows" in \
        summary["chosen_defaults"]["optimization.bag_folds"]["reason"]
    assert sorted(f["tuning_rows"] for f in summary["folds"]) == [80] * 5     # by class: 80 rows each
    proba = predictor.predict_proba(mixed_frame.head(50))
    assert np.allclose(proba.to_numpy(), np.mean(each_network(predictor, mixed_frame.head(50)), axis=0), atol=1e-5)


def test_bag_folds_that_cannot_be_trained_say_why(regression_frame, tmp_path):
    with pytest.raises(ConfigError, match="optimization.bag_folds is 1; use 0"):
        fit(regression_frame, tmp_path, "y", hyperparameters=fast(**{"optimization.bag_folds": 1}))
    with pytest.raises(ConfigError, match="bag_folds is 5, but tuning_data is given"):
        fit(regression_frame.iloc[:240], tmp_path, "y", hyperparameters=fast(**{"optimization.bag_folds": 5}),
            tuning_data=regression_frame.iloc[240:])
    with pytest.raises(DataError, match="has 30 rows; each fold needs at least 2"):
        fit(regression_frame.head(30), tmp_path, "y", hyperparameters=fast(**{"optimization.bag_folds": 20}))
    with pytest.raises(ConfigError, match="bag_folds"):
        fit(regression_frame, tmp_path, "y", hyperparameters=fast(**{"optimization.bag_folds": -2}))
    assert not (tmp_path / "model").exists()


def test_the_folds_share_the_time_limit(regression_frame, tmp_path):
    started = time.time()
    predictor = fit(regression_frame, tmp_path, "y", time_limit=5, hyperparameters={
        **NOT_CHOSEN, "optimization.max_epochs": 1000, "optimization.patience": 100000})
    assert time.time() - started < 20
    assert [f["stop_reason"] for f in predictor.fit_summary()["folds"]] == ["time_limit"] * 5
    assert predictor.predict(regression_frame.head(3)).notna().all()


def test_a_fit_from_a_bagged_model_starts_from_its_first_network(regression_frame, tmp_path):
    bagged = fit(regression_frame, tmp_path, "y")
    again = MultiModalPredictor(label="y", path=str(tmp_path / "again"), verbosity=0).fit(
        regression_frame, init_from=bagged, freeze_backbone=True, hyperparameters={"optimization.max_epochs": 2})
    assert again.fit_summary()["bag_folds"] == 0     # the bag chosen for the first fit does not linger
    assert again._learner.config["optimization.bag_folds"] == 0 and not again._learner.config.chosen("optimization.bag_folds")
    first = bagged._learner.model.net.nets[0].state_dict()
    kept = {k: v for k, v in again._learner.model.net.state_dict().items() if not k.startswith("head.")}
    assert kept and all(np.allclose(v, first[k]) for k, v in kept.items())


def test_a_small_regression_with_text_bags_its_built_in_text_model(tmp_path):
    rng = np.random.default_rng(0)
    words = rng.choice(["good", "bad", "fine", "plain"], size=240)
    frame = pd.DataFrame({"note": [f"{w} item number {i % 7}" for i, w in enumerate(words)],
                          "size": rng.normal(size=240)})
    frame["y"] = np.where(words == "good", 3.0, np.where(words == "bad", -3.0, 0.0)) + frame["size"] \
        + rng.normal(scale=0.3, size=240)
    predictor = fit(frame.iloc[:200], tmp_path, "y", hyperparameters={
        **NOT_CHOSEN, "model.names": ["hashed_text", "numerical_mlp", "fusion_mlp"], "optimization.max_epochs": 30})
    assert predictor.fit_summary()["bag_folds"] == 5 and "hashed_text" in predictor.fit_summary()["models"]
    test = frame.iloc[200:]
    assert np.allclose(predictor.predict(test), np.mean(each_network(predictor, test), axis=0), atol=1e-4)
    assert predictor.evaluate(test, metrics=["r2"])["r2"] > 0.8
