"""Distributed training on the CPU: ddp_spawn and ddp run several gloo processes (env.num_processes) that shard
every batch, agree on one validation score, keep top-k checkpoints written by one process, and leave the same kind
of saved predictor as a one-process fit. A strategy that cannot apply says so."""

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from automodal import MultiModalPredictor
from automodal.config import resolve_config
from automodal.training.trainer import plan_devices
from conftest import fast

KEYS = {"optimization.max_epochs": 6, "optimization.top_k": 2, "optimization.patience": 10}


@pytest.fixture(scope="module")
def frames():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer(as_frame=True).frame
    return train_test_split(data, test_size=0.3, random_state=0, stratify=data["target"])


@pytest.fixture(scope="module")
def single(frames, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("single") / "model")
    return MultiModalPredictor(label="target", path=path, verbosity=0).fit(frames[0], hyperparameters=fast(**KEYS))


def test_two_spawned_processes_train_as_well_as_one(frames, single, tmp_path):
    predictor = MultiModalPredictor(label="target", path=str(tmp_path / "spawn"), verbosity=0).fit(
        frames[0], hyperparameters=fast(**KEYS, **{"env.strategy": "ddp_spawn", "env.num_processes": 2,
                                                   "env.per_gpu_batch_size": 16}))
    summary = predictor.fit_summary()
    assert summary["strategy"] == "ddp_spawn" and summary["processes"] == 2
    # the parent process did not train: the checkpoint list and the record came back from the first child
    assert summary["checkpoints_averaged"] >= 1 and len(summary["checkpoints"]) == 2
    assert summary["global_step"] > 0 and summary["stop_reason"] in ("max_epochs", "early_stopping")
    # each process took 16 rows of every batch of 32: as many steps as one process
    assert summary["global_step"] == single.fit_summary()["global_step"]
    assert sorted(os.listdir(predictor.path)) == sorted(os.listdir(single.path))
    test = frames[1]
    assert predictor.evaluate(test)["roc_auc"] >= single.evaluate(test)["roc_auc"] - 0.01
    loaded = MultiModalPredictor.load(predictor.path)
    assert (loaded.predict(test) == predictor.predict(test)).all()


SCRIPT = """
    import sys
    from sklearn.datasets import load_breast_cancer
    from automodal import MultiModalPredictor

    data = load_breast_cancer(as_frame=True).frame
    keys = {keys!r}
    predictor = MultiModalPredictor(label="target", path=sys.argv[1], verbosity=0).fit(data, hyperparameters=keys)
    summary = predictor.fit_summary()
    print("RANK-RESULT", summary["processes"], summary["stop_reason"], summary["checkpoints_averaged"], flush=True)
"""


def test_ddp_runs_the_script_in_each_process_and_the_first_saves(tmp_path):
    script = tmp_path / "train.py"
    keys = fast(**KEYS, **{"env.strategy": "ddp", "env.num_processes": 2})
    script.write_text(textwrap.dedent(SCRIPT.format(keys=keys)))
    target = tmp_path / "model"
    run = subprocess.run([sys.executable, str(script), str(target)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert run.returncode == 0, run.stderr[-3000:]
    results = sorted(line.split()[1:] for line in run.stdout.splitlines() if line.startswith("RANK-RESULT"))
    # the first process soups and saves; the other trained its share and saves nothing
    assert results == [["2", "None", "0"], ["2", "early_stopping", "2"]] or \
        results == [["2", "None", "0"], ["2", "max_epochs", "2"]], run.stdout
    assert (target / "model.safetensors").exists()
    assert MultiModalPredictor.load(str(target)).fit_summary()["strategy"] == "ddp"


def config_with(**keys):
    return resolve_config(None, keys)


def test_the_seeds_default_strategy_trains_in_this_process_on_a_cpu(caplog):
    with caplog.at_level(logging.DEBUG, logger="automodal"):
        plan = plan_devices(config_with(**{"env.num_gpus": 0}))
    assert (plan.accelerator, plan.strategy, plan.world_size) == ("cpu", "auto", 1)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("keys, message", [
    ({"env.strategy": "ddp_spawn"}, "set env.num_processes"),
    ({"env.strategy": "dp"}, "on the CPU it does not apply"),
    ({"env.strategy": "auto", "env.num_processes": 2}, "needs env.strategy ddp or ddp_spawn"),
])
def test_a_chosen_strategy_that_cannot_apply_says_so(caplog, keys, message):
    with caplog.at_level(logging.WARNING, logger="automodal"):
        plan = plan_devices(config_with(**{"env.num_gpus": 0, **keys}))
    assert plan.world_size == 1
    assert message in caplog.text


def test_processes_and_nodes_reach_the_plan():
    plan = plan_devices(config_with(**{"env.num_gpus": 0, "env.strategy": "ddp", "env.num_processes": 3,
                                       "env.num_nodes": 2}))
    assert (plan.strategy, plan.devices, plan.num_nodes, plan.world_size) == ("ddp", 3, 2, 6)
