"""Experiment trackers (fit(loggers=...)): TensorBoard event files saved with the predictor by default, read back
with TensorBoard's own reader; an MLflow run with its metrics, configuration and tags; none with loggers=[]."""

import glob
import os

import numpy as np
import pandas as pd
import pytest
from lightning.pytorch import Callback

from automodal import MultiModalPredictor
from automodal.errors import AutomodalError

pytest.importorskip("tensorboard")


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(240, 4)), columns=list("abcd"))
    data["label"] = (data.a + 0.5 * data.b > 0).astype(int)
    return data


KEYS = {"optimization.max_epochs": 3, "optimization.log_every_n_steps": 1}


def event_scalars(directory: str) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = glob.glob(os.path.join(directory, "**", "events.out.tfevents*"), recursive=True)
    assert files, f"no event files under {directory}"
    events = EventAccumulator(files[0])
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_events_are_saved_with_the_predictor_by_default(frame, tmp_path):
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(frame,
                                                                                              hyperparameters=KEYS)
    assert predictor.fit_summary()["training_loop"] == "fabric"
    scalars = event_scalars(str(tmp_path / "m" / "tensorboard"))
    logged = pd.read_csv(tmp_path / "m" / "training_log.csv")
    assert scalars["val_score"] == pytest.approx(logged["val_score"].dropna().tolist())
    assert {"train_loss", "lr", "val_loss"} <= set(scalars)
    predictor.save(str(tmp_path / "copy"))            # a later save carries the events along
    assert event_scalars(str(tmp_path / "copy" / "tensorboard"))["val_score"] == scalars["val_score"]


def test_no_loggers_writes_the_training_log_only(frame, tmp_path):
    MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(frame, hyperparameters=KEYS,
                                                                                  loggers=[])
    assert not (tmp_path / "m" / "tensorboard").exists() and (tmp_path / "m" / "training_log.csv").exists()


def test_an_mlflow_run_holds_the_scores_configuration_and_tags(frame, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # a fit given callbacks trains on Lightning's Trainer: the second training loop logs the same way
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(
        frame, hyperparameters=KEYS, loggers=["mlflow"], callbacks=[Callback()])
    assert predictor.fit_summary()["training_loop"] == "trainer"
    client = mlflow.MlflowClient(uri)
    run, = client.search_runs([client.get_experiment_by_name("automodal").experiment_id])
    logged = pd.read_csv(tmp_path / "m" / "training_log.csv")["val_score"].dropna().tolist()
    history = [m.value for m in client.get_metric_history(run.info.run_id, "val_score")]
    assert history == pytest.approx(logged)
    assert {"train_loss", "lr", "val_loss"} <= set(run.data.metrics)
    assert run.data.params["optimization.max_epochs"] == "3"
    assert run.data.tags["path"] == str(tmp_path / "m") and run.info.run_name == "m"


def test_an_unknown_logger_is_refused_before_training(frame, tmp_path):
    with pytest.raises(AutomodalError, match="unknown logger 'tensorbord'"):
        MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(frame, loggers=["tensorbord"])
    assert not (tmp_path / "m").exists()


def test_training_and_chunked_prediction_count_their_progress(frame, tmp_path, monkeypatch):
    from automodal import progress
    from automodal.deploy import file_prediction
    from automodal.training import fabric_loop

    bars = []

    class Recorded(progress.Bar):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(fabric_loop, "Bar", Recorded)
    monkeypatch.setattr(file_prediction, "Bar", Recorded)
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(
        frame, loggers=[], hyperparameters={"optimization.max_epochs": 2, "env.per_gpu_batch_size": 32,
                                            "optimization.bag_folds": 0})
    epochs = [bar for bar in bars if bar.description.startswith("epoch")]
    assert len(epochs) == 2 and all(bar.done == bar.total for bar in epochs)
    assert not any(bar.wanted for bar in bars)              # verbosity 0: never drawn
    frame.drop(columns="label").to_parquet(tmp_path / "rows.parquet")
    predictor.predict_proba(str(tmp_path / "rows.parquet"), chunk_size=100)
    assert bars[-1].done == bars[-1].total == len(frame)
