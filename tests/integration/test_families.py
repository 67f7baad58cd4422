"""The test every problem family must pass, parametrised over the family registry (as timm's model tests run over
list_models()): fit, predict, evaluate, save, load and predict identically; what the family declares it supports
works and what it does not is refused with one clear error; the server answers a request as the predictor does."""

import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from automodal import MultiModalPredictor
from automodal.config.loader import validate_value
from automodal.errors import AutomodalError
from automodal.learners.registry import family_named, list_families
from automodal.serving.app import create_app
from family_samples import SAMPLES

FAMILIES = list_families()


def test_every_registered_family_has_a_sample():
    assert set(FAMILIES) <= set(SAMPLES), f"register a sample in tests/family_samples.py for {set(FAMILIES) - set(SAMPLES)}"


@pytest.mark.parametrize("family", FAMILIES)
def test_presets_choose_the_familys_own_keys(family):
    problem_type = family_named(family).problem_types[0]
    group = getattr(family_named(family), "config_group", "")
    default = dict(MultiModalPredictor(label="y", problem_type=problem_type).learner.config.items())
    configs = []
    for quality in ("medium_quality", "high_quality", "best_quality"):
        chosen = dict(MultiModalPredictor(label="y", problem_type=problem_type, presets=quality).learner.config.items())
        changed = [key for key in default if chosen[key] != default[key]]
        assert all(key.startswith(f"model.{group}.") for key in changed) if group else True
        configs.append(chosen)
    assert configs[0] != configs[1] != configs[2] != configs[0]


