"""models.target_encoding: category means shrunk by how few rows a category has, and out-of-fold means that never
read a row's own label."""

import numpy as np
import torch

from automodal.models.target_encoding import TARGET_MEANS, TargetEncoding, category_means, label_targets


def test_means_shrink_towards_the_overall_mean_by_how_few_rows_a_category_has():
    rng = np.random.default_rng(0)
    codes = np.concatenate([np.full(400, 1), np.full(400, 2), [3]])
    targets = np.concatenate([rng.normal(1.0, 1, 400), rng.normal(-1.0, 1, 400), [5.0]]).reshape(-1, 1)
    means = category_means(codes, targets, 5)[:, 0]
    overall = targets.mean()
    assert abs(means[1] - 1.0) < 0.15 and abs(means[2] + 1.0) < 0.15     # many rows: their own mean
    # within-category variance 1, spread of the true means about 1: a category's own rows count as much as one row
    # of prior, so a one-row category lands about halfway between its row and the overall mean
    assert overall + 1.5 < means[3] < 5.0 - 1.5
    assert means[0] == means[4] == overall                                 # no rows: the overall mean


def test_training_rows_get_out_of_fold_means_and_other_rows_the_lookup():
    codes = np.zeros((500, 2), dtype=np.int64)
    codes[:, 1] = np.arange(500) % 250 + 1            # 250 categories of two rows each
    labels = np.arange(500) % 2                        # each category holds a 0 and a 1... 
    labels[:250] = 1                                   # ...except that the first 250 rows are all positive
    encoder = TargetEncoding([1, 251], [1], width=1)
    out_of_fold = encoder.fit(codes, labels, num_outputs=2, seed=0)
    assert out_of_fold.shape == (500, 1)
    looked_up = encoder({}, torch.from_numpy(codes)).numpy()
    # the lookup reads every training row, its own included; out of fold, a row's own label is never read
    assert not np.allclose(out_of_fold, looked_up)
    given = encoder({TARGET_MEANS: torch.from_numpy(out_of_fold)}, torch.from_numpy(codes)).numpy()
    assert np.array_equal(given, out_of_fold)


def test_label_targets_have_one_value_per_class_beyond_two():
    assert label_targets(np.array([0, 1, 1]), 2).tolist() == [[0.0], [1.0], [1.0]]
    assert label_targets(np.array([0, 2]), 3).tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert label_targets(np.array([0.5]), 1).tolist() == [[0.5]]
