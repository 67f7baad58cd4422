"""data.categorical.crosses: a pair of columns that act on the label together reaches the network as one more
categorical column, saved with the predictor and read the same for one row as for many."""

import numpy as np
from sklearn.metrics import roc_auc_score

from automodal import MultiModalPredictor
from conftest import fast
from table_helpers import flights


def fitted(train, tmp_path, **keys):
    return MultiModalPredictor(label="late", path=str(tmp_path), verbosity=0).fit(
        train, hyperparameters=fast(**{"optimization.max_epochs": 5, **keys}), seed=0)


def test_a_date_given_as_month_and_day_is_read_as_one_and_scores_better(tmp_path):
    train, test = flights(rows=5000), flights(rows=1500, seed=1)
    predictor = fitted(train, tmp_path / "crossed")
    summary = predictor.fit_summary()
    assert summary["crossed_columns"] == [["month", "day"]]
    assert "month × day" in summary["target_encoded_columns"]    # 336 cells: its mean label too
    assert set(predictor.column_types) == {"month", "day", "carrier", "distance"}     # what a request holds
    apart = fitted(train, tmp_path / "apart", **{"data.categorical.crosses": 0})
    assert apart.fit_summary()["crossed_columns"] == []
    scores = [roc_auc_score(test["late"], p.predict_proba(test)["yes"]) for p in (predictor, apart)]
    assert scores[0] > scores[1] + 0.03, scores
    loaded = MultiModalPredictor.load(predictor.path)
    np.testing.assert_allclose(loaded.predict_proba(test).to_numpy(), predictor.predict_proba(test).to_numpy(),
                               atol=1e-6)
    one = loaded.predict_proba(test.head(1).astype({"month": float, "day": float})).to_numpy()
    np.testing.assert_allclose(one, predictor.predict_proba(test).to_numpy()[:1], atol=1e-6)
