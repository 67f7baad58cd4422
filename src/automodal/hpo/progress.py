"""Every trial's reports as they arrive, and the live view of a search in automodal's log: a line per ended
trial with the best so far, and on a terminal a bar of trials done."""

from __future__ import annotations

import json
import logging
import time

from ray.tune import Callback

from ..progress import Bar
from .job import METRIC

logger = logging.getLogger("automodal")


def short(config: dict) -> str:
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={value:.4g}" if isinstance(value, float) else
                     f"{key.rsplit('.', 1)[-1]}={value}" for key, value in config.items())


class TrialTable(Callback):
    def __init__(self, greater_is_better: bool, num_trials: int, verbosity: int = 2):
        self.greater_is_better, self.num_trials = greater_is_better, num_trials
        self.bar = Bar("trials", num_trials, verbosity)
        self.records: dict = {}         # trial path -> what the search summary says of it
        self.ended = 0
        self.results = None             # Tune's ResultGrid, once the search is over

    def better(self, a, b) -> bool:
        return b is None or (a > b if self.greater_is_better else a < b)

    def _record(self, trial, order: int = -1) -> dict:
        return self.records.setdefault(trial.path, {
            "trial_id": trial.trial_id, "order": order, "start": time.time(), "end": None, "scores": [],
            "status": "running", "last_result": {}})

    def best(self, record: dict):
        """The trial's best reported score (None before its first report)."""
        if not record["scores"]:
            return None
        return max(record["scores"]) if self.greater_is_better else min(record["scores"])

    def on_trial_start(self, iteration, trials, trial, **info):
        # `trials` is in the order the searcher made them (the default first); they may start in another
        self._record(trial, trials.index(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        record = self._record(trial)
        if METRIC not in result:
            return
        record["last_result"] = result
        if not result.get("finished"):     # a finished trial's last result repeats its last report
            record["scores"].append(result[METRIC])

    def _end(self, trial, status: str):
        record = self._record(trial)
        record["status"], record["end"] = status, time.time()
        self.ended += 1
        best, own = None, self.best(record)
        for other in self.records.values():
            if self.best(other) is not None and (best is None or self.better(self.best(other), self.best(best))):
                best = other
        self.bar.advance(note="" if best is None else f"best {METRIC} {self.best(best):.4f}")
        if self.ended >= self.num_trials:
            self.bar.close()
        shown = "failed (its error is in fit_summary()['hpo']['trials'])" if status == "error" else status
        logger.info("Trial %d/%d %s %s: %s = %s [%s]. Current best trial: %s (%s = %s)", self.ended,
                    self.num_trials, trial.trial_id, shown, METRIC, "-" if own is None else f"{own:.4f}",
                    short(trial.config), "-" if best is None else best["trial_id"], METRIC,
                    "-" if best is None else f"{self.best(best):.4f}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        finished = self._record(trial)["last_result"].get("finished")
        self._end(trial, "finished" if finished else "stopped")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._end(trial, "error")

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
        return {"trial_id": record["trial_id"], "best": self.best(record),
                "last": record["scores"][-1] if record["scores"] else None,
                "reports": len(record["scores"]), "scores": record["scores"], "status": record["status"],
                "seconds": round(end - record["start"], 3), "fit_seconds": last.get("fit_seconds"),
                "threads": last.get("threads"),
                "progress": progress, "order": record["order"]}
