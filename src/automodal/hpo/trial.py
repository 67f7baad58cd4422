"""A trial as Ray Tune runs it. The trainable forwards a fit's reports to Tune: from a trial host, a process that
imported the library once for the whole session, or, without one, from a fit in Tune's own worker. This module
imports neither torch nor Lightning: Tune starts a fresh worker for each search, which would pay that import
(about 6 s on 2 cores) before a trial host could take the trial."""

from __future__ import annotations

import time

import ray

from .job import send_to_tune


def run_trial(sampled: dict, shared: dict):
    """Ray Tune's trainable. shared["job"] is the TrialJob's object reference, shared["pool"] the trial hosts' pool
    (None: train in this worker)."""
    from ray import tune        # the hpo extra: this runs inside a Ray Tune trial

    trial_id = tune.get_context().get_trial_id()
    if shared["pool"] is None:
        from .fitting import train_trial    # torch and Lightning: only a trial without hosts trains here

        return train_trial(sampled, ray.get(shared["job"]), send_to_tune, lambda: False, trial_id) or None
    return run_on_host(shared["pool"], sampled, shared["job"], send_to_tune, trial_id) or None


def run_on_host(pool, sampled: dict, job, send, trial_id: str | None = None) -> dict:
    """Run one trial on a free host, passing its reports to send(metrics, weights); the host's last result."""
    acquired, waited = None, time.time()
    while acquired is None:
        acquired = ray.get(pool.acquire.remote())
        if acquired is None:
            if time.time() - waited > 30:
                raise RuntimeError("no trial host came free within 30 s")
            time.sleep(0.05)
    index, host = acquired
    final = None
    try:
        for reference in host.run.options(num_returns="streaming").remote(sampled, job, trial_id):
            kind, item = ray.get(reference)
            if kind == "report":
                send(*item)
            else:
                final = item
        return final
    finally:
        if final is None:               # stopped by Tune (SystemExit in send) or failed: end the host's fit
            ray.get(host.stop.remote())
        ray.get(pool.release.remote(index))
