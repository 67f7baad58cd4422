"""The thread chooser for small CPU predictions: tries both settings, keeps the faster, retries the other now and
then so that a change of load is noticed (less often while the retries keep losing), and leaves large batches
alone."""

import torch

from automodal.inference import LONGEST_WAIT, RETRY_EVERY, SMALL_BATCH_ROWS, ThreadChooser


def timed(chooser, seconds_by_threads, calls):
    picks = []
    for _ in range(calls):
        threads = chooser.choose(1)
        chooser.record(1, threads, seconds_by_threads[threads])
        picks.append(threads)
    return picks


def test_the_faster_setting_wins_and_the_other_is_retried(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    chooser = ThreadChooser()
    picks = timed(chooser, {1: 0.030, 2: 0.015}, 2 + RETRY_EVERY)      # two threads are faster (an idle machine)
    assert set(picks[:2]) == {1, 2}
    assert picks[2:].count(1) == 1 and picks[-1] == 1                  # one retry after RETRY_EVERY calls
    picks = timed(chooser, {1: 0.030, 2: 0.120}, 10)                    # the machine gets busy: two threads slow
    assert picks[-1] == 1


def test_retries_that_keep_losing_come_less_often(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    chooser = ThreadChooser()
    picks = timed(chooser, {1: 0.001, 2: 0.005}, 4000)
    retries = [i for i, threads in enumerate(picks) if threads == 2][1:]
    gaps = [b - a for a, b in zip(retries, retries[1:])]
    assert gaps[0] == 2 * RETRY_EVERY and max(gaps) == LONGEST_WAIT
    assert len(retries) / len(picks) < 0.01       # the slow trials stay out of the p95
    picks = timed(chooser, {1: 0.010, 2: 0.002}, LONGEST_WAIT + 2)       # load changes: two threads now win
    assert picks[-RETRY_EVERY:].count(2) >= RETRY_EVERY - 1


def test_large_batches_and_one_thread_are_left_alone(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert ThreadChooser().choose(SMALL_BATCH_ROWS + 1) is None
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert ThreadChooser().choose(1) is None
