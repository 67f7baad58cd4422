"""Hyperparameter searches from the command line: spaces in hp.* searched per task on fold 0, the study stored under
PROJECT/hpo/STUDY, the folds trained with its best values, a finished search never repeated by continue=latest, and
info hpo drawing the stored study."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from automodal import MultiModalPredictor
from automodal.cli.main import main
from automodal.cli.schedulers.train import TrainingScheduler

ray = pytest.importorskip("ray")
pytest.importorskip("optuna")

FAST = ["hp.optimization.max_epochs=2", "hp.env.per_gpu_batch_size=32", "hp.env.batch_size=32",
        "hp.env.num_workers=0", "hp.env.num_workers_evaluation=0"]
SEARCH = ["hp.optimization.learning_rate=loguniform(1e-4,1e-1)", "hp.optimization.weight_decay=choice(0.0,0.01)",
          "mode.hpo.num_trials=2", "mode.study_name=lr"]


@pytest.fixture(autouse=True)
def _on_ray(ray_session):
    yield


def run(*args, home):
    return main([*map(str, args), f"root={home}"])


@pytest.fixture
def project(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=120), "x2": rng.normal(size=120)})
    frame["y"] = np.where(frame.x1 - frame.x2 > 0, "up", "down")
    frame.to_csv(tmp_path / "train.csv", index=False)
    home = tmp_path / "home"
    assert run("create", "proj=s", "task_list=[t]", f"data.t.path={tmp_path / 'train.csv'}", "data.t.label=y",
               "mode.n_folds=2", home=home) == 0
    return home


def search_calls(monkeypatch) -> list:
    calls, fit = [], MultiModalPredictor.fit

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("hyperparameter_tune_kwargs"))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(MultiModalPredictor, "fit", counting)
    return calls


def test_a_search_is_stored_resumed_without_repeating_and_drawn_by_info(project, monkeypatch, capsys):
    home, calls = project, search_calls(monkeypatch)
    train = TrainingScheduler.train

    def interrupted(self, unit):                  # the run stops as the first fold starts to train
        raise KeyboardInterrupt

    monkeypatch.setattr(TrainingScheduler, "train", interrupted)
    assert run("train", "proj=s", "task_list=[t]", "mode.nested=false", *FAST, *SEARCH, home=home) == 130
    assert [c for c in calls if c] == [{"searcher": "random", "scheduler": "FIFO", "num_trials": 2,
                                        "num_to_keep": 1}]
    study = home / "s" / "hpo" / "lr"
    stored = json.loads((study / "trials.json").read_text())
    search = stored["searches"]["t"]
    assert stored["format_version"] == 1 and search["fold"] == 0 and search["rows"] == {"train": 60, "tuning": 60}
    assert search["spaces"] == {"optimization.learning_rate": "loguniform(1e-4,1e-1)",
                                "optimization.weight_decay": "choice(0.0,0.01)"}
    assert len(search["trials"]) == 2
    for trial in search["trials"]:
        assert trial["status"] == "finished" and trial["seconds"] > 0 and len(trial["scores"]) == 2
        assert 1e-4 <= trial["config"]["optimization.learning_rate"] <= 1e-1
        assert trial["config"]["optimization.weight_decay"] in (0.0, 0.01)
    best = search["best_config"]
    assert best == search["trials"][search["best_trial"]]["config"]
    blueprint = yaml.safe_load((study / "t.blueprint.yaml").read_text())
    assert blueprint["optimization"]["learning_rate"] == best["optimization.learning_rate"]
    assert blueprint["optimization"]["max_epochs"] == 2           # the fixed keys beside the best values

    # resumed: the finished search is not repeated, and every fold trains with its best values
    calls.clear()
    monkeypatch.setattr(TrainingScheduler, "train", train)
    assert run("train", "proj=s", "continue=latest", home=home) == 0
    assert calls and not any(calls)
    for fold in (0, 1):
        config = MultiModalPredictor.load(str(home / "s" / "models" / "t" / f"fold{fold}")).config["optimization"]
        assert config["learning_rate"] == pytest.approx(best["optimization.learning_rate"])
        assert config["weight_decay"] == best["optimization.weight_decay"] and config["max_epochs"] == 2
    # a new run naming the same study reuses its search; other spaces under that name are refused before any work
    assert run("train", "proj=s", "task_list=[t]", "mode.nested=false", "mode.cv=false", *FAST, *SEARCH,
               home=home) == 0
    assert not any(calls) and json.loads((study / "trials.json").read_text()) == stored
    capsys.readouterr()
    assert run("train", "proj=s", "task_list=[t]", "mode.nested=false", *FAST, *SEARCH,
               "hp.optimization.learning_rate=uniform(1e-4,1e-1)", home=home) == 2
    assert "mode.study_name=lr" in capsys.readouterr().err

    assert run("info", "proj=s", "mode.subroutines=[hpo]", "mode.study_name=lr", home=home) == 0
    out = " ".join(capsys.readouterr().out.split())
    for figure in ("lr.t.png", "lr.t.parallel.png"):
        path = home / "s" / "info" / "hpo" / figure
        assert path.stat().st_size > 1000 and str(path) in out
    assert "learning_rate" in out and "weight_decay" in out and "finished" in out
    assert "optimization.learning_rate in loguniform(1e-4,1e-1)" in out


def test_a_bad_space_is_one_line_naming_the_key_with_exit_code_2(project, capsys):
    runs = sorted(os.listdir(project / "s" / "runs"))
    for value in ("loguniform(1e-5)", "logunifrom(1e-5,1e-2)", "loguniform(0,1)", "choice()"):
        assert run("train", "proj=s", "task_list=[t]", f"hp.optimization.learning_rate={value}", home=project) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and f"hp.optimization.learning_rate={value}" in lines[0], lines
    assert not (project / "s" / "hpo").exists() and sorted(os.listdir(project / "s" / "runs")) == runs
