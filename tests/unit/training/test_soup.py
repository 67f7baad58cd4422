"""greedy_soup follows AutoGluon's rule: checkpoints join from best to worst, and the first that lowers the averaged
score ends the search, even when a later one would have raised it again."""

import torch
from safetensors.torch import save_file

from automodal.training.soup import soup


def test_greedy_soup_stops_at_the_first_checkpoint_that_lowers_the_score(tmp_path):
    # one weight w per checkpoint; the score is highest when the averaged w is near 1.0
    values = [1.2, 3.0, 0.8]                 # best first, as TopKCheckpoints orders them
    entries = []
    for i, value in enumerate(values):
        path = str(tmp_path / f"c{i}.safetensors")
        save_file({"w": torch.tensor([value])}, path)
        entries.append((-abs(value - 1.0), i, path))
    evaluated = []

    def evaluate(state):
        evaluated.append(float(state["w"]))
        return -abs(float(state["w"]) - 1.0)

    state, info = soup(entries, "greedy_soup", evaluate)
    # adding 3.0 lowers the score (mean 2.1): the search stops there, though 1.2 + 0.8 would average to 1.0
    assert info["used"] == 1
    assert abs(float(state["w"]) - 1.2) < 1e-6
    assert len(evaluated) == 2


def test_greedy_soup_keeps_adding_while_the_score_holds(tmp_path):
    entries = []
    for i, value in enumerate([1.2, 0.8, 1.1]):
        path = str(tmp_path / f"c{i}.safetensors")
        save_file({"w": torch.tensor([value])}, path)
        entries.append((-abs(value - 1.0), i, path))
    state, info = soup(entries, "greedy_soup", lambda s: -abs(float(s["w"]) - 1.0))
    assert info["used"] == 2                 # 1.2 + 0.8 averages to 1.0; adding 1.1 lowers it and ends the search
    assert abs(float(state["w"]) - 1.0) < 1e-6
