"""Every trial's reports as they arrive, and the live view of a search in automodal's log: a line per ended
trial with the best so far."""

from __future__ import annotations

import json
import logging
import time

from ray.tune import Callback

from .trial import METRIC

logger = logging.getLogger("automodal")


def short(config: dict) -> str:
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={value:.4g}" if isinstance(value, float) else
                     f"{key.rsplit('.', 1)[-1]}={value}" for key, value in config.items())


class TrialTable(Callback):
    def __init__(self, greater_is_better: bool, num_trials: int):
        self.greater_is_better, self.num_trials = greater_is_better, num_trials
        self.records: dict = {}         # trial path -> what the search summary says of it
        self.ended = 0
        self.results = None             # Tune's ResultGrid, once the search is over

    def better(self, a, b) -> bool:
        return b is None or (a > b if self.greater_is_better else a < b)

    def _record(self, trial, order: int = -1) -> dict:
        return self.records.setdefault(trial.path, {
            "trial_id": trial.trial_id, "order": order, "start": time.time(), "end": None, "scores": [],
            "best": None, "last": None, "status": "running", "last_result": {}})

    def on_trial_start(self, iteration, trials, trial, **info):
        # `trials` is in the order the searcher made them (the default first); they may start in another
        self._record(trial, trials.index(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        record = self._record(trial)
        if METRIC not in result:
            return
        record["last_result"] = result
        if not result.get("finished"):
            record["scores"].append(result[METRIC])
        record["last"] = result[METRIC]
        if self.better(result[METRIC], record["best"]):
            record["best"] = result[METRIC]

    def _end(self, trial, status: str):
        record = self._record(trial)
        record["status"], record["end"] = status.split(" ")[0], time.time()
        self.ended += 1
        best = None
        for other in self.records.values():
            if other["best"] is not None and (best is None or self.better(other["best"], best["best"])):
                best = other
        logger.info("Trial %d/%d %s %s: %s = %s [%s]. Current best trial: %s (%s = %s)", self.ended,
                    self.num_trials, trial.trial_id, status, METRIC,
                    "-" if record["best"] is None else f"{record['best']:.4f}", short(trial.config),
                    "-" if best is None else best["trial_id"], METRIC,
                    "-" if best is None else f"{best['best']:.4f}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        finished = self._record(trial)["last_result"].get("finished")
        self._end(trial, "finished" if finished else "stopped")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._end(trial, "failed (its error is in fit_summary()['hpo']['trials'])")

    def record(self, path: str) -> dict:
        """One trial's summary: trial_id, best / last score, reports, status, seconds, progress."""
        record = self.records[path]
        last = record["last_result"]
        if last.get("finished"):
            progress = json.loads(last["progress"])
        else:
            progress = {"epochs": last.get("epoch"), "global_step": last.get("global_step"),
                        "stop_reason": "stopped by the scheduler or the time limit"}
        end = record["end"] or time.time()
        return {"trial_id": record["trial_id"], "best": record["best"], "last": record["last"],
                "reports": len(record["scores"]), "scores": record["scores"], "status": record["status"],
                "seconds": round(end - record["start"], 3), "fit_seconds": last.get("fit_seconds"),
                "threads": last.get("threads"),
                "progress": progress, "order": record["order"]}