@pytest.fixture(scope="module", params=FAMILIES)
def fitted(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    sample = SAMPLES[request.param](str(root))
    predictor = MultiModalPredictor(label=sample.label, problem_type=sample.problem_type, path=str(root / "model"),
                                    hyperparameters=sample.hyperparameters, verbosity=0)
    return request.param, sample, predictor.fit(sample.train, seed=0)


def as_json(learner, frame, kind="predict"):
    return json.loads(json.dumps(learner.served(frame, kind)))


def test_fit_evaluate_save_load_and_predict_identically(fitted):
    family, sample, predictor = fitted
    assert isinstance(predictor.learner, family_named(family)) and type(predictor) is MultiModalPredictor
    scores = predictor.evaluate(sample.test, metrics=[sample.metric])
    assert scores[sample.metric] > sample.floor, scores
    assert predictor.eval_metric in predictor.evaluate(sample.test)
    summary = predictor.fit_summary()
    assert np.isfinite(summary["val_score"]) and summary["config"]
    predictions = predictor.predict(sample.test)
    assert len(predictions) == len(sample.test)
    loaded = MultiModalPredictor.load(predictor.path)
    assert type(loaded.learner) is type(predictor.learner)
    assert (loaded.label, loaded.problem_type, loaded.eval_metric, loaded.class_labels) == \
        (predictor.label, predictor.problem_type, predictor.eval_metric, predictor.class_labels)
    assert as_json(loaded.learner, sample.test) == as_json(predictor.learner, sample.test)
    assert loaded.evaluate(sample.test, metrics=[sample.metric]) == pytest.approx(scores)


def test_what_a_family_declares_works_and_the_rest_is_refused_in_one_voice(fitted, tmp_path):
    family, sample, predictor = fitted
    capabilities = predictor.learner.capabilities
    features = sample.test.drop(columns=[sample.label]).head(4)
    calls = {"predict_proba": lambda: predictor.predict_proba(features),
             "embeddings": lambda: predictor.extract_embedding(features),
             "export_onnx": lambda: predictor.export_onnx(sample.test.head(4))}
    for capability, call in calls.items():
        if getattr(capabilities, capability):
            assert len(call()) > 0
        else:
            with pytest.raises(AutomodalError, match=f"not available for {predictor.problem_type}"):
                call()
    refused = [name for name in ("column_types", "callbacks", "co_tasks") if name not in capabilities.fit_keywords]
    for name in refused:
        with pytest.raises(AutomodalError, match=f"fit\\({name}=...\\) is not available for"):
            predictor.fit(sample.train, save_path=str(tmp_path / "refused"), **{name: ["x"]})
    if not capabilities.validation_metric:
        with pytest.raises(AutomodalError, match="validation_metric is not available for .*pass eval_metric"):
            MultiModalPredictor(label=sample.label, problem_type=sample.problem_type, validation_metric="x")
    if not capabilities.devices:
        with pytest.raises(AutomodalError, match="env.num_processes asking for 2 devices is not available for"):
            predictor.fit(sample.train, save_path=str(tmp_path / "refused"), hyperparameters={"env.num_processes": 2})
    if capabilities.search:
        # a searching preset searches the family's own default space: the learning rate at least, every value
        # each space can give valid for its key
        space = type(predictor.learner).search_space()
        assert "optimization.learning_rate" in space
        for key, domain in space.items():
            for value in domain.args[0] if domain.kind == "choice" else domain.args[:2]:
                validate_value(key, value)
        MultiModalPredictor(label=sample.label, problem_type=sample.problem_type, presets="medium_quality_hpo")
    else:
        with pytest.raises(AutomodalError, match="not available for"):
            MultiModalPredictor(label=sample.label, problem_type=sample.problem_type, presets="medium_quality_hpo")


@pytest.mark.parametrize("family", FAMILIES)
def test_a_64_bit_fit_evaluates_and_predicts_in_64_bits_after_loading(family, tmp_path):
    sample = SAMPLES[family](str(tmp_path))
    keys = dict(sample.hyperparameters, **{"env.precision": 64, "env.num_gpus": 0, "optimization.max_epochs": 2})
    predictor = MultiModalPredictor(label=sample.label, problem_type=sample.problem_type, path=str(tmp_path / "m"),
                                    hyperparameters=keys, verbosity=0).fit(sample.train, seed=0)
    assert np.isfinite(predictor.evaluate(sample.test, metrics=[sample.metric])[sample.metric])
    loaded = MultiModalPredictor.load(predictor.path)
    network = loaded.learner.saved_parts()[1]
    assert {p.dtype for p in network.parameters() if p.is_floating_point()} == {torch.float64}
    assert as_json(loaded.learner, sample.test) == as_json(predictor.learner, sample.test)


def test_the_server_answers_as_the_predictor_does(fitted):
    family, sample, predictor = fitted
    rows = sample.test.drop(columns=[sample.label]).head(2)
    records = json.loads(rows.to_json(orient="records"))
    with TestClient(create_app(MultiModalPredictor.load(predictor.path))) as client:
        reply = client.post("/predict", json=records)
        assert reply.status_code == 200, reply.text
        assert reply.json()["predictions"] == as_json(predictor.learner, rows)
        meta = client.get("/metadata").json()
        assert meta["problem_type"] == predictor.problem_type
        missing = client.post("/predict", json=[{"nothing": 1}])
        assert missing.status_code == 422 and "missing column" in missing.json()["error"]
        proba = client.post("/predict_proba", json=records)
        refusal = predictor.learner.serving_refusal("predict_proba")
        assert proba.status_code == (400 if refusal else 200)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_command_line_creates_trains_and_tests_every_family(family, tmp_path):
    from automodal.cli.main import main

    sample = SAMPLES[family](str(tmp_path))
    files = {}
    for split, frame in (("path", sample.train), ("test", sample.test)):
        frame = frame.copy()
        for column in frame.columns:            # lists (detection's boxes) as JSON text in the CSV
            if frame[column].map(lambda v: isinstance(v, list)).any():
                frame[column] = frame[column].map(json.dumps)
        files[split] = tmp_path / f"{split}.csv"
        frame.to_csv(files[split], index=False)
    home, declared = tmp_path / "home", [f"data.{family}.{key}={value}" for key, value in sample.task.items()]
    common = [f"root={home}", "proj=families", f"task_list=[{family}]"]
    assert main(["create", *common, *(f"data.{family}.{k}={v}" for k, v in files.items()), "mode.n_folds=2",
                 *declared]) == 0
    task = json.loads((home / "families" / "tasks" / family / "task.json").read_text())
    assert task["problem_type"] == (sample.problem_type or task["problem_type"]) and task["n_folds"] == 2
    keys = [f"hp.{key}={value}" for key, value in sample.hyperparameters.items()]
    assert main(["train", *common, "mode.cv=false", "mode.nested=false", "mode.subroutines=[train,test]",
                 *keys]) == 0
    summary = json.loads((home / "families" / "metrics" / family / "summary.json").read_text())
    assert summary["models"] == [f"{family}/fold0"]
    assert summary["metrics"][sample.metric]["mean"] > sample.floor, summary["metrics"]


@pytest.mark.parametrize("family", [f for f in FAMILIES if family_named(f).capabilities.devices])
def test_two_processes_score_the_whole_tuning_set_and_save_a_predictor_like_one(family, tmp_path):
    sample = SAMPLES[family](str(tmp_path))
    # a few epochs: the gathering is judged, not how much is learnt (though a score of zero would judge nothing)
    keys = dict(sample.hyperparameters, **{"env.num_gpus": 0, "env.strategy": "ddp_spawn", "env.num_processes": 2,
                                           "optimization.top_k": 1, "optimization.top_k_average_method": "best",
                                           "optimization.max_epochs": 4})
    predictor = MultiModalPredictor(label=sample.label, problem_type=sample.problem_type, path=str(tmp_path / "m"),
                                    hyperparameters=keys, verbosity=0).fit(sample.train, tuning_data=sample.test,
                                                                           seed=0)
    summary = predictor.fit_summary()
    assert (summary["strategy"], summary["processes"]) == ("ddp_spawn", 2)
    # the kept checkpoint was scored in the training processes, each holding half the tuning rows; the predictor
    # has that checkpoint's weights, and this process scores them on every row: equal only when the training
    # processes gathered each other's predictions
    metric = summary.get("validation_metric", summary["eval_metric"])
    scored = predictor.evaluate(sample.test, metrics=[metric])[metric]
    assert summary["checkpoints"][0]["score"] == pytest.approx(scored, abs=1e-5)
    assert scored > 0.05, scored
    loaded = MultiModalPredictor.load(predictor.path)
    assert str(loaded.predict(sample.test.head(3))) == str(predictor.predict(sample.test.head(3)))
