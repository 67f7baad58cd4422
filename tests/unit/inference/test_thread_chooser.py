"""The thread chooser for small CPU predictions: tries both settings, keeps the faster, retries the other now and
then so that a change of load is noticed, and leaves large batches alone."""

import torch

from automodal.inference import RETRY_EVERY, SMALL_BATCH_ROWS, ThreadChooser


def test_the_faster_setting_wins_and_the_other_is_retried(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    chooser = ThreadChooser()
    first = chooser.choose(1)
    chooser.record(1, first, 0.030 if first == 1 else 0.015)
    second = chooser.choose(1)
    chooser.record(1, second, 0.030 if second == 1 else 0.015)      # two threads are faster (an idle machine)
    assert {first, second} == {1, 2}
    picks = [chooser.choose(1) for _ in range(2 * RETRY_EVERY)]
    assert picks.count(2) == len(picks) - 2 and picks.count(1) == 2
    for _ in range(10):                          # the machine gets busy: two threads slow down
        chooser.record(1, 2, 0.120)
    assert chooser.choose(1) == 1


def test_large_batches_and_one_thread_are_left_alone(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert ThreadChooser().choose(SMALL_BATCH_ROWS + 1) is None
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert ThreadChooser().choose(1) is None
