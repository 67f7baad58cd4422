"""The automodal command: modes and options from the YAML, a project from create to test through the real
command, a run killed with SIGKILL that resumes to the same result, the project lock, folds as create's options
say, nested tasks, clean's exact targets, format upgrades that round-trip byte for byte, and the train options."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from automodal import MultiModalPredictor
from automodal.cli.main import main

FAST = ["hp.optimization.max_epochs=4", "hp.env.per_gpu_batch_size=32", "hp.env.batch_size=32",
        "hp.optimization.bag_folds=0"]      # one network, as in conftest.FAST
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def command(*args, home, timeout=240):
    """The installed entry point, as a user runs it."""
    env = {**os.environ, "AUTOMODAL_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "automodal.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def run(*args, home):
    """The same command in this process (faster); returns the exit code."""
    return main([*map(str, args), f"root={home}"])


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """A binary task (label y) and a second label z over the same columns, plus a test file and unlabeled rows."""
    directory = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], n)})
    frame["y"] = np.where(frame.x1 + (frame.colour == "red") + rng.normal(scale=0.3, size=n) > 0.4, "yes", "no")
    frame["z"] = np.where(frame.x1 - frame.x2 > 0, "up", "down")
    frame.iloc[:180].drop(columns="z").to_csv(directory / "train.csv", index=False)
    frame.iloc[180:220].drop(columns="z").to_csv(directory / "test.csv", index=False)
    frame.iloc[220:].drop(columns=["y", "z"]).to_csv(directory / "unlabeled.csv", index=False)
    frame.iloc[:180].drop(columns="y").to_csv(directory / "train_z.csv", index=False)
    frame.iloc[180:220].drop(columns="z").to_csv(directory / "other.csv", index=False)
    return directory


def create_args(tables, proj, task="churn", folds=3, extra=()):
    return ["create", f"proj={proj}", f"task_list=[{task}]", f"data.{task}.path={tables / 'train.csv'}",
            f"data.{task}.label=y", f"data.{task}.test={tables / 'test.csv'}",
            f"data.{task}.unlabeled={tables / 'unlabeled.csv'}", f"mode.n_folds={folds}", *extra]


# ---------------------------------------------------------------- help
def test_help_lists_the_modes_and_every_option_of_a_mode(tmp_path):
    listing = command("--help", home=tmp_path)
    assert listing.returncode == 0
    for mode in ("create", "train", "predict", "test", "tl", "clean", "upgrade", "downgrade"):
        assert mode in listing.stdout
    options = command("train", "--help", home=tmp_path)
    assert options.returncode == 0
    text = " ".join(options.stdout.split())
    for key in ("mode.cv", "mode.nested", "mode.store_parameters", "mode.store_best", "mode.eval_on",
                "mode.use_blueprint", "mode.pipeline_keys", "mode.subroutines", "proj", "task_list"):
        assert key in text
    assert "one model per fold" in text                      # descriptions come from the YAML comments


def test_errors_are_one_line_with_an_exit_code(tmp_path):
    unknown = command("train", "proj=x", "mode.bogus=1", home=tmp_path)
    assert unknown.returncode == 2 and "mode.bogus" in unknown.stderr and "Traceback" not in unknown.stderr
    unknown_mode = command("deploy", home=tmp_path)
    assert unknown_mode.returncode == 2 and "unknown mode 'deploy'" in unknown_mode.stderr
    missing = command("train", "proj=nothing", "task_list=[a]", home=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


# ---------------------------------------------------------------- the whole way through the real command
def test_create_train_test_predict_through_the_command(tables, tmp_path):
    home = tmp_path / "home"
    created = command(*create_args(tables, "demo"), home=home)
    assert created.returncode == 0, created.stderr
    again = command(*create_args(tables, "demo"), home=home)     # present data sets and tasks are skipped
    assert "present, skipped" in again.stdout
    trained = command("train", "proj=demo", "task_list=[churn]", "mode.nested=false", *FAST, home=home)
    assert trained.returncode == 0, trained.stderr
    project = home / "demo"
    assert sorted(os.listdir(project / "models" / "churn")) == [
        "fold0", "fold0.blueprint.yaml", "fold0.json", "fold1", "fold1.blueprint.yaml", "fold1.json", "fold2",
        "fold2.blueprint.yaml", "fold2.json"]
    tested = command("test", "proj=demo", "task_list=[churn]", "mode.nested=false", home=home)
    assert tested.returncode == 0, tested.stderr
    summary = json.loads((project / "metrics" / "churn" / "summary.json").read_text())
    assert len(summary["models"]) == 3 and summary["format_version"] == 1
    assert summary["metrics"]["roc_auc"]["mean"] > 0.75 and len(summary["metrics"]["roc_auc"]["per_fold"]) == 3
    assert "mean ± std" in tested.stdout
    predicted = command("predict", "proj=demo", "task_list=[churn]", "mode.nested=false", home=home)
    assert predicted.returncode == 0, predicted.stderr
    for fold in range(3):
        test = pd.read_parquet(project / "predictions" / "churn" / f"fold{fold}" / "test.parquet")
        assert len(test) == 40 and {"row", "prediction", "proba_yes", "proba_no"} <= set(test.columns)
        unlabeled = pd.read_parquet(project / "predictions" / "churn" / f"fold{fold}" / "unlabeled.parquet")
        assert len(unlabeled) == 20
        val = pd.read_parquet(project / "predictions" / "churn" / f"fold{fold}" / "val.parquet")
        assert len(val) == 60                                 # the fold's own tuning rows
    for path in project.rglob("*"):                           # nothing pickled anywhere
        assert path.suffix not in (".pkl", ".pickle", ".pt")
    import pyarrow.parquet as pq

    for path in project.rglob("*.parquet"):                   # every project file carries its format version
        assert pq.read_schema(path).metadata[b"automodal_format_version"] == b"1"
    for path in project.rglob("*.json"):
        if "models" not in path.parts or path.name.startswith("fold"):
            assert json.loads(path.read_text())["format_version"] == 1, path
        elif path.name in ("processors.json", "automodal.json"):           # a saved predictor's own format
            assert json.loads(path.read_text())["format_version"] == 2, path


def test_a_killed_run_resumes_to_the_result_of_an_uninterrupted_one(tables, tmp_path):
    home = tmp_path / "home"
    for proj in ("killed", "whole"):
        assert run(*create_args(tables, proj), home=home) == 0
    # long enough a fit (about two seconds) that the kill lands inside the second fold's training
    train = ["train", "task_list=[churn]", "mode.nested=false", "mode.subroutines=[train,test]", *FAST,
             "hp.optimization.max_epochs=60", "hp.optimization.patience=100"]
    assert run(train[0], "proj=whole", *train[1:], home=home) == 0
    env = {**os.environ, "AUTOMODAL_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen([sys.executable, "-m", "automodal.cli", train[0], "proj=killed", *train[1:]],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = home / "killed" / "runs"
    deadline = time.time() + 180
    while time.time() < deadline:        # wait until the first fold is trained, then kill in the middle of the next
        done = [line for d in runs.glob("*-train-*") for line in (d / "done.jsonl").read_text().splitlines()] \
            if runs.exists() and any((d / "done.jsonl").exists() for d in runs.glob("*-train-*")) else []
        if any('"train:churn:fold0"' in line for line in done):
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (home / "killed" / ".lock").exists()              # the killed run still holds the project
    resumed = command("train", "proj=killed", "continue=latest", home=home)
    assert resumed.returncode == 0, resumed.stderr
    assert "taking over the lock" in resumed.stdout
    done = [json.loads(line)["step"] for line in next(runs.glob("*-train-*")).joinpath("done.jsonl")
            .read_text().splitlines()]
    assert done.count("train:churn:fold0") == 1               # not redone
    whole = json.loads((home / "whole" / "metrics" / "churn" / "summary.json").read_text())["metrics"]
    killed = json.loads((home / "killed" / "metrics" / "churn" / "summary.json").read_text())["metrics"]
    assert killed["roc_auc"]["per_fold"] == pytest.approx(whole["roc_auc"]["per_fold"], abs=1e-9)


def test_a_live_lock_is_refused_and_a_stale_one_taken_over(tables, tmp_path, capsys):
    home = tmp_path / "home"
    assert run(*create_args(tables, "locked"), home=home) == 0
    lock = home / "locked" / ".lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "run": "other"}))
    assert run(*create_args(tables, "locked"), home=home) == 1
    assert "in use by run other" in capsys.readouterr().err
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "run": "gone"}))
    assert run(*create_args(tables, "locked"), home=home) == 0
    assert "taking over the lock of run gone" in capsys.readouterr().out
    assert not lock.exists()


# ---------------------------------------------------------------- create's options
def folds_of(home, proj, task):
    return pd.read_parquet(home / proj / "tasks" / task / "rows.parquet")


def test_n_folds_and_ensure_balancing_shape_the_folds(tables, tmp_path, capsys):
    home = tmp_path / "home"
    assert run(*create_args(tables, "p", "bal", folds=4), home=home) == 0
    assert run(*create_args(tables, "p", "free", folds=4, extra=["mode.ensure_balancing=false"]), home=home) == 0
    labels = pd.read_csv(tables / "train.csv")["y"]
    share = (labels == "yes").mean()
    balanced, free = folds_of(home, "p", "bal"), folds_of(home, "p", "free")
    assert sorted(balanced["fold"].unique()) == [0, 1, 2, 3]
    per_fold = [(labels.iloc[balanced[balanced.fold == f]["row"]] == "yes").mean() for f in range(4)]
    assert max(abs(s - share) for s in per_fold) < 0.02       # stratified: every fold has the overall share
    assert not np.array_equal(balanced["fold"].to_numpy(), free["fold"].to_numpy())
    assert run(*create_args(tables, "p", "one", folds=1), home=home) == 2
    assert "mode.n_folds takes an integer > 1" in capsys.readouterr().err


def test_nested_tasks_hold_out_an_outer_fold_and_have_the_asked_inner_folds(tables, tmp_path):
    home = tmp_path / "home"
    assert run(*create_args(tables, "n", folds=3), home=home) == 0
    assert run("train", "proj=n", "task_list=[churn]", "mode.cv=false", "mode.inner_folds=2", *FAST, home=home) == 0
    variant = json.loads((home / "n" / "tasks" / "churn+nested_0" / "task.json").read_text())
    assert variant["n_folds"] == 2 and variant["parent"] == "churn" and variant["outer_fold"] == 0
    rows, outer = folds_of(home, "n", "churn+nested_0"), folds_of(home, "n", "churn")
    assert set(rows[rows.fold == -1]["row"]) == set(outer[outer.fold == 0]["row"])
    assert set(rows[rows.fold >= 0]["fold"]) == {0, 1}
    assert os.listdir(home / "n" / "models") == ["churn+nested_0"]      # cv=false: outer fold 0 only


# ---------------------------------------------------------------- train's options
def test_store_parameters_false_keeps_no_weights_and_refuses_predict(tables, tmp_path, capsys):
    home = tmp_path / "home"
    assert run(*create_args(tables, "s"), home=home) == 0
    refused = run("train", "proj=s", "task_list=[churn]", "mode.store_parameters=false",
                  "mode.subroutines=[train,test]", home=home)
    assert refused == 2 and "store_parameters" in capsys.readouterr().err
    assert not os.listdir(home / "s" / "models")               # refused before any work
    assert run("train", "proj=s", "task_list=[churn]", "mode.store_parameters=false", "mode.store_best=false",
               "mode.cv=false", "mode.nested=false", *FAST, home=home) == 0
    model = home / "s" / "models" / "churn" / "fold0"
    assert not (model / "model.safetensors").exists()
    record = json.loads((home / "s" / "models" / "churn" / "fold0.json").read_text())
    assert record["parameters_stored"] is False and record["best_weights"] is False
    assert json.loads((model / "automodal.json").read_text())["fit_summary"]["soup"] == "last"


def test_eval_on_blueprints_and_transfer_learning(tables, tmp_path):
    home = tmp_path / "home"
    assert run(*create_args(tables, "t"), home=home) == 0
    assert run("create", "proj=t", "task_list=[other]", f"data.other.path={tables / 'train.csv'}",
               "data.other.label=y", f"data.other.test={tables / 'other.csv'}", home=home) == 0
    assert run("create", "proj=t", "task_list=[zeta]", f"data.zeta.path={tables / 'train_z.csv'}",
               "data.zeta.label=z", home=home) == 0
    single = ["mode.cv=false", "mode.nested=false", *FAST]
    assert run("train", "proj=t", "task_list=[churn]", "mode.subroutines=[train,test]", "mode.eval_on=other",
               "hp.model.fusion_mlp.hidden_size=24", *single, home=home) == 0
    on_other = json.loads((home / "t" / "metrics" / "churn" / "fold0.on_other.json").read_text())
    assert on_other["rows"] == 40 and "roc_auc" in on_other["metrics"]
    assert (home / "t" / "metrics" / "churn" / "summary.on_other.json").exists()
    # the blueprint of churn's model sets the fusion width of other's model
    assert run("train", "proj=t", "task_list=[other]", "mode.use_blueprint=true", "reuse.blueprint=churn/fold0",
               *single, home=home) == 0
    config = MultiModalPredictor.load(str(home / "t" / "models" / "other" / "fold0"))._learner.config
    assert config["model.fusion_mlp.hidden_size"] == 24
    # tl: zeta (another label) starts from churn's model with frozen backbones: only a new head trains
    assert run("tl", "proj=t", "task_list=[zeta]", "mode.pretrain_task=churn", "mode.freeze=true", *single,
               home=home) == 0
    pretrained = MultiModalPredictor.load(str(home / "t" / "models" / "churn" / "fold0"))._learner.model.net.state_dict()
    tuned = MultiModalPredictor.load(str(home / "t" / "models" / "zeta" / "fold0"))
    weights = tuned._learner.model.net.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in pretrained.items() if not k.startswith("head."))
    assert tuned.class_labels == ["down", "up"]
    record = json.loads((home / "t" / "models" / "zeta" / "fold0.json").read_text())
    assert record["pretrained_from"] == "churn/fold0"


def test_multitask_trains_a_head_per_task_on_one_network(tables, tmp_path, capsys):
    home = tmp_path / "home"
    assert run(*create_args(tables, "m"), home=home) == 0
    assert run("create", "proj=m", "task_list=[zeta]", f"data.zeta.path={tables / 'train_z.csv'}",
               "data.zeta.label=z", home=home) == 0
    single = ["mode.cv=false", "mode.nested=false", *FAST]
    assert run("train", "proj=m", "task_list=[churn]", "mode.multitask=3", *single, home=home) == 2
    assert "needs 2 co-task(s)" in capsys.readouterr().err
    assert run("train", "proj=m", "task_list=[churn]", "mode.multitask=2", "mode.task_weights=[1]", *single,
               home=home) == 2
    assert "task_weights must hold 2" in capsys.readouterr().err
    assert run("train", "proj=m", "task_list=[churn]", "mode.task_weights=[1,1]", *single, home=home) == 2
    assert "need mode.multitask" in capsys.readouterr().err
    # co_tasks=random draws zeta, the only task with churn's columns; weights pivot first
    assert run("train", "proj=m", "task_list=[churn]", "mode.multitask=2", "mode.task_weights=[1,0.5]",
               *single, "hp.optimization.max_epochs=8", home=home) == 0
    record = json.loads((home / "m" / "models" / "churn" / "fold0.json").read_text())
    [co_task] = record["co_tasks"]
    assert co_task["label"] == "z" and co_task["weight"] == 0.5 and co_task["steps"] > 10
    assert co_task["last_loss"] < 0.8 * co_task["first_loss"]              # zeta's own head learned
    model = MultiModalPredictor.load(str(home / "m" / "models" / "churn" / "fold0"))   # a normal predictor
    assert model.class_labels == ["no", "yes"] and model.fit_summary()["pivot_weight"] == 1.0


# ---------------------------------------------------------------- clean
def test_clean_removes_exactly_its_targets(tables, tmp_path):
    home = tmp_path / "home"
    assert run(*create_args(tables, "c"), home=home) == 0
    project = home / "c"
    junk = [project / "tmp" / "20260101-000000-train-dead", project / "models" / "churn" / ".automodal-save-x",
            project / "models" / "churn" / "fold7", project / "tasks" / "churn" / "rows.parquet.tmp-1"]
    for path in junk:
        if path.suffix.startswith(".tmp"):
            path.write_text("")
        else:
            path.mkdir(parents=True)
    kept = sorted(p for p in project.rglob("*") if "runs" not in p.parts and p not in junk
                  and not any(j in p.parents for j in junk) and "raw" not in p.parts)
    assert run("clean", "proj=c", "task_list=[churn]", "mode.subroutines=[temp]", home=home) == 2   # no terminal
    assert all(p.exists() for p in junk)
    assert run("clean", "proj=c", "task_list=[churn]", "mode.force=true", home=home) == 0
    assert not any(p.exists() for p in junk)
    assert not (project / "datasets" / "churn" / "raw").exists()
    left = sorted(p for p in project.rglob("*") if "runs" not in p.parts)
    assert left == kept


# ---------------------------------------------------------------- upgrade / downgrade
def digest(directory):
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_upgrade_makes_an_earlier_save_loadable_and_downgrade_restores_it_byte_for_byte(tmp_path, capsys):
    saved = tmp_path / "old"
    shutil.copytree(os.path.join(FIXTURES, "format1_predictor"), saved)
    before = digest(saved)
    with pytest.raises(Exception, match="automodal upgrade mode.version=1"):
        MultiModalPredictor.load(str(saved))
    assert run("upgrade", "mode.version=[1]", f"mode.path={saved}", home=tmp_path) == 0
    assert "processors.json" in capsys.readouterr().out              # the listing of what changes
    rows = pd.read_csv(os.path.join(FIXTURES, "format1_rows.csv"))
    expected = pd.read_csv(os.path.join(FIXTURES, "format1_proba.csv"))
    got = MultiModalPredictor.load(str(saved)).predict_proba(rows)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=1e-6)
    backups = [p for p in tmp_path.iterdir() if p.name.startswith("old.backup-")]
    assert len(backups) == 1 and digest(backups[0] / "old") == {k: v for k, v in before.items()
                                                                 if k != "model.safetensors"}
    assert run("downgrade", "mode.version=1", f"mode.path={saved}", home=tmp_path) == 0
    assert digest(saved) == before


def test_upgrade_of_a_project_migrates_its_models(tables, tmp_path):
    home = tmp_path / "home"
    assert run(*create_args(tables, "u"), home=home) == 0
    model = home / "u" / "models" / "churn" / "fold0"
    shutil.copytree(os.path.join(FIXTURES, "format1_predictor"), model)
    assert run("upgrade", "proj=u", "mode.version=1", home=home) == 0
    MultiModalPredictor.load(str(model))
    backup = next((home / "u" / "backups").iterdir())
    assert json.loads((backup / "changes.json").read_text())["changes"]["models/churn/fold0"]["from"] == 1


def test_downgrade_then_upgrade_gives_back_the_same_bytes_or_refuses_before_any_change(tables, tmp_path,
                                                                                       capsys):
    home = tmp_path / "home"
    assert run(*create_args(tables, "r"), home=home) == 0
    single = ["mode.cv=false", "mode.nested=false", *FAST]
    plain = ["hp.data.numerical.transform=standard", "hp.model.numerical_mlp.embedding=none",
             "hp.model.numerical_mlp.piecewise_bins=0"]
    assert run("train", "proj=r", "task_list=[churn]", *single, *plain, home=home) == 0
    model = home / "r" / "models" / "churn" / "fold0"
    processors = json.loads((model / "processors.json").read_text())
    assert processors["format_version"] == 2
    assert processors["features"]["processors"]["numerical"]["date_width"] > 1     # what format 1 cannot hold
    # a save from before processors.json carried format_version loads, and round-trips too
    older = home / "r" / "models" / "older" / "fold0"
    shutil.copytree(model, older)
    (older / "processors.json").write_text(json.dumps({k: v for k, v in processors.items()
                                                       if k != "format_version"}, indent=2))
    MultiModalPredictor.load(str(older))
    before = {path: digest(path) for path in (model, older)}
    assert run("downgrade", "proj=r", "mode.version=1", home=home) == 0
    downgraded = json.loads((model / "processors.json").read_text())
    assert "format_version" not in downgraded and set(downgraded["features"]["numerical"]) == {
        "columns", "with_mean", "with_std", "mean", "scale"}                        # format 1's own keys
    with pytest.raises(Exception, match="automodal upgrade mode.version=1"):
        MultiModalPredictor.load(str(model))
    assert run("upgrade", "proj=r", "mode.version=1", home=home) == 0
    assert {path: digest(path) for path in (model, older)} == before
    # a model that format 1 cannot express (quantile transform) refuses the whole downgrade before any change
    assert run("train", "proj=r", "task_list=[churn]", "mode.cv=false", "mode.nested=false", *FAST, home=home) == 0
    quantile = digest(model)
    capsys.readouterr()
    assert run("downgrade", "proj=r", "mode.version=1", home=home) == 1
    assert "quantiles" in capsys.readouterr().err
    assert digest(model) == quantile and digest(older) == before[older]


# ---------------------------------------------------------------- post
def sharpen(path):
    """Make stored probabilities over-confident, as a badly calibrated model's would be."""
    frame = pd.read_parquet(path)
    columns = [c for c in frame.columns if c.startswith("proba_")]
    sharp = frame[columns].to_numpy() ** 8
    frame[columns] = sharp / sharp.sum(axis=1, keepdims=True)
    frame.to_parquet(path, index=False)


