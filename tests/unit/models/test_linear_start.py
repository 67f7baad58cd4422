"""models.linear_start: the fixed linear model a table network starts from."""

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, RidgeCV

from automodal.data.types import CATEGORICAL, NUMERICAL
from automodal.learners.tabular.network import _shrink_towards_linear
from automodal.models.linear_start import RIDGE_ALPHAS, LinearStart


def arrays(rows=200, seed=0):
    rng = np.random.default_rng(seed)
    numerical = rng.normal(size=(rows, 3)).astype(np.float32)
    codes = np.stack([rng.integers(0, 4, rows), rng.integers(0, 2, rows)], 1)
    return {NUMERICAL: numerical, CATEGORICAL: codes}, numerical, codes


def design(numerical, codes):
    return np.concatenate([numerical, np.eye(4)[codes[:, 0]], np.eye(2)[codes[:, 1]]], 1)


def test_regression_start_predicts_as_ridge():
    data, numerical, codes = arrays()
    y = numerical @ [1.0, -2.0, 0.5] + np.array([0, 1, 2, 3])[codes[:, 0]] + np.random.default_rng(1).normal(
        size=200) * 0.1
    start = LinearStart(3, [4, 2], 1).fit(data, y, regression=True)
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(design(numerical, codes), y)
    ours = start({k: torch.from_numpy(v) for k, v in data.items()})[:, 0].numpy()
    assert np.allclose(ours, ridge.predict(design(numerical, codes)), atol=1e-4)


def test_classification_start_gives_logistic_logits_and_absent_classes_stay_low():
    data, numerical, codes = arrays()
    labels = (numerical[:, 0] > 0).astype(int) * 2          # classes 0 and 2 of three: class 1 is absent
    start = LinearStart(3, [4, 2], 3).fit(data, labels, regression=False)
    logits = start({k: torch.from_numpy(v) for k, v in data.items()})
    reference = LogisticRegression(C=1.0, max_iter=1000).fit(design(numerical, codes), labels)
    proba = torch.softmax(logits, 1).numpy()
    assert np.allclose(proba[:, [0, 2]], reference.predict_proba(design(numerical, codes)), atol=1e-3)
    assert proba[:, 1].max() < 1e-3


def test_numerical_only_and_categorical_only_starts():
    data, numerical, codes = arrays()
    y = numerical[:, 0]
    only_numbers = LinearStart(3, [], 1).fit({NUMERICAL: numerical}, y, regression=True)
    assert np.allclose(only_numbers({NUMERICAL: torch.from_numpy(numerical)})[:, 0].numpy(), y, atol=0.05)
    only_codes = LinearStart(0, [4, 2], 2).fit({CATEGORICAL: codes}, (codes[:, 0] > 1).astype(int), False)
    predicted = only_codes({CATEGORICAL: torch.from_numpy(codes)}).argmax(1).numpy()
    assert (predicted == (codes[:, 0] > 1)).all()


class Net(torch.nn.Module):
    def __init__(self, outputs=1):
        super().__init__()
        self.head = torch.nn.Linear(2, outputs)
        self.regression = outputs == 1


def test_the_head_is_halved_unless_a_larger_scale_is_clearly_better():
    net = Net()
    weight = net.head.weight.detach().clone()
    # scores that barely move with the scale: the halved head stays
    chosen = _shrink_towards_linear(net, lambda: -10.0 - 0.001 * float(net.head.weight.detach().abs().sum()),
                                    {"score": -10.0})
    assert chosen["head_scale"] == 0.5 and torch.allclose(net.head.weight, weight * 0.5)
    net = Net()
    weight = net.head.weight.detach().clone()
    target = weight.abs().sum()
    # the whole head is clearly better (error grows fast as it shrinks): it is kept
    chosen = _shrink_towards_linear(net, lambda: -float((target - net.head.weight.detach().abs().sum()) * 10 + 1),
                                    {"score": -1.0})
    assert chosen["head_scale"] == 1.0 and torch.allclose(net.head.weight, weight)


def test_a_classification_head_is_halved_too_unless_a_larger_scale_is_clearly_better():
    net = Net(outputs=2)
    weight = net.head.weight.detach().clone()
    # a log loss that barely moves with the scale: the halved head stays
    chosen = _shrink_towards_linear(net, lambda: -0.5 - 0.0001 * float(net.head.weight.detach().abs().sum()),
                                    {"score": -0.5})
    assert chosen["head_scale"] == 0.5 and torch.allclose(net.head.weight, weight * 0.5)


def test_columns_of_very_many_categories_are_left_to_the_network():
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 3, 300), rng.integers(0, 3000, 300)], 1)
    labels = codes[:, 0].astype(float)
    start = LinearStart(0, [3, 3000], 1).fit({CATEGORICAL: codes}, labels, regression=True)
    assert start.category_weight[3:].abs().max() == 0          # the 3,000-category column has no weights
    predicted = start({CATEGORICAL: torch.from_numpy(codes)})[:, 0].numpy()
    assert np.allclose(predicted, labels, atol=0.05)


