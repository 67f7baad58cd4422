"""Hyperparameter search on Ray Tune: tiny fits on generated data, all in one local Ray session."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from automodal import MultiModalPredictor, hpo
from automodal.errors import AutomodalError, ConfigError
from family_samples import SAMPLES

ray = pytest.importorskip("ray")
pytest.importorskip("optuna")

QUICK = {"optimization.max_epochs": 4, "env.num_workers": 0, "env.num_workers_evaluation": 0}


@pytest.fixture(autouse=True)
def _on_ray(ray_session):
    yield


def xor_frame(n=400, seed=0, regression=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    frame = pd.DataFrame(x, columns=list("abcd"))
    signal = x[:, 0] * x[:, 1] + 0.5 * x[:, 2]
    frame["y"] = signal + 0.1 * rng.normal(size=n) if regression else (signal > 0).astype(int)
    return frame


def search(tmp_path, frame, space, label="y", time_limit=None, eval_metric=None, **tune_kwargs):
    predictor = MultiModalPredictor(label=label, eval_metric=eval_metric, path=str(tmp_path / "model"), verbosity=0)
    predictor.fit(frame, hyperparameters={**QUICK, **space}, hyperparameter_tune_kwargs=tune_kwargs,
                  time_limit=time_limit)
    return predictor, predictor.fit_summary()["hpo"]


@pytest.mark.parametrize("searcher", ["random", "bayes"])
def test_searchers_give_distinct_configurations_default_first(tmp_path, searcher):
    frame = xor_frame()
    predictor, summary = search(tmp_path, frame, {"optimization.learning_rate": hpo.loguniform(1e-4, 3e-2)},
                                searcher=searcher, num_trials=3, num_to_keep=1)
    rates = [t["config"]["optimization.learning_rate"] for t in summary["trials"]]
    assert len(rates) == 3 and len(set(rates)) == 3
    assert all(1e-4 <= r <= 3e-2 for r in rates)
    # nobody set the rate: the first trial tries the one a plain fit would choose for this network
    assert rates[0] == summary["first_trial_config"]["optimization.learning_rate"] == 1e-3
    assert {t["status"] for t in summary["trials"]} == {"finished"}
    # the chosen trial is the one with the best reported score, and the predictor is an ordinary one
    best = max(summary["trials"], key=lambda t: t["score"])
    assert summary["best_trial"] == best["trial"]
    assert predictor.config["optimization"]["learning_rate"] == pytest.approx(best["config"][
        "optimization.learning_rate"])
    assert predictor.evaluate(frame)["roc_auc"] > 0.5
    loaded = MultiModalPredictor.load(str(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict_proba(frame.head(20)).to_numpy(),
                               predictor.predict_proba(frame.head(20)).to_numpy(), atol=1e-6)
    assert not [p for p in os.listdir(tmp_path) if p != "model"]
    # each trial is a TensorBoard run of its own, saved with the predictor
    runs = sorted(os.listdir(tmp_path / "model" / "tensorboard"))
    assert len(runs) == 3 and all(run.startswith("trial-") for run in runs), runs


def test_asha_stops_a_trial_that_cannot_learn(tmp_path):
    frame = xor_frame()
    _, summary = search(tmp_path, frame, {
        "optimization.learning_rate": hpo.choice([1e-12, 1e-11, 1e-2], default=1e-2), "optimization.max_epochs": 12},
        scheduler="ASHA", num_trials=4, max_concurrent_trials=1, scheduler_init_args={"grace_period": 1,
                                                                                       "reduction_factor": 2})
    bad = [t for t in summary["trials"] if t["config"]["optimization.learning_rate"] < 1e-10]
    good = [t for t in summary["trials"] if t["config"]["optimization.learning_rate"] == 1e-2]
    assert bad and good
    assert all(t["status"] == "stopped" and t["reports"] < 12 for t in bad)
    assert summary["trials"][summary["best_trial"]]["config"]["optimization.learning_rate"] == 1e-2


@pytest.mark.parametrize("regression", [False, True])
def test_num_to_keep_keeps_the_best_checkpoints_in_the_metrics_direction(tmp_path, regression):
    frame = xor_frame(regression=regression)
    _, summary = search(tmp_path, frame, {"optimization.learning_rate": hpo.loguniform(1e-3, 1e-2),
                                          "optimization.max_epochs": 6}, num_trials=2, num_to_keep=2)
    assert summary["greater_is_better"] is (not regression)
    for trial in summary["trials"]:
        assert len(trial["checkpoints"]) == 2          # files on disk when the trial ended
        ranked = sorted(trial["scores"], reverse=not regression)
        assert trial["checkpoints"] == pytest.approx(ranked[:2])
        assert trial["score"] == pytest.approx(ranked[0])


def test_resources_per_trial_and_storage_path_are_used(tmp_path):
    frame = xor_frame()
    _, summary = search(tmp_path, frame, {"optimization.learning_rate": hpo.uniform(1e-3, 1e-2)}, num_trials=2,
                        resources_per_trial={"cpu": 2}, storage_path=str(tmp_path / "store"))
    # two CPUs per trial on a two-CPU cluster: one trial at a time, each training with two threads
    assert summary["trials_at_once"] == 1 and summary["resources_per_trial"] == {"cpu": 2, "gpu": 0}
    assert [t["threads"] for t in summary["trials"]] == [2, 2]
    assert summary["storage"].startswith(str(tmp_path / "store"))
    assert os.path.isdir(tmp_path / "store") and not os.listdir(tmp_path / "store")   # its search removed


def test_a_failing_trial_is_reported_and_the_search_completes(tmp_path):
    frame = xor_frame()
    # pos_label 7 is no class of this task: those trials fail when they encode the labels
    predictor, summary = search(tmp_path, frame, {"data.pos_label": hpo.choice([1, 7], default=1)}, num_trials=4,
                                max_concurrent_trials=1)
    failed = [t for t in summary["trials"] if t["config"]["data.pos_label"] == 7]
    assert failed and all(t["status"] == "error" and "pos_label" in t["error"] for t in failed)
    assert summary["trials"][summary["best_trial"]]["status"] == "finished"
    assert len(predictor.predict(frame.head(5))) == 5


def test_time_limit_ends_the_search_with_a_usable_predictor(tmp_path):
    frame = xor_frame(n=2000)
    started = time.time()
    predictor, summary = search(tmp_path, frame, {"optimization.learning_rate": hpo.loguniform(1e-4, 1e-2),
                                                  "optimization.max_epochs": 300, "optimization.patience": 300},
                                time_limit=14, num_trials=40)
    assert time.time() - started < 30
    assert len(summary["trials"]) < 40 or any(t["status"] == "stopped" for t in summary["trials"])
    assert predictor.evaluate(frame)["roc_auc"] > 0.5


def test_a_searching_preset_searches_its_space_within_the_time_limit(tmp_path):
    predictor = MultiModalPredictor(label="y", path=str(tmp_path / "model"), presets="medium_quality_hpo",
                                    verbosity=0)
    started = time.time()
    predictor.fit(xor_frame(), hyperparameters={**QUICK, "optimization.learning_rate": 5e-3}, time_limit=12)
    assert time.time() - started < 30
    summary = predictor.fit_summary()["hpo"]
    assert (summary["searcher"], summary["scheduler"], summary["num_trials"]) == ("bayes", "ASHA", 512)
    # the rate the user fixed is not searched; the preset's other keys are
    assert set(summary["trials"][0]["config"]) == {"optimization.optim_type", "optimization.weight_decay"}
    assert predictor.config["optimization"]["learning_rate"] == 5e-3
    assert len(predictor.predict(xor_frame(n=10, seed=1))) == 10


def test_bad_settings_fail_before_any_trial(tmp_path):
    frame = xor_frame(n=60)
    predictor = MultiModalPredictor(label="y", path=str(tmp_path / "m"), verbosity=0)
    space = {"optimization.learning_rate": hpo.uniform(1e-4, 1e-2)}
    with pytest.raises(ConfigError, match="searcher.*Did you mean 'bayes'"):
        predictor.fit(frame, hyperparameters=space, hyperparameter_tune_kwargs={"searcher": "bayse"})
    with pytest.raises(ConfigError, match="unknown key 'num_trial'"):
        predictor.fit(frame, hyperparameters=space, hyperparameter_tune_kwargs={"num_trial": 2})
    with pytest.raises(ConfigError, match="ASHA"):
        predictor.fit(frame, hyperparameters=space, hyperparameter_tune_kwargs={"scheduler_init_args": {"max_t": 3}})
    with pytest.raises(ConfigError, match="optimization.optim_type"):
        predictor.fit(frame, hyperparameters={"optimization.optim_type": hpo.choice(["adamw", "adamq"])},
                      hyperparameter_tune_kwargs={})
    with pytest.raises(AutomodalError, match="hyperparameter_tune_kwargs"):
        predictor.fit(frame, hyperparameters=space)
    assert not os.path.exists(tmp_path / "m")


def test_ray_tune_spaces_and_string_values_are_validated(tmp_path, monkeypatch):
    from ray import tune

    import automodal.hpo.search

    # no trial hosts, as on a multi-node cluster or with GPU trials: each trial trains in Tune's worker
    monkeypatch.setattr(automodal.hpo.search, "trial_pool", lambda resources, slots: None)
    frame = xor_frame()
    # as AutoGluon's HPO tutorial writes them: a Ray space, and epochs as strings, which become integers
    predictor, summary = search(tmp_path, frame, {"optimization.learning_rate": tune.uniform(1e-3, 1e-2),
                                                  "optimization.max_epochs": tune.choice(["2", "3"]),
                                                  "model.timm_image.checkpoint_name": tune.choice(["resnet18"])},
                                num_trials=2)
    assert set(summary["trials"][0]["config"]) == {"optimization.learning_rate", "optimization.max_epochs"}
    assert predictor.config["optimization"]["max_epochs"] in (2, 3)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_search_on_an_existing_cluster_with_token_authentication(tmp_path):
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    port = _free_port()
    # the cluster's token where Ray looks for it: HOME/.ray/auth_token, read by the head and by the client
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    env = dict(os.environ, RAY_AUTH_MODE="token", HOME=str(tmp_path))
    env.pop("RAY_ADDRESS", None)
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")   # a short path: Ray's sockets live under it
    head = subprocess.Popen([ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", f"--temp-dir={temp_dir}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while subprocess.run([ray_cli, "health-check", f"--address=127.0.0.1:{port}"], env=env,
                             capture_output=True, timeout=60).returncode != 0:
            assert time.time() < deadline and head.poll() is None, "the Ray head did not start"
            time.sleep(1)
        frame_path = tmp_path / "train.csv"
        xor_frame(n=200).to_csv(frame_path, index=False)
        script = textwrap.dedent(f"""
            import ray
            from automodal import MultiModalPredictor, hpo
            p = MultiModalPredictor(label="y", path={str(tmp_path / 'model')!r}, verbosity=0)
            p.fit({str(frame_path)!r}, hyperparameters={{"optimization.learning_rate": hpo.uniform(1e-3, 1e-2),
                                                        "optimization.max_epochs": 2}},
                  hyperparameter_tune_kwargs={{"num_trials": 2}})
            assert ray.get_runtime_context().gcs_address.endswith(":{port}")
            print("TRIALS", len(p.fit_summary()["hpo"]["trials"]))
        """)
        client_env = dict(env, RAY_ADDRESS=f"127.0.0.1:{port}")
        done = subprocess.run([sys.executable, "-c", script], env=client_env, capture_output=True, text=True,
                              timeout=300)
        assert "TRIALS 2" in done.stdout, done.stderr[-3000:]
    finally:
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_an_address_other_than_the_connected_cluster_is_refused_naming_both(tmp_path, monkeypatch):
    from automodal.hpo import cluster

    current = ray.get_runtime_context().gcs_address
    cluster.connect(current, 0)                 # the connected cluster itself is used as it is
    monkeypatch.setattr(cluster, "_LOCAL_SESSION", {"started": False})     # a session this process did not start
    with pytest.raises(AutomodalError, match=f"connected to {current}, and the cluster asked for is 10.0.0.1:6379"):
        search(tmp_path, xor_frame(n=60), {"optimization.learning_rate": hpo.uniform(1e-3, 1e-2)}, num_trials=1,
               address="10.0.0.1:6379")
    assert ray.is_initialized() and ray.get_runtime_context().gcs_address == current


def test_spaces_need_no_ray_and_check_their_bounds():
    assert hpo.Real(1e-4, 1e-2, log=True) == hpo.loguniform(1e-4, 1e-2)
    assert hpo.Int(1, 4) == hpo.randint(1, 5) and hpo.Categorical("a", "b").args == (("a", "b"),)
    with pytest.raises(ConfigError, match="lower must be below upper"):
        hpo.uniform(2, 1)
    with pytest.raises(ConfigError, match="positive lower bound"):
        hpo.loguniform(0, 1)
    assert hpo.quniform(0, 1, 0.25) == hpo.Space("quniform", (0.0, 1.0, 0.25))


def test_a_plain_fit_never_imports_ray(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import numpy as np, pandas as pd
        from automodal import MultiModalPredictor, hpo
        frame = pd.DataFrame({{"a": np.random.default_rng(0).normal(size=40), "y": [0, 1] * 20}})
        MultiModalPredictor(label="y", path={str(tmp_path / 'm')!r}, verbosity=0).fit(
            frame, hyperparameters={{"optimization.max_epochs": 1}})
        print("RAY", "ray" in sys.modules, "optuna" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert "RAY False False" in done.stdout, done.stderr[-2000:]


def test_tunes_trial_worker_imports_neither_torch_nor_lightning():
    # the worker unpickles the trainable and handles to the trial hosts, so imports both modules: light, it starts
    # in about a second; with torch and Lightning every search waited some 6 s more on 2 cores
    script = ("import sys, automodal.hpo.trial, automodal.hpo.hosts; "
              "print(sorted({'torch', 'lightning'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr[-2000:]


def test_a_search_without_ray_installed_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "optuna"
                        else find_spec(name, *args))
    predictor = MultiModalPredictor(label="y", path=str(tmp_path / "m"), verbosity=0)
    with pytest.raises(AutomodalError, match=r"pip install 'automodal\[hpo\]'"):
        predictor.fit(xor_frame(n=40), hyperparameters={"optimization.learning_rate": hpo.uniform(1e-3, 1e-2)},
                      hyperparameter_tune_kwargs={"searcher": "bayes"})


def image_search(tmp_path, family, space, eval_metric=None, images=24, **tune_kwargs):
    """A 2-trial search of an image-task family on its tiny sample (family_samples), two epochs a trial."""
    sample = SAMPLES[family](str(tmp_path / "data"))
    keys = {key: value for key, value in sample.hyperparameters.items() if key not in space}
    keys.update({"optimization.max_epochs": 2, **space})
    predictor = MultiModalPredictor(label=sample.label, problem_type=sample.problem_type, eval_metric=eval_metric,
                                    path=str(tmp_path / "model"), verbosity=0)
    predictor.fit(sample.train.head(images), hyperparameters=keys,
                  hyperparameter_tune_kwargs={"num_trials": 2, "num_to_keep": 1, **tune_kwargs})
    return sample, predictor, predictor.fit_summary()["hpo"]


def check_best_trial_became_the_predictor(predictor, summary, greater_is_better):
    trials = summary["trials"]
    assert len(trials) == 2 and {t["status"] for t in trials} == {"finished"}
    assert trials[0]["config"] != trials[1]["config"]
    assert summary["metric"] == predictor.eval_metric and summary["greater_is_better"] is greater_is_better
    assert all(t["reports"] >= 2 and len(t["scores"]) == t["reports"] for t in trials)
    best = (max if greater_is_better else min)(trials, key=lambda t: t["score"])
    assert summary["best_trial"] == best["trial"] and summary["best_config"] == best["config"]
    # one kept checkpoint: the predictor is the best trial's best report, scored as the trial scored it
    assert predictor.fit_summary()["val_score"] == pytest.approx(best["score"])
    config = predictor.fit_summary()["config"]
    for key, value in best["config"].items():
        group, name = key.rsplit(".", 1)
        node = config
        for part in group.split("."):
            node = node[part]
        assert node[name] == pytest.approx(value) if isinstance(value, float) else node[name] == value
    return best


def test_a_detection_search_over_its_keys(tmp_path):
    started = time.time()
    sample, predictor, summary = image_search(tmp_path, "detection", {
        "optimization.learning_rate": hpo.loguniform(1e-4, 5e-3),
        "model.mmdet_image.output_bbox_format": hpo.choice(["xyxy", "xywh"]),
        # a table model's key does nothing to a detector: it is not searched
        "model.timm_image.checkpoint_name": hpo.choice(["resnet18", "resnet34"])})
    assert summary["metric"] == "map"
    assert set(summary["trials"][0]["config"]) == {"optimization.learning_rate",
                                                   "model.mmdet_image.output_bbox_format"}
    # nobody set the rate: the first trial tries the one a plain fit would use
    assert summary["trials"][0]["config"] == summary["first_trial_config"]
    assert summary["first_trial_config"]["optimization.learning_rate"] == 1e-4
    check_best_trial_became_the_predictor(predictor, summary, greater_is_better=True)
    loaded = MultiModalPredictor.load(str(tmp_path / "model"))
    assert loaded.predict(sample.test)["bboxes"].tolist() == predictor.predict(sample.test)["bboxes"].tolist()
    assert loaded.fit_summary()["hpo"]["trials"] == summary["trials"]
    assert not [p for p in os.listdir(tmp_path) if p not in ("model", "data")]
    print(f"detection search: {time.time() - started:.1f} s")


def test_a_segmentation_search_follows_a_lower_is_better_metric(tmp_path):
    started = time.time()
    sample, predictor, summary = image_search(tmp_path, "segmentation", {
        "optimization.learning_rate": hpo.loguniform(1e-3, 1e-2),
        "model.sam.num_mask_tokens": hpo.choice([1, 2])}, eval_metric="ber", images=16)
    assert summary["metric"] == "ber"
    check_best_trial_became_the_predictor(predictor, summary, greater_is_better=False)
    assert summary["first_trial_config"]["model.sam.num_mask_tokens"] == 1
    assert all(0.0 <= t["score"] <= 1.0 for t in summary["trials"])
    loaded = MultiModalPredictor.load(str(tmp_path / "model"))
    np.testing.assert_allclose(np.stack(loaded.predict_proba(sample.test, as_pandas=False)),
                               np.stack(predictor.predict_proba(sample.test, as_pandas=False)), atol=1e-6)
    assert loaded.evaluate(sample.test, metrics=["ber"]) == pytest.approx(predictor.evaluate(sample.test,
                                                                                             metrics=["ber"]))
    print(f"segmentation search: {time.time() - started:.1f} s")
