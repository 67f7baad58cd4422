"""model.categorical_mlp.target_encoding: a column of many categories also reaches the network as each category's
mean label, out of fold on the training rows, saved with the weights; a column of few categories does not."""

import numpy as np
import pandas as pd
import pytest

from automodal import MultiModalPredictor
from automodal.errors import ConfigError
from conftest import fast


def ratings(rows: int, users: int, seed: int) -> pd.DataFrame:
    """Whether a user likes an item: mostly the user's own taste, which only the user's id tells."""
    rng = np.random.default_rng(seed)
    taste = np.random.default_rng(99).normal(size=users)
    user = rng.integers(0, users, rows)
    frame = pd.DataFrame({"user": [f"u{i}" for i in user], "price": rng.normal(size=rows),
                          "shop": rng.choice(["north", "south", "east"], rows)})
    frame["liked"] = np.where(1.5 * taste[user] - 0.5 * frame["price"] + rng.normal(size=rows) > 0, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def frames():
    return ratings(3000, 250, 0), ratings(1000, 250, 1)


def fitted(train, tmp_path, **keys):
    return MultiModalPredictor(label="liked", path=str(tmp_path), verbosity=0).fit(
        train, hyperparameters=fast(**{"optimization.max_epochs": 4, **keys}), seed=0)


def test_a_column_of_many_categories_is_read_as_its_mean_label_saved_with_the_weights(frames, tmp_path):
    train, test = frames
    encoded = fitted(train, tmp_path / "encoded", **{"model.categorical_mlp.target_encoding": 200})
    plain = fitted(train, tmp_path / "plain", **{"model.categorical_mlp.target_encoding": None})
    assert encoded.fit_summary()["target_encoded_columns"] == ["user"]    # 250 users; 3 shops stay embeddings
    assert plain.fit_summary()["target_encoded_columns"] == []
    loaded = MultiModalPredictor.load(encoded.path)
    assert np.array_equal(loaded.predict_proba(test).to_numpy(), encoded.predict_proba(test).to_numpy())
    # the saved means are the users' shrunk mean labels over the training rows the network trained on
    model = loaded.learner.require_fitted()
    encoder = model.net.backbones["categorical_mlp"].target_encoding
    categorical = model.pipeline.processors["categorical"]
    codes = categorical.transform(train)[:, categorical.columns.index("user")]
    assert encoder.means.shape == (categorical.num_categories[categorical.columns.index("user")], 1)
    liked = (train["liked"] == "yes").to_numpy()
    by_user = pd.Series(liked).groupby(codes).mean()
    means = encoder.means[:, 0].numpy()
    # shrunk towards the overall rate, so ordered as the users' own rates are
    assert np.corrcoef(means[by_user.index], by_user.to_numpy())[0, 1] > 0.9
    assert not np.array_equal(encoded.predict_proba(test).to_numpy(), plain.predict_proba(test).to_numpy())


def test_the_threshold_counts_the_training_categories(frames, tmp_path):
    predictor = fitted(frames[0].head(600), tmp_path, **{"model.categorical_mlp.target_encoding": 1000})
    assert predictor.fit_summary()["target_encoded_columns"] == []


@pytest.mark.parametrize("value", [1, "many", 2.5])
def test_a_wrong_threshold_is_refused(value):
    with pytest.raises(ConfigError, match="model.categorical_mlp.target_encoding"):
        MultiModalPredictor(label="liked", hyperparameters={"model.categorical_mlp.target_encoding": value})
