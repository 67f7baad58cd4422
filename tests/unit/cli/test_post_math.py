"""The arithmetic of post: affine calibration, Adjusted Classify & Count, and the ensemble search."""

import numpy as np
import pytest

from automodal.cli import calibration
from automodal.cli.ensemble import combine, member_sets, search


def overconfident(n=2000, seed=0):
    """Probabilities of a model that is right 80% of the time but says 99%."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    right = rng.random(n) < 0.8
    predicted = np.where(right, y, 1 - y)
    proba = np.full((n, 2), 0.01)
    proba[np.arange(n), predicted] = 0.99
    return proba, y


def test_calibration_lowers_the_log_loss_of_an_overconfident_model():
    proba, y = overconfident()
    prior = calibration.class_shares(y, 2)
    temperature, bias = calibration.fit_affine(proba[:1000], y[:1000], prior)
    after = calibration.apply_affine(proba[1000:], temperature, bias, prior)
    assert temperature < 0.5                      # it softens
    assert calibration.log_loss(after, y[1000:]) < 0.6 * calibration.log_loss(proba[1000:], y[1000:])
    assert calibration.expected_calibration_error(after, y[1000:]) < 0.05
    assert (after.argmax(1) == proba[1000:].argmax(1)).all()        # the ranking of classes is kept


def test_quantify_recovers_a_shifted_class_prior():
    rng = np.random.default_rng(1)

    def predictions(y):       # a classifier with 85% / 70% recall on classes 0 / 1
        right = rng.random(len(y)) < np.where(y == 0, 0.85, 0.70)
        predicted = np.where(right, y, 1 - y)
        proba = np.full((len(y), 2), 0.3)
        proba[np.arange(len(y)), predicted] = 0.7
        return proba

    val_y = rng.integers(0, 2, 4000)
    unlabeled_y = (rng.random(4000) < 0.2).astype(int)      # 80% / 20% instead of 50% / 50%
    estimate = calibration.quantify(predictions(val_y), val_y, predictions(unlabeled_y))
    assert estimate == pytest.approx([0.8, 0.2], abs=0.05)


def test_a_prior_list_is_checked():
    assert calibration.check_prior([1, 3], 2) == pytest.approx([0.25, 0.75])
    for bad in ([0.5], [0.5, 0.0], [0.2, 0.3, 0.5]):
        with pytest.raises(ValueError, match="2 positive class shares"):
            calibration.check_prior(bad, 2)


def test_member_sets_are_drawn_once_each_best_ranked_first():
    sets = list(member_sets(4, 2, 0.0, np.random.default_rng(0)))
    assert sets[0] == (0,) and len(sets) == len(set(sets)) == 4 + 6
    random_sets = list(member_sets(5, 3, 0.7, np.random.default_rng(0)))
    assert len(random_sets) == len(set(random_sets)) == 5 + 10 + 10


def complementary(n=400, seed=0):
    """Two models, each right on its own half of the rows and guessing on the other."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    half = np.arange(n) < n // 2
    outputs = []
    for good in (half, ~half):
        proba = np.full((n, 2), 0.5)
        proba[good] = 0.1
        proba[good, y[good]] = 0.9
        outputs.append(proba)
    return outputs, y


def test_an_ensemble_of_complementary_models_beats_its_best_member():
    outputs, y = complementary()
    loss = lambda o: calibration.log_loss(o, y)      # noqa: E731
    choice = search(outputs, loss, budget=100, weights_budget=10, max_size=2, temperature=0.3,
                    weights_temperature=0.5, seed=0)
    assert len(choice.members) == 2
    assert choice.loss < min(loss(o) for o in outputs) - 0.03


def test_weights_budget_zero_weighs_members_equally_and_one_model_works():
    outputs, y = complementary()
    loss = lambda o: calibration.log_loss(o, y)      # noqa: E731
    choice = search(outputs, loss, budget=100, weights_budget=0, max_size=2, temperature=0.0,
                    weights_temperature=0.5, seed=0)
    assert choice.weights == pytest.approx([0.5, 0.5])
    assert choice.loss == pytest.approx(loss(combine(outputs, [0.5, 0.5])))
    single = search(outputs[:1], loss, budget=10, weights_budget=5, max_size=5, temperature=0.3,
                    weights_temperature=0.5, seed=0)
    assert single.members == (0,) and single.weights == pytest.approx([1.0])


def test_the_budget_bounds_the_tries():
    outputs, y = complementary()
    calls = []
    search(outputs, lambda o: calls.append(1) or calibration.log_loss(o, y), budget=3, weights_budget=10,
           max_size=2, temperature=0.0, weights_temperature=0.5, seed=0)
    assert len(calls) == 2 + 3                       # each model ranked once, then three candidates
