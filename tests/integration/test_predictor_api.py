"""MultiModalPredictor end to end: scores on scikit-learn's bundled data, model.names variants, the prediction API,
fit_summary, properties, and save / load."""

import logging
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

from automodal import MultiModalPredictor
from automodal.errors import AutomodalError, ConfigError
from automodal.models.net import select_models
from conftest import FAST, fast, record_calls



def split(frame, label, stratify=True):
    return train_test_split(frame, test_size=0.25, random_state=0, stratify=frame[label] if stratify else None)


def fitted(train, label, path, **keys):
    predictor = MultiModalPredictor(label=label, path=str(path), verbosity=0)
    returned = predictor.fit(train, hyperparameters=fast(**keys))
    assert returned is predictor
    return predictor


# ---------------------------------------------------------------- scikit-learn's bundled data

@pytest.fixture(scope="module")
def cancer(tmp_path_factory):
    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    train, test = split(frame, "target")
    predictor = MultiModalPredictor(label="target", eval_metric="roc_auc", path=str(tmp_path_factory.mktemp("bc")),
                                    verbosity=0)
    predictor.fit(train, hyperparameters=FAST)
    return predictor, train, test


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    train, test = split(load_wine(as_frame=True).frame, "target")
    return fitted(train, "target", tmp_path_factory.mktemp("wine"), **{"optimization.max_epochs": 15}), train, test


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    train, test = split(load_diabetes(as_frame=True).frame, "target", stratify=False)
    return fitted(train, "target", tmp_path_factory.mktemp("diabetes")), train, test


def test_breast_cancer_binary_beats_chance(cancer):
    predictor, train, test = cancer
    assert predictor.problem_type == "binary"
    assert predictor.eval_metric == "roc_auc"
    assert predictor.class_labels == ["benign", "malignant"]
    scores = predictor.evaluate(test, metrics=["roc_auc", "accuracy"])
    majority = test["target"].value_counts(normalize=True).max()
    assert scores["roc_auc"] > 0.97                   # chance: 0.5
    assert scores["accuracy"] > majority + 0.25       # majority class: about 0.63


def test_wine_multiclass_beats_the_majority_class(wine):
    predictor, train, test = wine
    assert predictor.problem_type == "multiclass"
    assert predictor.eval_metric == "accuracy"
    assert predictor.class_labels == [0, 1, 2]
    accuracy = predictor.evaluate(test)["accuracy"]
    majority = (test["target"] == train["target"].mode()[0]).mean()
    assert majority < 0.45
    assert accuracy > 0.85
    predictions = predictor.predict(test)
    assert predictions.dtype.kind == "i"                        # integer labels come back as integers
    assert accuracy == pytest.approx(accuracy_score(test["target"], predictions))


def test_diabetes_regression_beats_predicting_the_mean(diabetes):
    predictor, train, test = diabetes
    assert predictor.problem_type == "regression"
    assert predictor.eval_metric == "rmse"
    assert predictor.class_labels is None
    baseline = float(np.sqrt(((test["target"] - train["target"].mean()) ** 2).mean()))
    scores = predictor.evaluate(test, metrics=["rmse", "mae", "r2"])
    assert scores["rmse"] < 0.9 * baseline        # a linear model reaches about 0.8 * baseline here
    assert scores["r2"] > 0.15
    predictions = predictor.predict(test)
    assert predictions.dtype.kind == "f"
    # Predictions are on the label's own scale (the label scaler is inverted).
    assert abs(predictions.mean() - test["target"].mean()) < 0.25 * test["target"].std()
    assert scores["rmse"] == pytest.approx(float(np.sqrt(((predictions - test["target"]) ** 2).mean())))
    assert scores["mae"] == pytest.approx(mean_absolute_error(test["target"], predictions))
    assert scores["r2"] == pytest.approx(r2_score(test["target"], predictions))
    with pytest.raises(AutomodalError, match="classification"):
        predictor.predict_proba(test)


def test_multiclass_probabilities(wine):
    predictor, _, test = wine
    proba = predictor.predict_proba(test)
    assert isinstance(proba, pd.DataFrame)
    assert proba.shape == (len(test), 3) and list(proba.columns) == [0, 1, 2]
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    # as_multiclass=False only narrows binary tasks.
    assert predictor.predict_proba(test, as_multiclass=False).shape == (len(test), 3)
    assert (predictor.predict(test).to_numpy() == proba.to_numpy().argmax(axis=1)).all()