def test_post_calibrates_and_ensembles_stored_predictions(tables, tmp_path, capsys):
    home = tmp_path / "home"
    assert run(*create_args(tables, "post"), home=home) == 0
    assert run("train", "proj=post", "task_list=[churn]", "mode.nested=false", "mode.subroutines=[train,predict]",
               *FAST, home=home) == 0
    predictions = home / "post" / "predictions" / "churn"
    for fold in range(3):
        for split in ("val", "test", "unlabeled"):
            sharpen(predictions / f"fold{fold}" / f"{split}.parquet")
    original = (predictions / "fold0" / "test.parquet").read_bytes()
    assert run("post", "proj=post", "task_list=[churn]", "mode.prior=[1,2,3]", home=home) == 2
    assert "2 positive class shares" in capsys.readouterr().err
    assert run("post", "proj=post", "task_list=[churn]", "mode.weights_budget=0", home=home) == 0
    metrics = home / "post" / "metrics" / "churn"
    reports = [json.loads((metrics / f"fold{fold}.calibration.json").read_text()) for fold in range(3)]
    # fitted on each fold's val predictions; the 40 test rows are few, so the gain on them is over all folds
    assert all(r["splits"]["val"]["log_loss_after"] <= r["splits"]["val"]["log_loss_before"] for r in reports)
    assert sum(r["splits"]["test"]["log_loss_after"] for r in reports) < \
        sum(r["splits"]["test"]["log_loss_before"] for r in reports)
    for fold in range(3):
        assert (metrics / f"fold{fold}.reliability.png").stat().st_size > 1000
        assert (predictions / f"fold{fold}" / "test.calibrated.parquet").exists()
    assert (predictions / "fold0" / "test.parquet").read_bytes() == original           # originals kept
    ensemble = json.loads((metrics / "ensemble.json").read_text())
    assert ensemble["weights"] == pytest.approx([1 / len(ensemble["members"])] * len(ensemble["members"]))
    assert ensemble["selection_rows"] + ensemble["held_out_rows"] == 40
    mixed = pd.read_parquet(predictions / "ensemble" / "test.parquet")
    member = pd.read_parquet(predictions / "fold0" / "test.parquet")
    assert sorted(mixed["row"]) == sorted(member["row"]) and len(mixed) == 40        # the test rows' own ids
    assert len(pd.read_parquet(predictions / "ensemble" / "unlabeled.parquet")) == 20
    assert run("post", "proj=post", "task_list=[churn]", "mode.subroutines=[calibrate]", "mode.prior=quantify",
               home=home) == 0
    quantified = json.loads((metrics / "fold0.calibration.json").read_text())
    assert quantified["prior_source"] == "quantify" and sum(quantified["prior"]) == pytest.approx(1)


