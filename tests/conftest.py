"""Shared fixtures: small generated frames and hyperparameters that keep each fit to a few seconds."""

import os

import numpy as np
import pandas as pd
import pytest
import torch

# The models in tests are tiny: one thread avoids OpenMP start-up costs and contention with other processes.
torch.set_num_threads(1)

# Fast settings for fits in tests: no worker processes, small batches, few epochs, a from-scratch learning rate,
# one network.
FAST = {
    "env.per_gpu_batch_size": 32,
    "env.batch_size": 32,
    "env.num_workers": 0,
    "env.num_workers_evaluation": 0,
    "optimization.learning_rate": 3e-3,
    "optimization.max_epochs": 8,
    "optimization.val_check_interval": 1.0,
    "optimization.bag_folds": 0,        # one network: tests of other keys need not train five (test_bagging does)
}


def record_calls(monkeypatch, owner, name: str, keep=lambda result: result) -> list:
    """Wrap owner.name so every call's result (passed through `keep`) is appended to the returned list."""
    recorded = []
    original = getattr(owner, name)

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        recorded.append(keep(result))
        return result

    monkeypatch.setattr(owner, name, recording)
    return recorded


@pytest.fixture(scope="module")
def offline():
    """The Hugging Face hub unreachable, as on a machine without network, for a whole test module."""
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    if previous is None:
        os.environ.pop("HF_HUB_OFFLINE")
    else:
        os.environ["HF_HUB_OFFLINE"] = previous


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray cluster for every test that needs Ray (searches, prediction through Ray Data)."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


def fast(**overrides):
    """FAST with extra dotted keys, e.g. fast(**{"optimization.top_k": 1})."""
    return {**FAST, **overrides}


@pytest.fixture
def mixed_frame():
    """Binary task whose label depends on two numerical columns and one categorical column, with NaNs."""
    rng = np.random.default_rng(0)
    n = 400
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = 2 * x1 - x2 + np.where(color == "red", 1.5, -0.5)
    frame = pd.DataFrame({
        "x1": x1, "x2": x2, "color": color,
        "label": np.where(logit + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
    })
    frame.loc[::17, "x2"] = np.nan
    frame.loc[::23, "color"] = None
    return frame


@pytest.fixture
def regression_frame():
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=(n, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                         "y": 100 + 30 * x[:, 0] - 20 * x[:, 1] + rng.normal(scale=3, size=n)})


@pytest.fixture(scope="session")
def sam_checkpoint(tmp_path_factory):
    """A tiny random Segment Anything checkpoint directory (automodal.demo_scenes.small_sam)."""
    from automodal.demo_scenes import small_sam

    return small_sam(str(tmp_path_factory.mktemp("tiny_sam")))
