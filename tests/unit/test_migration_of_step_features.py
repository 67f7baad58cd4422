"""Format 1 has no step features of numbers: a predictor trained with them refuses to go down; one without them
goes down and comes back with the same configuration."""

import pytest

from automodal.migrations import STEPS, MigrationError


def files(bins: int) -> dict:
    numerical = {"kind": "numerical", "columns": ["x"], "transform": "standard", "with_mean": True,
                 "with_std": True, "mean": [0.0], "scale": [1.0]}
    model = {"numerical_mlp": {"hidden_size": 8, "embedding": "none", "piecewise_bins": bins}}
    return {"processors.json": {"format_version": 2, "features": {"column_types": {"x": "numerical"},
                                                                  "processors": {"numerical": numerical}}},
            "config.yaml": {"model": model}, "automodal.json": {"format_version": 2, "problem_type": "binary"}}


def test_a_predictor_with_step_features_refuses_format_1():
    with pytest.raises(MigrationError, match="piecewise_bins"):
        STEPS[(2, 1)](files(48))


def test_a_predictor_without_them_goes_down_and_up_unchanged():
    down = STEPS[(2, 1)](files(0))
    assert down["config.yaml"]["model"]["numerical_mlp"] == {"hidden_size": 8}
    assert STEPS[(1, 2)](down)["config.yaml"] == files(0)["config.yaml"]