def test_a_classification_start_reads_hashed_text_as_logistic_regression_on_its_n_grams():
    import pandas as pd

    from automodal.config import resolve_config
    from automodal.data.hashed_text import HashedTextProcessor, bucket_matrix

    rng = np.random.default_rng(0)
    words = np.array(["good", "bad", "fine", "poor", "the", "item", "was", "really"])
    texts = [" ".join(rng.choice(words, 5)) for _ in range(300)]
    labels = np.array([("good" in t) or ("fine" in t) for t in texts], dtype=int)
    frame = pd.DataFrame({"review": texts, "stars": rng.integers(1, 6, 300)})
    processor = HashedTextProcessor("hashed_text", {"review": "text"}, resolve_config())
    features = processor.features(frame)
    data = dict(features, **{NUMERICAL: np.zeros((300, 0), np.float32)})
    start = LinearStart(0, [], 2, "hashed_text", processor.num_buckets).fit(data, labels, regression=False)
    batch = processor.collate(features, np.arange(300), training=False)
    proba = torch.softmax(start(batch), 1).numpy()
    matrix = bucket_matrix(features["hashed_text.buckets"], features["hashed_text.weights"], processor.num_buckets)
    reference = LogisticRegression(C=1.0, max_iter=1000).fit(matrix, labels)
    assert np.allclose(proba, reference.predict_proba(matrix), atol=1e-3)
    assert (proba.argmax(1) == labels).mean() > 0.95


def test_a_start_on_few_rows_per_class_raises_no_warning():
    import warnings

    data, _, _ = arrays(rows=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # scikit-learn warns that 20 classes in 30 rows could be a regression
        LinearStart(3, [4, 2], 20).fit(data, np.arange(30) % 20, regression=False)


def own_scale(values: np.ndarray) -> np.ndarray:
    """What the linear start should read for a number on its own scale: robustly standardised, clipped at 4."""
    low, median, high = np.quantile(values, [0.25, 0.5, 0.75])
    return np.clip((values - median) / ((high - low) / 1.349), -4, 4)


def skewed_table(rows=600, seed=0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"uniform": rng.uniform(0, 10, rows), "skewed": rng.lognormal(0, 1, rows),
                         "levels": rng.integers(0, 5, rows).astype(float)})


def scores_and_knots(frame):
    from automodal.data.processors import NumericalProcessor
    from automodal.models.linear_start import own_scale_knots

    processor = NumericalProcessor(list(frame.columns), transform="quantile").fit(frame)
    return processor.transform(frame), own_scale_knots(processor)


def test_knots_map_each_score_back_to_its_number_on_the_numbers_own_scale():
    from automodal.models.linear_start import _piecewise

    frame = skewed_table()
    scores, (knot_x, knot_y) = scores_and_knots(frame)
    mapped = _piecewise(torch.as_tensor(scores, dtype=torch.float64), torch.as_tensor(knot_x),
                        torch.as_tensor(knot_y)).numpy()
    expected = np.stack([own_scale(frame[c].to_numpy()) for c in frame], 1)
    assert np.allclose(mapped[:, 2], expected[:, 2], atol=1e-6)        # five values: an exact map
    error = np.abs(mapped[:, :2] - expected[:, :2])
    assert np.quantile(error, 0.99) < 0.15 and error.mean() < 0.02       # 32 points along a smooth map
    assert np.corrcoef(mapped[:, 1], expected[:, 1])[0, 1] > 0.999
    assert np.corrcoef(scores[:, 1], expected[:, 1])[0, 1] < 0.95       # the scores bend the skewed column


def test_the_start_reads_numbers_on_their_own_scale_where_that_predicts_better():
    frame = skewed_table()
    scores, knots = scores_and_knots(frame)
    data = {NUMERICAL: scores}
    noise = np.random.default_rng(1).normal(scale=0.3, size=len(frame))
    own = np.stack([own_scale(frame[c].to_numpy()) for c in frame], 1)
    straight = own @ [1.0, 1.0, 0.5] + noise                     # a straight line in the numbers themselves
    start = LinearStart(3, [], 1, knots=32).fit(data, straight, regression=True, knots=knots)
    assert start.knots == 32
    ours = start({NUMERICAL: torch.from_numpy(scores)})[:, 0].numpy()
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(own, straight).predict(own)
    assert np.corrcoef(ours, ridge)[0, 1] > 0.999
    labels = (straight > np.median(straight)).astype(int)
    assert LinearStart(3, [], 2, knots=32).fit(data, labels, regression=False, knots=knots).knots == 32
    ranks = scores @ [1.0, 1.0, 0.5] + noise                     # a straight line in the scores
    start = LinearStart(3, [], 1, knots=32).fit(data, ranks, regression=True, knots=knots)
    assert start.knots == 0 and start.knot_x is None and "knot_x" not in start.state_dict()
    labels = (ranks > np.median(ranks)).astype(int)
    assert LinearStart(3, [], 2, knots=32).fit(data, labels, regression=False, knots=knots).knots == 0
