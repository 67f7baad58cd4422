"""A project's hyperparameter searches. When hp.* or hp_file holds search spaces, a train run searches them with the
Python API's search (fit with hyperparameter_tune_kwargs, on Ray Tune) once per task, on the tuning split of fold 0
(for a nested variant, its inner fold 0, so that the outer test fold never takes part), before that task's folds
train. The study is stored under PROJECT/hpo/STUDY/:

    trials.json             {"name", "searches": {TASK: {spaces, settings, metric, best_config, trials: [...]}}}
    TASK.blueprint.yaml     the predictor keys the task's folds train with: the fixed keys and the best values

A search is one step of the run's plan: a finished one is stored before its step is logged as done, and a task whose
search the study already holds (from this run, an interrupted one, or an earlier run naming the same study) is not
searched again. A search interrupted before its end starts over."""

from __future__ import annotations

import json
import os
import shutil
import time

import yaml

from ..hpo.cluster import release_local
from ..hpo.space import Space
from ..predictor import MultiModalPredictor
from .options import OptionError, merge, predictor_hyperparameters
from .schedulers.base import Step
from .spaces import nest, parse_space, split_spaces
from .tasks import TaskData
from .workspace import FORMAT_VERSION, read_json, write_json

ROW = "__row__"
TRIAL_KEYS = ("trial", "trial_id", "config", "status", "error", "score", "last_score", "scores", "reports", "seconds",
              "fit_seconds")


