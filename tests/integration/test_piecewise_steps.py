"""A classification's numbers also reach the network as steps (model.numerical_mlp.piecewise_bins); a predictor
saved before the key continues training with the network it was saved with."""

import os

import numpy as np
import yaml

from automodal import MultiModalPredictor
from conftest import fast


def numerical_mlp(predictor):
    return predictor._learner.model.net.backbones["numerical_mlp"]


def test_steps_are_saved_with_the_choice_and_an_older_predictor_continues_without_them(mixed_frame, tmp_path):
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "new"), verbosity=0).fit(
        mixed_frame, hyperparameters=fast(), seed=0)
    assert numerical_mlp(predictor).piecewise is not None
    loaded = MultiModalPredictor.load(predictor.path)
    assert numerical_mlp(loaded).piecewise is not None
    np.testing.assert_allclose(loaded.predict_proba(mixed_frame).to_numpy(),
                               predictor.predict_proba(mixed_frame).to_numpy(), atol=1e-6)

    plain = MultiModalPredictor(label="label", path=str(tmp_path / "old"), verbosity=0).fit(
        mixed_frame, hyperparameters=fast(**{"model.numerical_mlp.piecewise_bins": 0}), seed=0)
    config_file = os.path.join(plain.path, "config.yaml")
    with open(config_file) as f:
        config = yaml.safe_load(f)
    del config["model"]["numerical_mlp"]["piecewise_bins"]          # as saved before the key existed
    with open(config_file, "w") as f:
        yaml.safe_dump(config, f)
    older = MultiModalPredictor.load(plain.path)
    assert numerical_mlp(older).piecewise is None
    again = MultiModalPredictor(label="label", path=str(tmp_path / "again"), verbosity=0).fit(
        mixed_frame, init_from=older, hyperparameters=fast(), seed=0)
    assert numerical_mlp(again).piecewise is None
    assert "model.numerical_mlp.piecewise_bins" not in again.fit_summary()["chosen_defaults"]