@pytest.mark.parametrize("which", ["cancer", "wine", "diabetes"])
def test_reload_predicts_identically_on_each_problem_type(which, request):
    predictor, _, test = request.getfixturevalue(which)
    loaded = MultiModalPredictor.load(predictor.path)
    assert loaded.problem_type == predictor.problem_type
    assert np.array_equal(loaded.predict(test).to_numpy(), predictor.predict(test).to_numpy())
    assert loaded.evaluate(test) == predictor.evaluate(test)


# ---------------------------------------------------------------- model.names

def test_select_models_drops_absent_modalities_and_adds_fusion_only_for_several_backbones():
    default = ["hf_text", "timm_image", "clip", "categorical_mlp", "numerical_mlp", "fusion_mlp"]
    both = {"x": "numerical", "c": "categorical"}
    assert select_models(default, both) == ({"categorical_mlp": ("categorical",), "numerical_mlp": ("numerical",)},
                                            "fusion_mlp")
    assert select_models(default, {"x": "numerical"}) == ({"numerical_mlp": ("numerical",)}, None)
    assert select_models(default, {"c": "categorical"}) == ({"categorical_mlp": ("categorical",)}, None)
    assert select_models(["numerical_mlp", "fusion_mlp"], both) == ({"numerical_mlp": ("numerical",)}, None)
    transformers = ["categorical_transformer", "numerical_transformer", "fusion_transformer"]
    assert list(select_models(transformers, both)[0]) == transformers[:2]
    assert select_models(transformers, both)[1] == "fusion_transformer"


def test_clip_reads_the_images_and_text_no_dedicated_backbone_reads():
    default = ["hf_text", "timm_image", "clip", "categorical_mlp", "numerical_mlp", "fusion_mlp"]
    types = {"review": "text", "photo": "image_path", "x": "numerical"}
    reads, fusion = select_models(default, types)
    assert list(reads) == ["hf_text", "timm_image", "numerical_mlp"] and fusion == "fusion_mlp"
    reads, _ = select_models(["hf_text", "clip", "numerical_mlp", "fusion_mlp"], types)
    assert reads["clip"] == ("image_path",) and reads["hf_text"] == ("text",)
    reads, _ = select_models(["timm_image", "clip", "numerical_mlp", "fusion_mlp"], types)
    assert reads["clip"] == ("text",) and reads["timm_image"] == ("image_path",)
    reads, _ = select_models(["clip", "numerical_mlp", "fusion_mlp"], types)
    assert reads["clip"] == ("image_path", "text")
    assert select_models(["clip"], {"photo": "image_path"}) == ({"clip": ("image_path",)}, None)
    with pytest.raises(ConfigError, match="no model for the column types"):
        select_models(["clip"], {"x": "numerical"})


def test_an_untrained_clip_is_reported_only_when_the_user_listed_it(caplog):
    types = {"review": "text", "photo": "image_path"}
    names = ["hf_text", "timm_image", "clip", "fusion_mlp"]
    with caplog.at_level(logging.INFO, logger="automodal"):
        select_models(names, types, names_given=False)
        assert "'clip' is not trained" not in caplog.text
        select_models(names, types, names_given=True)
        assert "'clip' is not trained: hf_text, timm_image read its column types" in caplog.text


