"""Which fits train on the Fabric loop, and its Trainer-equivalent rules (the fits themselves are checked, on both
loops, in tests/integration/test_training_keys.py)."""

import math
from types import SimpleNamespace

import pytest

from automodal.training.fabric_loop import Patience, ValidationSchedule, applies, total_steps
from automodal.training.trainer import DevicePlan

ONE_CPU = DevicePlan("cpu", 1, "auto", "32-true")


def module(**changes):
    return SimpleNamespace(**{"mixer": None, "co_tasks": None, "freeze_norms": False, **changes})


def test_a_plain_fit_from_scratch_on_one_device_takes_the_fabric_loop():
    assert applies(ONE_CPU, False, module(), [], None)
    assert applies(DevicePlan("gpu", [0], "auto", "16-mixed"), False, module(), [], None)


@pytest.mark.parametrize("plan, pretrained, changes, callbacks, keeper", [
    (DevicePlan("cpu", 2, "ddp", "32-true"), False, {}, [], None),               # several processes
    (DevicePlan("gpu", [0], "auto", "32-true", dp_device_ids=[0, 1]), False, {}, [], None),   # DataParallel
    (ONE_CPU, True, {}, [], None),                                               # a pretrained backbone
    (ONE_CPU, False, {"mixer": object()}, [], None),                             # mixup
    (ONE_CPU, False, {"co_tasks": object()}, [], None),                          # co-tasks
    (ONE_CPU, False, {"freeze_norms": True}, [], None),                          # a frozen backbone's norms
    (ONE_CPU, False, {}, [object()], None),                                      # the user's Lightning callbacks
    (ONE_CPU, False, {}, [], object()),                                          # a search's reporter
])
def test_fits_that_need_the_trainer_keep_it(plan, pretrained, changes, callbacks, keeper):
    assert not applies(plan, pretrained, module(**changes), callbacks, keeper)


def test_patience_counts_validations_without_a_strictly_higher_score():
    patience = Patience(2)
    assert [patience.spent(s) for s in (0.5, 0.6, 0.6, 0.7, 0.7, 0.65)] == [False, False, False, False, False, True]
    assert patience.best == 0.7


def test_a_score_that_is_not_finite_stops_at_once():
    assert Patience(100).spent(math.nan)


def test_a_fractional_interval_counts_within_each_epoch_and_an_int_across_epochs():
    fraction = ValidationSchedule(0.25, 10)             # every int(2.5) = 2 batches of each epoch
    assert [i for i in range(10) if fraction.due(i, i + 10)] == [1, 3, 5, 7, 9]
    counted = ValidationSchedule(3, 10)                 # every third batch of the whole fit
    assert [seen for seen in range(20) if counted.due(seen % 10, seen)] == [2, 5, 8, 11, 14, 17]
    assert ValidationSchedule(0.01, 10).every == 1


def test_the_schedule_spans_the_steps_the_fit_can_take():
    assert total_steps(10, 1, 3, -1) == 30
    assert total_steps(10, 4, 3, -1) == 9              # the short last group of each epoch steps too
    assert total_steps(10, 1, 3, 13) == 13
