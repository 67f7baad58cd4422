"""The tuning rows fit holds out when no tuning_data is given."""

import numpy as np
import pandas as pd
import pytest

from automodal.errors import DataError
from automodal.learners.tabular.data import holdout_split


def frame(labels) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(len(labels), dtype=float), "y": labels})


@pytest.mark.parametrize("seed", range(10))
def test_tuning_rows_only_hold_classes_that_training_has(seed):
    # seven classes with two rows, five with one: a plain random split leaves classes out of training
    labels = [c for c in "abcdefg" for _ in range(2)] + list("hijkl")
    train, val = holdout_split(frame(labels), "y", "multiclass", 0.2, seed)
    assert len(val) >= 1
    assert set(val["y"]) <= set(train["y"])
    assert set(train["y"]) == set(labels)                    # every class, the single-row ones included
    assert sorted(pd.concat([train, val])["x"]) == list(range(len(labels)))   # no row lost or repeated


def test_classes_with_enough_rows_are_split_in_proportion():
    labels = ["a"] * 80 + ["b"] * 20
    train, val = holdout_split(frame(labels), "y", "binary", 0.2, 0)
    assert val["y"].value_counts().to_dict() == {"a": 16, "b": 4}


def test_a_label_of_single_row_classes_cannot_be_held_out():
    with pytest.raises(DataError, match="'y'.*single row.*tuning_data"):
        holdout_split(frame(list("abcdefgh")), "y", "multiclass", 0.2, 0)
