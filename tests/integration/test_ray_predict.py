"""Chunked prediction of a file on Ray (Ray Data workers that each load the saved predictor) equals local."""

import numpy as np
import pandas as pd
import pytest

from automodal import MultiModalPredictor
from automodal.errors import AutomodalError
from conftest import fast


def test_prediction_on_ray_equals_local_chunked_prediction(mixed_frame, tmp_path, ray_session):
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "model"), verbosity=0).fit(
        mixed_frame, hyperparameters=fast(**{"optimization.max_epochs": 2}))
    rows = mixed_frame.drop(columns="label")
    for suffix in ("parquet", "csv"):
        source = tmp_path / f"rows.{suffix}"
        rows.to_csv(source, index=False) if suffix == "csv" else rows.to_parquet(source, index=False)
        local = predictor.predict_proba(str(source), chunk_size=64, on_ray=False)
        remote = predictor.predict_proba(str(source), chunk_size=64, on_ray=True)
        assert list(remote.columns) == list(local.columns) == predictor.class_labels
        assert list(remote.index) == list(range(len(rows)))
        np.testing.assert_allclose(remote.to_numpy(), local.to_numpy(), atol=1e-6)
    out = tmp_path / "labels.parquet"
    assert predictor.predict(str(source), output_path=str(out), chunk_size=100, on_ray=True) == str(out)
    written = pd.read_parquet(out)
    assert list(written["row"]) == list(range(len(rows)))
    assert (written["label"].astype(str).to_numpy() == predictor.predict(rows).astype(str).to_numpy()).all()
    positive = predictor.predict_proba(str(source), chunk_size=100, on_ray=True, as_multiclass=False)
    np.testing.assert_allclose(positive.to_numpy()[:, 0], local.to_numpy()[:, 1], atol=1e-6)


def test_prediction_on_ray_needs_a_saved_predictor_and_chunks(mixed_frame, tmp_path, ray_session):
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "model"), verbosity=0).fit(
        mixed_frame, hyperparameters=fast(**{"optimization.max_epochs": 1}))
    source = tmp_path / "rows.parquet"
    mixed_frame.to_parquet(source, index=False)
    with pytest.raises(AutomodalError, match="chunk_size or output_path"):
        predictor.predict(str(source), on_ray=True)
    predictor._path = str(tmp_path / "never_saved")
    with pytest.raises(AutomodalError, match="save it first"):
        predictor.predict(str(source), chunk_size=10, on_ray=True)
