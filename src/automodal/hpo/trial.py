"""A trial as Ray Tune runs it. The trainable forwards a fit's reports to Tune: from a trial host, a process that
imported the library once for the whole session, or, without one, from a fit in Tune's own worker."""

from __future__ import annotations

import ray

from .fitting import train_trial
from .hosts import run_on_host
from .job import send_to_tune


def run_trial(sampled: dict, shared: dict):
    """Ray Tune's trainable. shared["job"] is the TrialJob's object reference, shared["pool"] the trial hosts' pool
    (None: train in this worker)."""
    from ray import tune        # the hpo extra: this runs inside a Ray Tune trial

    trial_id = tune.get_context().get_trial_id()
    if shared["pool"] is None:
        return train_trial(sampled, ray.get(shared["job"]), send_to_tune, lambda: False, trial_id) or None
    return run_on_host(shared["pool"], sampled, shared["job"], send_to_tune, trial_id) or None