# ---------------------------------------------------------------- info
def test_info_writes_its_tables_and_figures(tables, tmp_path, capsys):
    from PIL import Image

    home = tmp_path / "home"
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        bright = i % 2 == 0
        pixels = np.full((16, 16, 3), 200 if bright else 40, dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{i}.png")
        rows.append({"image": f"images/{i}.png", "kind": "bright" if bright else "dark",
                     "note": " ".join(rng.choice(["sunny day", "dark night", "grey sky", "bright lamp"], 3))})
    pd.DataFrame(rows).to_csv(tmp_path / "pictures.csv", index=False)      # image paths relative to the CSV
    assert run(*create_args(tables, "i"), home=home) == 0
    assert run("create", "proj=i", "task_list=[pictures]", f"data.pictures.path={tmp_path / 'pictures.csv'}",
               "data.pictures.label=kind", "mode.n_folds=2", home=home) == 0
    assert run("train", "proj=i", "task_list=[churn]", "mode.cv=false", "mode.nested=false", *FAST, home=home) == 0
    study = home / "i" / "hpo" / "lr_search"
    study.mkdir(parents=True)
    (study / "trials.json").write_text(json.dumps({"name": "lr_search", "metric": "roc_auc", "trials": [
        {"trial": t, "config": {"optimization.learning_rate": lr}, "score": s, "status": "done", "seconds": 1.0}
        for t, (lr, s) in enumerate([(1e-4, 0.7), (1e-3, 0.9), (1e-2, 0.8)])]}))
    assert run("info", "proj=i", "mode.info_grid=false", home=home) == 0          # the documented default subroutines
    out = capsys.readouterr().out
    info = home / "i" / "info"
    for figure in ("tasks/churn.labels.png", "tasks/pictures.labels.png", "hpo/lr_search.png",
                   "samples/pictures.png", "models/churn.curves.png"):
        assert (info / figure).stat().st_size > 1000, figure
        assert str(info / figure) in " ".join(out.split())
    assert not (info / "samples" / "grid.png").exists()                            # info_grid=false
    assert run("info", "proj=i", "mode.subroutines=[samples]", "mode.info_individual=false",
               "task_list=[pictures]", home=home) == 0
    assert (info / "samples" / "grid.png").exists()
    assert "bright" in out and "label per fold" in out


def test_each_log_message_is_printed_once(tables, tmp_path):
    """As in tl: a predictor made in the process (it adds a handler of its own) before a mode logs a warning."""
    home = tmp_path / "home"
    assert run(*create_args(tables, "once"), home=home) == 0
    study = home / "once" / "hpo" / "search"
    study.mkdir(parents=True)
    (study / "trials.json").write_text(json.dumps({"name": "search", "metric": "roc_auc", "trials": [
        {"trial": 0, "config": {"optimization.learning_rate": 1e-3}, "score": 0.8, "status": "done", "seconds": 1}]}))
    script = ("import sys\nfrom automodal import MultiModalPredictor\nfrom automodal.cli.main import main\n"
              "MultiModalPredictor(label='y')\n"
              f"sys.exit(main(['info', 'proj=once', 'mode.subroutines=[hpo]', 'root={home}']))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("no mode.study_name given") == 1, done.stderr


# ---------------------------------------------------------------- pp
def picture_table(tmp_path, count=24, size=24):
    """Bright and dark images with relative paths in a CSV beside them."""
    from PIL import Image

    directory = tmp_path / "images"
    directory.mkdir(exist_ok=True)
    rows = []
    for i in range(count):
        bright = i % 2 == 0
        pixels = np.full((size, size + 4, 3), 200 if bright else 40, dtype=np.uint8)
        Image.fromarray(pixels).save(directory / f"{i}.png")
        rows.append({"image": f"images/{i}.png", "kind": "bright" if bright else "dark"})
    pd.DataFrame(rows).to_csv(tmp_path / "pictures.csv", index=False)
    return tmp_path / "pictures.csv"


def test_pp_store_is_used_while_it_matches_and_rebuilt_when_files_or_settings_change(tmp_path, monkeypatch,
                                                                                    capsys):
    from PIL import Image

    from automodal.data import image_cache
    from image_helpers import save_tiny_checkpoint

    home = tmp_path / "home"
    table = picture_table(tmp_path)
    checkpoint = save_tiny_checkpoint(tmp_path / "checkpoint")
    assert run("create", "proj=pp", "task_list=[pictures]", f"data.pictures.path={table}",
               "data.pictures.label=kind", "mode.n_folds=2", home=home) == 0
    assert run("pp", "proj=pp", "task_list=[pictures]", "mode.max_image_side=16", home=home) == 0
    cache = home / "pp" / "cache" / "pictures"
    first = [p.name for p in cache.iterdir()]
    assert len(first) == 1 and first[0].endswith("-16")
    served, opened = [], []
    get, open_ = image_cache.ImageStore.get, Image.open
    monkeypatch.setattr(image_cache.ImageStore, "get", lambda self, p: served.append(p) or get(self, p))
    monkeypatch.setattr(Image, "open", lambda p, *a, **k: opened.append(str(p)) or open_(p, *a, **k))
    train = ["train", "proj=pp", "task_list=[pictures]", "mode.cv=false", "mode.nested=false",
             "hp.model.names=[timm_image]", f"hp.model.timm_image.checkpoint_name={checkpoint}",
             "hp.env.num_workers=0", "hp.optimization.max_epochs=1", "mode.subroutines=[train,predict]"]
    assert run(*train, home=home) == 0
    assert "images from the pp store" in capsys.readouterr().out
    assert served and not [p for p in opened if p.endswith(".png") and "images" in p]   # no image file decoded
    assert run("pp", "proj=pp", "task_list=[pictures]", "mode.max_image_side=64", home=home) == 0
    assert [p.name for p in cache.iterdir()] != first and len(list(cache.iterdir())) == 1  # a new setting: rebuilt
    Image.fromarray(np.zeros((16, 20, 3), dtype=np.uint8)).save(tmp_path / "images" / "0.png")   # a file changes
    capsys.readouterr()
    assert run(*train, home=home) == 0
    assert "images from the pp store" not in capsys.readouterr().out                    # the old store is stale
    assert run("pp", "proj=pp", "task_list=[pictures]", "mode.max_image_side=64", home=home) == 0
    assert run(*train, home=home) == 0
    assert "images from the pp store" in capsys.readouterr().out


def test_pp_token_store_serves_the_tokenizer_s_ids(tmp_path, monkeypatch, capsys):
    from automodal.data import token_cache
    from checkpoints import build_text_checkpoint
    from text_helpers import review

    home = tmp_path / "home"
    rng = np.random.default_rng(0)
    positive = rng.random(60) < 0.5
    pd.DataFrame({"review": [review(rng, p) for p in positive], "liked": np.where(positive, "yes", "no")}).to_csv(
        tmp_path / "reviews.csv", index=False)
    checkpoint = build_text_checkpoint(str(tmp_path / "bert"))
    text_keys = [f"hp.model.hf_text.checkpoint_name={checkpoint}", "hp.model.names=[hf_text]"]
    assert run("create", "proj=tx", "task_list=[reviews]", f"data.reviews.path={tmp_path / 'reviews.csv'}",
               "data.reviews.label=liked", "mode.n_folds=2", home=home) == 0
    assert run("pp", "proj=tx", "task_list=[reviews]", *text_keys, home=home) == 0
    [store] = list((home / "tx" / "cache" / "reviews").glob("tokens-*.parquet"))
    tokenized = []
    original = token_cache.tokenize

    def counting(tokenizer, texts):
        store_ = token_cache._ACTIVE.get(token_cache.tokenizer_fingerprint(tokenizer))
        tokenized.extend(store_.lookup(texts)[1] if store_ else texts)     # what the tokenizer itself must read
        return original(tokenizer, texts)

    monkeypatch.setattr("automodal.data.text.tokenize", counting)
    assert run("train", "proj=tx", "task_list=[reviews]", "mode.cv=false", "mode.nested=false", *text_keys,
               "hp.optimization.max_epochs=1", home=home) == 0
    assert "token ids from 1 pp store" in capsys.readouterr().out
    assert tokenized == []                                   # every text came from the store
    assert len(pd.read_parquet(store)) == len(set(pd.read_csv(tmp_path / "reviews.csv")["review"]))


# ---------------------------------------------------------------- experiment tracking
def test_each_fold_is_an_mlflow_run_tagged_with_task_fold_and_run(tables, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    home, uri = tmp_path / "home", f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert run(*create_args(tables, "tracked", folds=2), home=home) == 0
    assert run("train", "proj=tracked", "task_list=[churn]", "mode.nested=false", "mode.loggers=[mlflow]",
               f"mode.mlflow_uri={uri}", *FAST, home=home) == 0
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("automodal").experiment_id])
    assert sorted(r.data.tags["fold"] for r in runs) == ["0", "1"]
    run_ids = {r.data.tags["run_id"] for r in runs}
    assert len(run_ids) == 1 and run_ids <= set(os.listdir(home / "tracked" / "runs"))
    for logged in runs:
        assert logged.data.tags["task"] == "churn" and logged.data.tags["project"] == "tracked"
        assert logged.info.run_name == f"churn-fold{logged.data.tags['fold']}"
        assert "val_score" in logged.data.metrics and "lr" in logged.data.metrics
        model = home / "tracked" / "models" / "churn" / f"fold{logged.data.tags['fold']}"
        assert not (model / "tensorboard").exists()     # named loggers replace the default


# ---------------------------------------------------------------- runs on a Ray cluster
def test_a_run_on_ray_gives_the_models_of_a_sequential_run(tables, tmp_path, ray_session):
    home = tmp_path / "home"
    plan = ["task_list=[churn]", "mode.nested=false", "mode.subroutines=[train,test]", *FAST]
    records = {}
    for proj, executor in (("seq", "local"), ("par", "ray")):
        assert run(*create_args(tables, proj, folds=3), home=home) == 0
        assert run("train", f"proj={proj}", *plan, f"mode.executor={executor}", home=home) == 0
        records[proj] = [json.loads((home / proj / "models" / "churn" / f"fold{k}.json").read_text())
                         for k in range(3)]
    for sequential, parallel in zip(records["seq"], records["par"]):
        assert parallel["val_score"] == pytest.approx(sequential["val_score"], abs=2e-3)
        assert parallel["epochs"] == sequential["epochs"]
    run_dir, = [p for p in (home / "par" / "runs").iterdir() if "-train-" in p.name]
    done = [json.loads(line)["step"] for line in (run_dir / "done.jsonl").read_text().splitlines()]
    assert sorted(done) == sorted([f"{s}:churn:fold{k}" for s in ("train", "test") for k in range(3)]
                                  + ["report:churn"])
    assert "sent to Ray" in (run_dir / "run.log").read_text()
    metrics = list((home / "par" / "metrics").rglob("*"))
    assert metrics, "the report step ran after the Ray tasks"