def mixed(n=400, seed=0):
    """Binary task that needs both a numerical and a categorical column."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = 2 * x1 - x2 + np.where(color == "red", 2.0, -1.0)
    return pd.DataFrame({"x1": x1, "x2": x2, "color": color,
                         "label": np.where(logit + rng.normal(scale=0.5, size=n) > 0, "yes", "no")})


@pytest.fixture(scope="module")
def mixed_split():
    frame = mixed(500)
    return frame.iloc[:400], frame.iloc[400:]


TINY_FT = {"model.ft_transformer.num_blocks": 1, "model.ft_transformer.token_dim": 8,
           "model.ft_transformer.hidden_size": 16, "model.ft_transformer.ffn_hidden_size": 16}


@pytest.mark.parametrize("names, keys, models, embedding_dim", [
    (["categorical_mlp", "numerical_mlp", "fusion_mlp"], {"model.fusion_mlp.hidden_size": 24},
     ["categorical_mlp", "numerical_mlp", "fusion_mlp"], 24),
    (["categorical_transformer", "numerical_transformer", "fusion_transformer"], TINY_FT,
     ["categorical_transformer", "numerical_transformer", "fusion_transformer"], 16),
    (["categorical_transformer", "numerical_mlp", "fusion_mlp"], {**TINY_FT, "model.fusion_mlp.hidden_size": 20},
     ["categorical_transformer", "numerical_mlp", "fusion_mlp"], 20),
    (["hf_text", "timm_image", "clip", "categorical_mlp", "numerical_mlp", "fusion_mlp"],
     {"model.fusion_mlp.hidden_size": 12}, ["categorical_mlp", "numerical_mlp", "fusion_mlp"], 12),
], ids=["mlp", "transformer", "transformer+mlp", "default-names"])
def test_model_names_variants_train_the_named_models(mixed_split, tmp_path, names, keys, models, embedding_dim):
    train, test = mixed_split
    predictor = fitted(train, "label", tmp_path / "model", **{"model.names": names, **keys})
    summary = predictor.fit_summary()
    assert summary["models"] == models
    assert list(predictor._learner.model.net.backbones) == models[:-1]
    assert predictor.extract_embedding(test).shape == (len(test), embedding_dim)
    assert predictor.evaluate(test)["roc_auc"] > 0.9


def test_one_remaining_backbone_gets_no_fusion_model(mixed_split, tmp_path):
    train, test = mixed_split
    numeric_only = train.drop(columns=["color"])
    predictor = fitted(numeric_only, "label", tmp_path / "model",
                       **{"model.names": ["categorical_mlp", "numerical_mlp", "fusion_mlp"],
                          "model.numerical_mlp.hidden_size": 16})
    assert predictor.fit_summary()["models"] == ["numerical_mlp"]
    assert predictor._learner.model.net.fusion is None
    assert predictor.column_types == {"x1": "numerical", "x2": "numerical"}
    assert predictor.extract_embedding(test).shape == (len(test), 16)
    assert predictor.evaluate(test)["roc_auc"] > 0.75


def test_columns_of_a_modality_without_a_model_are_not_used(mixed_split, tmp_path):
    train, test = mixed_split
    predictor = fitted(train, "label", tmp_path / "model", **{"model.names": ["numerical_mlp", "fusion_mlp"]})
    assert predictor.fit_summary()["models"] == ["numerical_mlp"]
    recoloured = test.assign(color="red")
    assert np.array_equal(predictor.predict_proba(recoloured).to_numpy(), predictor.predict_proba(test).to_numpy())


# ---------------------------------------------------------------- the prediction API on one fitted predictor

@pytest.fixture(scope="module")
def binary(mixed_split, tmp_path_factory):
    train, test = mixed_split
    predictor = MultiModalPredictor(label="label", path=str(tmp_path_factory.mktemp("binary") / "model"), verbosity=0)
    returned = predictor.fit(train, hyperparameters=fast(**{"model.fusion_mlp.hidden_size": 24,
                                                            "model.ensemble_size": 8}))
    assert returned is predictor
    return predictor, test


def test_properties(binary):
    predictor, _ = binary
    assert predictor.label == "label"
    assert predictor.problem_type == "binary"
    assert predictor.eval_metric == "roc_auc"
    assert predictor.class_labels == ["no", "yes"]
    assert predictor.positive_class == "yes"
    assert predictor.column_types == {"x1": "numerical", "x2": "numerical", "color": "categorical"}
    assert os.path.isdir(predictor.path)


def test_predict(binary):
    predictor, test = binary
    shuffled = test.sample(frac=1, random_state=1)
    predictions = predictor.predict(shuffled)
    assert isinstance(predictions, pd.Series)
    assert predictions.name == "label"
    assert predictions.index.equals(shuffled.index)
    assert set(predictions) <= {"no", "yes"}
    assert (predictions == shuffled["label"]).mean() > 0.85
    array = predictor.predict(shuffled, as_pandas=False)
    assert isinstance(array, np.ndarray) and array.shape == (len(test),)
    assert (array == predictions.to_numpy()).all()


def test_predict_proba(binary):
    predictor, test = binary
    proba = predictor.predict_proba(test)
    assert isinstance(proba, pd.DataFrame)
    assert list(proba.columns) == ["no", "yes"] and proba.index.equals(test.index)
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert ((proba >= 0) & (proba <= 1)).all().all()
    assert (predictor.predict(test) == proba.idxmax(axis=1)).all()

    array = predictor.predict_proba(test, as_pandas=False)
    assert isinstance(array, np.ndarray) and array.shape == (len(test), 2)
    assert np.array_equal(array, proba.to_numpy())

    positive = predictor.predict_proba(test, as_multiclass=False)
    assert isinstance(positive, pd.Series) and positive.name == "yes"
    assert np.array_equal(positive.to_numpy(), proba["yes"].to_numpy())
    positive_array = predictor.predict_proba(test, as_pandas=False, as_multiclass=False)
    assert isinstance(positive_array, np.ndarray) and positive_array.shape == (len(test),)


def test_evaluate_with_a_list_of_metrics(binary):
    predictor, test = binary
    scores = predictor.evaluate(test, metrics=["roc_auc", "accuracy", "log_loss", "f1"])
    assert list(scores) == ["roc_auc", "accuracy", "log_loss", "f1"]
    proba = predictor.predict_proba(test)
    truth = (test["label"] == "yes").astype(int)
    assert scores["roc_auc"] == pytest.approx(roc_auc_score(truth, proba["yes"]))
    assert scores["accuracy"] == pytest.approx(accuracy_score(test["label"], predictor.predict(test)))
    assert scores["log_loss"] == pytest.approx(log_loss(truth, proba.to_numpy()), rel=1e-5)
    assert scores["roc_auc"] > 0.9
    assert predictor.evaluate(test) == {"roc_auc": scores["roc_auc"]}          # default: the eval_metric
    assert predictor.evaluate(test, metrics="accuracy") == {"accuracy": scores["accuracy"]}
    with_pred, predictions = predictor.evaluate(test, metrics=["accuracy"], return_pred=True)
    assert with_pred == {"accuracy": scores["accuracy"]}
    assert (predictions == predictor.predict(test)).all()


def test_extract_embedding(binary):
    predictor, test = binary
    embedding = predictor.extract_embedding(test)
    assert isinstance(embedding, np.ndarray)
    assert embedding.shape == (len(test), 24)          # model.fusion_mlp.hidden_size
    as_frame = predictor.extract_embedding(test, as_pandas=True)
    assert isinstance(as_frame, pd.DataFrame) and as_frame.index.equals(test.index)
    assert np.array_equal(as_frame.to_numpy(), embedding)
    # The network is an ensemble of 8 members (model.ensemble_size): the embedding is their mean feature, and the
    # prediction is the mean of what each member's head makes of its own feature (on top of the linear start).
    net = predictor._learner.model.net
    batch = {k: torch.from_numpy(v) for k, v in predictor._learner.model.pipeline.transform(test).items()}
    with torch.no_grad():
        fused = net._fused(batch)
        member_proba = torch.softmax(net.head(fused) + net.linear_start(batch).unsqueeze(1), dim=-1)
    assert fused.shape == (len(test), 8, 24)
    assert np.allclose(fused.mean(dim=1).numpy(), embedding, atol=1e-5)
    assert np.allclose(member_proba.mean(dim=1).numpy(), predictor.predict_proba(test, as_pandas=False), atol=1e-5)


def test_a_single_network_embeds_what_its_head_sees(mixed_split, tmp_path):
    train, test = mixed_split
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "model"), verbosity=0).fit(
        train, hyperparameters=fast(**{"optimization.max_epochs": 2}))      # model.ensemble_size 1 by default
    embedding = predictor.extract_embedding(test)
    net = predictor._learner.model.net
    batch = {k: torch.from_numpy(v) for k, v in predictor._learner.model.pipeline.transform(test).items()}
    with torch.no_grad():       # the head's logits add to the linear start's
        logits = net.head(torch.from_numpy(embedding)) + net.linear_start(batch)
    assert np.allclose(torch.softmax(logits, dim=1).numpy(), predictor.predict_proba(test, as_pandas=False),
                       atol=1e-5)


def test_fit_summary_contents(binary):
    predictor, _ = binary
    summary = predictor.fit_summary()
    for key in ("problem_type", "eval_metric", "val_score", "checkpoints", "soup", "checkpoints_averaged",
                "epochs", "global_step", "stop_reason", "train_rows", "tuning_rows", "models", "num_parameters",
                "trainable_parameters", "column_types", "config"):
        assert key in summary, key
    assert summary["problem_type"] == "binary" and summary["eval_metric"] == "roc_auc"
    assert 0.9 < summary["val_score"] <= 1
    assert summary["train_rows"] + summary["tuning_rows"] == 400
    assert summary["tuning_rows"] == 80                 # holdout 20% below 500 rows
    assert summary["models"] == ["categorical_mlp", "numerical_mlp", "fusion_mlp"]
    assert summary["num_parameters"] == sum(p.numel() for p in predictor._learner.model.net.parameters())
    config = summary["config"]
    # The resolved configuration: defaults, then the hyperparameters given to fit().
    assert config["optimization"]["learning_rate"] == FAST["optimization.learning_rate"]
    assert config["env"]["per_gpu_batch_size"] == 32
    assert config["model"]["fusion_mlp"]["hidden_size"] == 24
    assert config["optimization"]["optim_type"] == "adamw"                # an untouched default
    # a default chosen for the data, with its reason; keys given to fit() are never among them
    assert config["optimization"]["lr_choice"] == "" and "from scratch" in summary["chosen_defaults"][
        "optimization.lr_choice"]["reason"]
    assert not set(summary["chosen_defaults"]) & set(FAST)
    assert config == predictor.config


# ---------------------------------------------------------------- save and load

SAVED_SUFFIXES = (".yaml", ".json", ".safetensors", ".csv")


def test_save_then_load_predicts_identically(binary, tmp_path, monkeypatch):
    predictor, test = binary
    target = tmp_path / "saved"
    assert predictor.save(str(target)) is predictor
    assert predictor.path == str(target)

    def refuse(*args, **kwargs):
        raise AssertionError("loading a predictor must not unpickle anything")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = MultiModalPredictor.load(str(target))
    monkeypatch.undo()

    assert np.array_equal(loaded.predict_proba(test).to_numpy(), predictor.predict_proba(test).to_numpy())
    assert (loaded.predict(test) == predictor.predict(test)).all()
    assert np.array_equal(loaded.extract_embedding(test), predictor.extract_embedding(test))
    assert loaded.evaluate(test, metrics=["roc_auc", "accuracy"]) == \
        predictor.evaluate(test, metrics=["roc_auc", "accuracy"])
    for name in ("label", "problem_type", "eval_metric", "class_labels", "positive_class", "column_types"):
        assert getattr(loaded, name) == getattr(predictor, name), name
    assert loaded.fit_summary() == predictor.fit_summary()
    # save() carries the training log along, from a fitted predictor and from a loaded one.
    assert "val_score" in pd.read_csv(target / "training_log.csv").columns
    loaded.save(str(tmp_path / "again"))
    assert (tmp_path / "again" / "training_log.csv").read_bytes() == (target / "training_log.csv").read_bytes()


def test_saved_directory_holds_only_plain_data_files(binary):
    predictor, _ = binary
    names = sorted(os.listdir(predictor.path))
    assert {"config.yaml", "automodal.json", "processors.json", "model.safetensors", "training_log.csv"} <= set(names)
    for name in names:
        path = os.path.join(predictor.path, name)
        if name == "tensorboard":       # the default logger's event files (training.tracking)
            assert all(f.startswith("events.out.tfevents") or f == "hparams.yaml" for f in os.listdir(path))
            continue
        assert os.path.isfile(path), name
        assert name.endswith(SAVED_SUFFIXES), name
        with open(path, "rb") as f:
            head = f.read(9)
        if name.endswith(".safetensors"):                # an 8-byte header length, then the JSON header
            assert head[8:9] == b"{", name
        else:
            assert not head.startswith(b"\x80"), name  # pickle protocol 2+
        assert not head.startswith(b"PK"), name        # torch.save zip archives
    # No staging or backup directories are left beside it.
    parent = os.path.dirname(predictor.path)
    assert [n for n in os.listdir(parent) if n.startswith(".automodal-save") or n.endswith(".previous")] == []


def test_fit_leaves_no_scratch_directory(mixed_split, tmp_path, monkeypatch):
    import tempfile

    created = record_calls(monkeypatch, tempfile, "mkdtemp")
    train, _ = mixed_split
    predictor = fitted(train, "label", tmp_path / "model", **{"optimization.max_epochs": 1})
    scratch = [p for p in created if os.path.basename(p).startswith("automodal-fit-")]
    assert len(scratch) == 1
    assert not os.path.exists(scratch[0])                 # checkpoints and logs removed once saved
    assert os.path.exists(os.path.join(predictor.path, "training_log.csv"))


def test_saving_over_an_earlier_model_replaces_it_but_not_files_saving_did_not_write(binary, tmp_path, monkeypatch):
    predictor, test = binary
    target = tmp_path / "model"
    copy = MultiModalPredictor.load(predictor.path)          # saving moves a predictor's path: use a copy
    copy.save(str(target))
    (target / "notes.txt").write_text("mine")
    with pytest.raises(AutomodalError, match="notes.txt"):
        copy.save(str(target))
    assert (target / "notes.txt").read_text() == "mine"
    (target / "notes.txt").unlink()
    copy.save(str(target))
    loaded = MultiModalPredictor.load(str(target))
    assert np.array_equal(loaded.predict_proba(test).to_numpy(), predictor.predict_proba(test).to_numpy())
    link = tmp_path / "link"                                 # a link to a predictor: its target is replaced
    link.symlink_to(target)
    copy.save(str(link))
    assert link.is_symlink() and not os.path.exists(str(link) + ".previous")
    assert MultiModalPredictor.load(str(link)).class_labels == predictor.class_labels
    monkeypatch.chdir(target)
    with pytest.raises(AutomodalError, match="working directory"):
        copy.save(".")


def test_chunked_prediction_of_a_file_equals_in_memory_prediction(mixed_frame, tmp_path):
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "model"), verbosity=0).fit(
        mixed_frame, hyperparameters=fast(**{"optimization.max_epochs": 2}))
    rows = mixed_frame.drop(columns="label")
    for suffix in ("csv", "parquet"):
        source = tmp_path / f"rows.{suffix}"
        rows.to_csv(source, index=False) if suffix == "csv" else rows.to_parquet(source, index=False)
        expected = predictor.predict_proba(rows)
        gathered = predictor.predict_proba(str(source), chunk_size=37)
        np.testing.assert_allclose(gathered.to_numpy(), expected.to_numpy(), atol=1e-6)
        assert list(gathered.index) == list(range(len(rows)))
        out = tmp_path / f"labels.{suffix}"
        assert predictor.predict(str(source), output_path=str(out), chunk_size=50) == str(out)
        written = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
        assert list(written["row"]) == list(range(len(rows)))
        assert (written["label"].astype(str).to_numpy() == predictor.predict(rows).astype(str).to_numpy()).all()
    with pytest.raises(AutomodalError, match="pass the path of a CSV or Parquet file"):
        predictor.predict(rows, chunk_size=10)


def test_int8_prediction_is_kept_only_within_the_tolerance(mixed_frame, tmp_path):
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "q"), verbosity=0).fit(
        mixed_frame.iloc[:300], hyperparameters=fast(**{"optimization.max_epochs": 3}))
    held_out = mixed_frame.iloc[300:]
    float_proba = predictor.predict_proba(held_out).to_numpy()
    refused = predictor.optimize_for_inference(held_out, tolerance=-1.0)     # nothing can be that close
    assert refused["kept"] is False and predictor._learner.model.fast_net is None
    report = predictor.optimize_for_inference(held_out, tolerance=0.05)
    assert report["kept"] is True and predictor._learner.model.fast_net is not None
    assert abs(report["scores_int8"]["roc_auc"] - report["scores_float"]["roc_auc"]) <= 0.05
    int8_proba = predictor.predict_proba(held_out).to_numpy()
    assert not np.array_equal(int8_proba, float_proba)                   # the int8 network predicts now
    np.testing.assert_allclose(int8_proba, float_proba, atol=0.1)
    predictor.save(str(tmp_path / "saved"))                              # the float weights are saved
    np.testing.assert_allclose(MultiModalPredictor.load(str(tmp_path / "saved")).predict_proba(held_out).to_numpy(),
                               float_proba, atol=1e-6)
