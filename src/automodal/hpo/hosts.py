"""Trial hosts: long-lived Ray actors that import torch, Lightning and automodal once per session, so that a trial
does not pay that import (about 4 s on 2 cores) in the fresh worker Tune starts for it. Tune's trial worker stays
light: it takes a free host from the pool, forwards the host's reports to Tune, and stops the host's fit when Tune
stops the trial (hpo.trial). Used on one machine with CPU trials; elsewhere trials train in Tune's own workers."""

from __future__ import annotations

import queue
import threading

import ray

POOL_NAME = "automodal-trial-hosts"


class TrialHost:
    def __init__(self):
        # imported here, in the host, and not at the top: Tune's trial worker unpickles a handle to this class,
        # which imports this module, and torch, Lightning and what they load cost it about 6 s on 2 cores
        from .fitting import train_trial

        self._train_trial = train_trial
        self._busy = threading.Lock()
        self._stop = threading.Event()

    def ready(self) -> bool:
        return True

    def run(self, sampled: dict, job, trial_id: str | None = None):
        """A generator of ("report", (metrics, weights)) items, then ("final", last result)."""
        with self._busy:                # a stopped trial's fit ends before the next one starts
            self._stop.clear()
            items: queue.Queue = queue.Queue()

            def work():
                try:
                    items.put(("final", self._train_trial(sampled, job, lambda *report: items.put(("report", report)),
                                                    self._stop.is_set, trial_id)))
                except BaseException as error:   # noqa: BLE001  (re-raised to the trial below)
                    items.put(("error", error))

            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            while True:
                kind, item = items.get()
                if kind == "error":
                    thread.join()
                    raise item
                yield kind, item
                if kind == "final":
                    break
            thread.join()

    def stop(self):
        self._stop.set()


class HostPool:
    """Which hosts are free; one trial per host at a time."""

    def __init__(self):
        self.hosts: list = []
        self.free: list = []

    def grow(self, size: int):
        new = [ray.remote(TrialHost).options(num_cpus=0, max_concurrency=4).remote()
               for _ in range(size - len(self.hosts))]
        ray.get([host.ready.remote() for host in new])
        self.hosts += new
        self.free = list(range(len(self.hosts)))

    def reset(self):
        """Stop whatever a finished search left running; every host is free again."""
        ray.get([host.stop.remote() for host in self.hosts])
        self.free = list(range(len(self.hosts)))

    def acquire(self):
        if not self.free:
            return None
        index = self.free.pop(0)
        return index, self.hosts[index]

    def release(self, index: int):
        if index not in self.free:
            self.free.append(index)


def ready_pool(slots: int):
    """The session's pool with at least `slots` hosts, all free."""
    try:
        pool = ray.get_actor(POOL_NAME)
    except ValueError:
        pool = ray.remote(HostPool).options(name=POOL_NAME, num_cpus=0).remote()
    ray.get(pool.grow.remote(slots))
    ray.get(pool.reset.remote())
    return pool