def _json_ready(value):
    """Ray's and numpy's numbers as plain ones."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


class Study:
    """PROJECT/hpo/NAME: the searches of one study, a task each."""

    def __init__(self, project, name: str):
        self.name = name
        self.directory = os.path.join(project.path, "hpo", name)
        self.trials_path = os.path.join(self.directory, "trials.json")

    def searches(self) -> dict:
        return read_json(self.trials_path).get("searches", {}) if os.path.exists(self.trials_path) else {}

    def blueprint_path(self, task: str) -> str:
        return os.path.join(self.directory, f"{task}.blueprint.yaml")

    def blueprint(self, task: str) -> dict:
        with open(self.blueprint_path(task), encoding="utf-8") as handle:
            content = yaml.safe_load(handle) or {}
        content.pop("format_version", None)
        return content

    def store(self, task: str, search: dict, hyperparameters: dict):
        """The blueprint first, then the search in trials.json: a task listed there always has its blueprint."""
        os.makedirs(self.directory, exist_ok=True)
        temporary = f"{self.blueprint_path(task)}.tmp-{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            yaml.safe_dump({"format_version": FORMAT_VERSION, **hyperparameters}, handle, sort_keys=False)
        os.replace(temporary, self.blueprint_path(task))
        write_json(self.trials_path, {"name": self.name, "searches": {**self.searches(), task: search}})


class ProjectSearch:
    """The search steps of a train run, and the predictor keys its folds train with."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    @property
    def options(self):
        return self.scheduler.options

    def spaces(self) -> dict:
        """{canonical key: text} of the searched keys in hp_file and hp.*."""
        return split_spaces(predictor_hyperparameters(self.scheduler.config))[1]

    def fixed(self) -> dict:
        """hp_file and hp.* without the searched keys, nested."""
        return nest(split_spaces(predictor_hyperparameters(self.scheduler.config))[0])

    @property
    def searching(self) -> bool:
        return bool(self.spaces()) and "train" in self.options.subroutines

    def settings(self) -> dict:
        hpo = self.options.hpo
        return {"searcher": str(hpo.searcher), "scheduler": str(hpo.scheduler), "num_trials": int(hpo.num_trials),
                "num_to_keep": int(hpo.num_to_keep), "time_limit": hpo.time_limit}

    def study(self) -> Study:
        return Study(self.scheduler.project, str(self.options.study_name))

    @staticmethod
    def target(unit) -> str:
        """The task a unit's hyperparameters are searched on: its nested variant, else its task."""
        return unit.task

    # ---------------------------------------------------------------- checks before any work
    def prepare(self, units: list):
        """Refuse what a search cannot serve, name the study (stored with the run, so that continue=latest finds
        it), and refuse a study that holds another search of one of the tasks."""
        spaces = self.spaces()
        if not spaces or "train" not in self.options.subroutines:
            return
        key, text = next(iter(spaces.items()))
        if not self.scheduler.searches:
            raise OptionError(f"hp.{key}={text}: mode {self.scheduler.mode} does not search; give a value (the best "
                              "one of an automodal train search is in PROJECT/hpo/STUDY/TASK.blueprint.yaml).")
        if self.options.use_blueprint:
            raise OptionError(f"mode.use_blueprint=true takes the pipeline's settings from a blueprint, over "
                              f"hp.{key}={text}: search, or use the blueprint (reuse.blueprint can name a search's "
                              "PROJECT/hpo/STUDY/TASK.blueprint.yaml).")
        if self.options.multitask is not False:
            raise OptionError(f"mode.multitask={self.options.multitask}: a search trains one task per trial; search "
                              "without mode.multitask, then train together with hp.* set to the best values.")
        if self.options.study_name is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name, number = f"search-{stamp}", 1
            while os.path.exists(os.path.join(self.scheduler.project.path, "hpo", name)):
                number += 1
                name = f"search-{stamp}-{number}"
            self.scheduler.config.mode.study_name = name
        stored = self.study().searches()
        wanted = {"spaces": spaces, "settings": self.settings()}
        for task in dict.fromkeys(self.target(u) for u in units):
            if task in stored and {k: stored[task].get(k) for k in wanted} != wanted:
                raise OptionError(f"mode.study_name={self.options.study_name} holds a search of {task} with other "
                                  f"spaces or settings ({stored[task]['spaces']}, {stored[task]['settings']}); name "
                                  "a new study, or give the same ones to reuse it.")

    # ---------------------------------------------------------------- the plan
    def steps(self, unit, planned: set) -> list:
        """The search step of the unit's task, once per task, before its first fold trains."""
        task = self.target(unit)
        if not self.searching or task in planned:
            return []
        planned.add(task)
        return [Step(f"search:{task}", lambda: self.run(unit))]

    def hyperparameters(self, unit=None) -> dict:
        """The predictor keys a fold trains with: its task's blueprint from the study when searching, else hp_file
        and hp.* (without spaces when a mode that does not train was given some)."""
        if unit is not None and self.searching:
            return self.study().blueprint(self.target(unit))
        return self.fixed() if self.spaces() else predictor_hyperparameters(self.scheduler.config)

    # ---------------------------------------------------------------- the search
    def run(self, unit):
        scheduler, study, task_name = self.scheduler, self.study(), self.target(unit)
        stored = study.searches().get(task_name)
        if stored is not None and os.path.exists(study.blueprint_path(task_name)):
            scheduler.log(f"  {task_name}: search found in study {study.name} ({len(stored['trials'])} trials, "
                          f"best {stored['metric']} {stored['best_score']:.4f}); not searched again")
            return
        spaces = self.spaces()
        task = TaskData(scheduler.project, task_name)
        train, tune = task.fold_frames(0)
        rows = {"train": len(train), "tuning": len(tune)}
        train, tune = scheduler.fit_data(task, unit, train.drop(columns=ROW), tune.drop(columns=ROW))
        scratch = os.environ.get("AUTOMODAL_SCRATCH") or scheduler.project.tmp
        path = os.path.join(scratch, f"search-{task_name}")
        fixed = scheduler.hyperparameters({})
        searched: dict[str, Space] = {key: parse_space(text) for key, text in spaces.items()}
        settings = self.settings()
        started = time.time()
        predictor = MultiModalPredictor(label=task.label, problem_type=task.info["problem_type"], path=path,
                                        verbosity=0)
        keywords = {} if task.image_task else {"column_types": task.info["column_types"]}
        try:
            predictor.fit(train, tuning_data=tune, hyperparameters={**fixed, **searched},
                          hyperparameter_tune_kwargs={k: v for k, v in settings.items() if k != "time_limit"},
                          presets=scheduler.config.presets, seed=int(scheduler.config.seed),
                          time_limit=settings["time_limit"], loggers=[], **keywords)
            summary = predictor.fit_summary()["hpo"]
        finally:
            shutil.rmtree(path, ignore_errors=True)
            release_local()
        best = summary["best_config"]
        search = _json_ready({
            "task": task_name, "fold": 0, "rows": rows, "spaces": spaces, "settings": settings,
            "metric": summary["metric"], "greater_is_better": summary["greater_is_better"],
            "best_trial": summary["best_trial"], "best_score": summary["best_score"], "best_config": best,
            "first_trial_config": summary["first_trial_config"], "search_seconds": round(time.time() - started, 2),
            "run": scheduler.run_record.id if scheduler.run_record else None, "finished": time.time(),
            "trials": [{key: trial.get(key) for key in TRIAL_KEYS} for trial in summary["trials"]]})
        study.store(task_name, search, merge(fixed, nest(search["best_config"])))
        failed = sum(1 for t in search["trials"] if t["status"] == "error")
        scheduler.log(f"  {task_name}: {len(search['trials'])} trials ({failed} failed) in "
                      f"{search['search_seconds']:.1f} s; best {search['metric']} {search['best_score']:.4f} with "
                      + ", ".join(f"{k}={v}" for k, v in best.items()) + f"; stored in hpo/{study.name}")
