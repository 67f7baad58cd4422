"""train / predict / test: one predictor per fold (cv), on nested variants of the task (nested), with stored
predictions and metrics, and a report of the metrics across folds."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml

from ...config import resolve_config
from ...data import image_cache, token_cache
from ...data.types import CLASSIFICATION
from ...metrics import METRICS
from ...predictor import MultiModalPredictor
from ...training.multitask import check_weights
from ...training.tracking import Tracking
from .. import image_tasks
from ..options import OptionError, merge
from ..search import ProjectSearch
from ..tasks import NESTED, TaskData, create_nested
from ..workspace import FORMAT_VERSION, WorkspaceError, read_json, write_json, write_parquet
from .base import Scheduler, Step
from .preprocess import matching_store, token_stores

ROW = "__row__"
TEST_METRICS = {"binary": ["roc_auc", "accuracy", "log_loss"],
                "multiclass": ["accuracy", "balanced_accuracy", "log_loss"],
                "regression": ["rmse", "r2", "mae"]}


@dataclass(frozen=True)
class Unit:
    """One predictor: a task (or nested variant) and the fold that tunes it."""
    pivot: str
    task: str
    fold: int

    @property
    def name(self) -> str:
        return f"{self.task}:fold{self.fold}"


class TrainingScheduler(Scheduler):
    subroutines = ("train", "predict", "test")
    searches = True         # search spaces in hp.* are searched per task before its folds train (cli.search)

    def __init__(self, config):
        super().__init__(config)
        self.search = ProjectSearch(self)

    # ---------------------------------------------------------------- checks before any work
    def prepare(self):
        options = self.options
        wants = set(options.subroutines)
        if not options.store_parameters and wants & {"predict", "test"}:
            raise OptionError("mode.store_parameters=false keeps no weights, so predict and test cannot run: drop "
                              "them from mode.subroutines or store the parameters.")
        self.hyperparameters({})            # predictor keys checked now, not after the first fit
        for pivot in self.task_list():
            task = TaskData(self.project, pivot)
            if task.info["parent"] is not None:
                raise OptionError(f"task {pivot} is a nested variant; list its parent {task.info['parent']} instead.")
            if "test" in wants and not options.nested and task.test_frame() is None:
                raise OptionError(f"task {pivot} has no test split: create it with data.{pivot}.test=FILE, or test "
                                  "on held-out folds with mode.nested=true.")
            for other in self.eval_on():
                if TaskData(self.project, other).label_space() != task.label_space():
                    raise OptionError(f"mode.eval_on: task {other} has another label space than {pivot}.")
            self.co_task_names(pivot)
        if "train" not in wants:
            missing = [u.name for u in self.units() if not self._has_model(u)]
            if missing:
                raise WorkspaceError(f"no trained model for {', '.join(missing[:3])}: run automodal train with the "
                                     "same task_list, cv and nested options first.")
        if options.use_blueprint:
            self.blueprint()
        self.search.prepare(self.units())

    def eval_on(self) -> list:
        value = self.options.eval_on
        return [] if value is None else [str(value)] if isinstance(value, str) else [str(v) for v in value]

    def co_task_names(self, pivot: str) -> list:
        """The co-tasks of a multitask fit (mode.multitask = the number of tasks, pivot included): tasks of this
        project that hold the pivot's feature columns, listed in mode.co_tasks or drawn at random after seeding."""
        total, listed = self.options.multitask, self.options.co_tasks
        if total is False:
            if listed != "random" or self.options.task_weights is not None:
                raise OptionError("mode.co_tasks and mode.task_weights need mode.multitask, the number of tasks "
                                  "trained together (the pivot and its co-tasks).")
            return []
        pivot_task = TaskData(self.project, pivot)
        if pivot_task.image_task:
            raise OptionError(f"mode.multitask trains heads of table tasks on one network; task {pivot} is "
                              f"{pivot_task.info['problem_type']}: train it with mode.multitask=false.")
        columns = set(TaskData(self.project, pivot).info["column_types"])
        eligible = [t for t in self.project.task_names() if NESTED not in t and t != pivot
                    and not TaskData(self.project, t).image_task
                    and columns <= set(TaskData(self.project, t).train_table.columns)]
        if listed == "random":
            if len(eligible) < total - 1:
                raise OptionError(f"mode.multitask={total} needs {total - 1} co-task(s) holding the columns of "
                                  f"{pivot}; this project has {len(eligible)}: {', '.join(eligible) or 'none'}.")
            order = np.random.default_rng(int(self.config.seed)).permutation(len(eligible))
            names = [eligible[i] for i in order[:total - 1]]
        else:
            names = list(listed)
            if len(names) != total - 1:
                raise OptionError(f"mode.co_tasks lists {len(names)} task(s); mode.multitask={total} needs "
                                  f"{total - 1}.")
            for name in names:
                TaskData(self.project, name)
                if name not in eligible:
                    raise OptionError(f"mode.co_tasks: task {name} does not hold the columns of {pivot} "
                                      f"({', '.join(sorted(columns))}), so its backbones cannot read it.")
        try:
            check_weights(self.options.task_weights, total)
        except ValueError as error:
            raise OptionError(f"mode.{error}") from None
        return names

    # ---------------------------------------------------------------- the plan
    def units(self) -> list:
        units = []
        for pivot in self.task_list():
            folds = TaskData(self.project, pivot).info["n_folds"]
            outer = range(folds) if self.options.cv else [0]
            if self.options.nested:
                units += [Unit(pivot, f"{pivot}{NESTED}{k}", 0) for k in outer]
            else:
                units += [Unit(pivot, pivot, k) for k in outer]
        return units

    def plan(self) -> list:
        """Nested tasks' folds first (each reads only its pivot), then per predictor its task's search where one is
        asked for, and its own chain of steps (grouped by predictor: cli.executors runs chains side by side), then
        the reports."""
        wants, searched = set(self.options.subroutines), set()
        units = self.units()
        steps = [Step(f"nest:{unit.task}", lambda u=unit: create_nested(
                    self.project, u.pivot, int(u.task.rsplit(NESTED, 1)[1]), self.options.inner_folds,
                    self.config.seed, self.log))
                 for unit in units if unit.task != unit.pivot]
        for unit in units:
            steps += self.search.steps(unit, searched)
            for subroutine, action in (("train", self.train), ("predict", self.predict), ("test", self.test)):
                if subroutine in wants:
                    steps.append(Step(f"{subroutine}:{unit.name}", lambda u=unit, a=action: self.with_stores(u, a),
                                      unit.name))
        if "test" in wants:
            for pivot in self.task_list():
                steps.append(Step(f"report:{pivot}", lambda p=pivot: self.report(p)))
        return steps

    def with_stores(self, unit: Unit, action):
        """Run one subroutine, reading images and token ids from the task's `pp` stores where they apply."""
        store = matching_store(self.project, TaskData(self.project, unit.task))
        if store is not None:
            self.log(f"  images from the pp store {os.path.relpath(store.directory, self.project.path)}")
        tokens = token_stores(self.project, unit.task)
        if tokens:
            self.log(f"  token ids from {len(tokens)} pp store(s)")
        with image_cache.active(store), token_cache.active(tokens):
            action(unit)

    # ---------------------------------------------------------------- hyperparameters and blueprints
    def hyperparameters(self, blueprint: dict, unit: Unit | None = None) -> dict:
        """hp_file, then hp.* (a unit whose task was searched: the search's blueprint, the fixed keys with the best
        values), then the blueprint's sections; validated by the predictor's own rules."""
        values = merge(self.search.hyperparameters(unit), blueprint)
        if not self.options.store_best:
            values = merge(values, {"optimization": {"top_k_average_method": "last"}})
        resolve_config(self.config.presets, values)
        return values

    def blueprint(self) -> dict:
        """The sections in pipeline_keys of reuse.blueprint (a YAML file or TASK/foldK), else of the newest model
        of the first task."""
        source = (self.config.reuse or {}).get("blueprint")
        if source is not None and os.path.isfile(str(source)):
            path = str(source)
        elif source is not None:
            task, _, fold = str(source).rpartition("/fold")
            path = self.project.blueprint_path(task, int(fold)) if fold.isdigit() else ""
            if not os.path.isfile(path):
                raise OptionError(f"reuse.blueprint={source}: neither a YAML file nor a model (TASK/foldK) of this "
                                  "project.")
        else:
            records = self.project.model_records(self.task_list()[0])
            if not records:
                raise OptionError("mode.use_blueprint=true needs a blueprint: reuse.blueprint=FILE or a trained "
                                  f"model of task {self.task_list()[0]}.")
            newest = max(records, key=lambda r: r["created"])
            path = self.project.blueprint_path(newest["task"], newest["fold"])
        with open(path, encoding="utf-8") as handle:
            content = yaml.safe_load(handle) or {}
        return {key: content[key] for key in self.options.pipeline_keys if key in content}

    # ---------------------------------------------------------------- the subroutines
    def _has_model(self, unit: Unit) -> bool:
        return os.path.exists(os.path.join(self.project.model_dir(unit.task, unit.fold), "model.safetensors"))

    def _load(self, unit: Unit):
        if not self._has_model(unit):
            raise WorkspaceError(f"no stored model for {unit.name}; train it first (mode.store_parameters=true).")
        return MultiModalPredictor.load(self.project.model_dir(unit.task, unit.fold))

    def initial_model(self, unit: Unit):
        """The predictor a fit starts from: none here; transfer learning starts from a pretrained one."""
        return None

    def train(self, unit: Unit):
        task = TaskData(self.project, unit.task)
        train, tune = task.fold_frames(unit.fold)
        blueprint = self.blueprint() if self.options.use_blueprint else {}
        path = self.project.model_dir(unit.task, unit.fold)
        started = time.time()
        predictor = MultiModalPredictor(label=task.label, problem_type=task.info["problem_type"], path=path,
                                        verbosity=0)
        train, tune = self.fit_data(task, unit, train.drop(columns=ROW), tune.drop(columns=ROW))
        self.fit(predictor, unit, train, tune, self.hyperparameters(blueprint, unit),
                 None if task.image_task else task.info["column_types"])
        summary = predictor.fit_summary()
        sections = {k: v for k, v in summary["config"].items() if k in self.options.pipeline_keys}
        with open(self.project.blueprint_path(unit.task, unit.fold), "w", encoding="utf-8") as handle:
            yaml.safe_dump({"format_version": FORMAT_VERSION, **sections}, handle, sort_keys=False)
        if not self.options.store_parameters:
            os.remove(os.path.join(path, "model.safetensors"))
        write_json(self.project.model_record(unit.task, unit.fold), {
            "task": unit.task, "pivot": unit.pivot, "fold": unit.fold, "created": time.time(),
            "run": self.run_record.id, "eval_metric": summary["eval_metric"], "val_score": summary["val_score"],
            "greater_is_better": _greater_is_better(summary["eval_metric"], predictor.learner), "epochs": summary["epochs"],
            "fit_seconds": round(time.time() - started, 2), "parameters_stored": bool(self.options.store_parameters),
            "best_weights": bool(self.options.store_best), "pretrained_from": self.initial_model_id(unit),
            "co_tasks": summary.get("co_tasks", [])})
        self.log(f"  {unit.name}: {summary['eval_metric']} {summary['val_score']:.4f} on fold {unit.fold}, "
                 f"{summary['epochs']} epochs, {time.time() - started:.1f} s")

    def initial_model_id(self, unit: Unit):
        return None

    def fit_data(self, task: TaskData, unit: Unit, train: pd.DataFrame, tune: pd.DataFrame) -> tuple:
        """What a fold's fit reads: the frames; for detection COCO files whose categories are the task's classes,
        so that every fold's detector knows every class of the task in one order."""
        if task.info["problem_type"] != image_tasks.DETECTION:
            return train, tune
        scratch = os.environ.get("AUTOMODAL_SCRATCH") or self.project.tmp
        ids = task.dataset.get("category_ids")
        return tuple(image_tasks.coco_file(frame, task.label, task.info["classes"], ids,
                                           os.path.join(scratch, f"{unit.task}.fold{unit.fold}.{part}.json"))
                     for part, frame in (("train", train), ("tune", tune)))

    def co_task_data(self, unit: Unit) -> list:
        """(training rows, label) of each co-task: the rows outside the fold with the unit's number."""
        data = []
        for name in self.co_task_names(unit.pivot):
            task = TaskData(self.project, name)
            data.append((task.fold_frames(unit.fold % task.info["n_folds"])[0].drop(columns=ROW), task.label))
        return data

    def fit(self, predictor, unit, train, tune, hyperparameters, column_types):
        co_tasks = self.co_task_data(unit)
        weights = self.options.task_weights
        family_keywords = {"column_types": column_types, "co_tasks": co_tasks or None,
                           "task_weights": list(weights) if co_tasks and weights else None}
        taken = predictor.learner.capabilities.fit_keywords      # an image task's fit takes none of them
        predictor.fit(train, tuning_data=tune, hyperparameters=hyperparameters, presets=self.config.presets,
                      seed=int(self.config.seed), time_limit=self.config.time_limit, loggers=self.tracking(unit),
                      **{k: v for k, v in family_keywords.items() if k in taken})

    def tracking(self, unit: Unit) -> Tracking:
        """mode.loggers for one fold's fit: a run of its own, tagged with the project, task, fold and run id."""
        loggers = self.options.loggers
        uri = self.options.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI") or \
            "sqlite:///" + os.path.join(self.project.path, "mlflow.db")
        return Tracking(None if loggers is None else list(loggers), f"{unit.task}-fold{unit.fold}",
                        {"project": self.project.name, "task": unit.task, "fold": unit.fold,
                         "run_id": self.run_record.id}, mlflow_uri=uri)

    def predict(self, unit: Unit):
        predictor = self._load(unit)
        task = TaskData(self.project, unit.task)
        _, tune = task.fold_frames(unit.fold)
        splits = {"test": task.test_frame(), "val": tune, "unlabeled": task.unlabeled_frame()}
        for other in self.eval_on():
            other_task = TaskData(self.project, other)
            splits[f"on_{other}_test"] = other_task.test_frame()
            splits[f"on_{other}_unlabeled"] = other_task.unlabeled_frame()
        directory = self.project.predictions_dir(unit.task, unit.fold)
        category_ids = task.dataset.get("category_ids") if task.image_task else None
        for split, frame in splits.items():
            if frame is None or frame.empty:
                continue
            if task.image_task:
                os.makedirs(directory, exist_ok=True)
                image_tasks.write_predictions(predictor, frame.drop(columns=ROW), split, directory,
                                              frame[ROW].to_numpy(), category_ids)
                continue
            write_parquet(predictions(predictor, frame, split), os.path.join(directory, f"{split}.parquet"))
        self.log(f"  {unit.name}: predictions of " + ", ".join(s for s, f in splits.items() if f is not None))

    def test(self, unit: Unit):
        predictor = self._load(unit)
        targets = {None: TaskData(self.project, unit.task).test_frame()}
        for other in self.eval_on():
            targets[other] = TaskData(self.project, other).test_frame()
        for other, frame in targets.items():
            if frame is None:
                if other is None:
                    raise WorkspaceError(f"task {unit.task} has no test split to test on.")
                continue
            labelled = frame[frame[predictor.label].notna()].drop(columns=ROW)
            family_metrics = getattr(predictor.learner, "metrics", None) or TEST_METRICS[predictor.problem_type]
            metrics = list(dict.fromkeys([predictor.eval_metric, *family_metrics]))
            scores = {k: float(v) for k, v in predictor.evaluate(labelled, metrics=metrics).items()}
            write_json(self.project.metrics_path(unit.task, unit.fold, other), {
                "task": unit.task, "pivot": unit.pivot, "fold": unit.fold, "on": other or unit.task,
                "rows": len(labelled), "metrics": scores})
            self.log(f"  {unit.name}" + (f" on {other}" if other else "") + ": "
                     + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))

    def report(self, pivot: str):
        from rich.table import Table

        units = [u for u in self.units() if u.pivot == pivot]
        for other in [None] + self.eval_on():
            rows = [read_json(self.project.metrics_path(u.task, u.fold, other)) for u in units
                    if os.path.exists(self.project.metrics_path(u.task, u.fold, other))]
            if not rows:
                continue
            metrics = list(rows[0]["metrics"])
            summary = {m: {"mean": float(np.mean([r["metrics"][m] for r in rows])),
                           "std": float(np.std([r["metrics"][m] for r in rows])),
                           "per_fold": [r["metrics"][m] for r in rows]} for m in metrics}
            name = "summary.json" if other is None else f"summary.on_{other}.json"
            write_json(os.path.join(self.project.metrics, pivot, name), {
                "task": pivot, "on": other or pivot, "models": [f"{r['task']}/fold{r['fold']}" for r in rows],
                "metrics": summary})
            table = Table(title=f"{pivot}: test metrics of {len(rows)} models" + (f" on {other}" if other else ""))
            models = [f"{r['task']}/fold{r['fold']}" for r in rows]
            if len(metrics) <= 6:
                for column in ("model", *metrics):
                    table.add_column(column)
                for model, r in zip(models, rows):
                    table.add_row(model, *(f"{r['metrics'][m]:.4f}" for m in metrics))
                table.add_row("mean ± std", *(f"{summary[m]['mean']:.4f} ± {summary[m]['std']:.4f}" for m in metrics))
            else:       # many metrics (detection's): a row per metric
                for column in ("metric", *models, "mean ± std"):
                    table.add_column(column)
                for m in metrics:
                    table.add_row(m, *(f"{r['metrics'][m]:.4f}" for r in rows),
                                  f"{summary[m]['mean']:.4f} ± {summary[m]['std']:.4f}")
            self.console.print(table)


def predictions(predictor, frame: pd.DataFrame, split: str) -> pd.DataFrame:
    features = frame.drop(columns=[ROW] + ([predictor.label] if predictor.label in frame.columns else []))
    out = pd.DataFrame({"row": frame[ROW].to_numpy(), "split": split})
    out["prediction"] = np.asarray(predictor.predict(features))
    if predictor.problem_type in CLASSIFICATION:
        proba = predictor.predict_proba(features)
        for column in proba.columns:
            out[f"proba_{column}"] = proba[column].to_numpy()
    return out


def _greater_is_better(metric: str, learner) -> bool:
    """From the family's own metrics where it has them (detection, segmentation), else the table metrics."""
    family_metrics = getattr(learner, "metrics", None) or {}
    if metric in family_metrics:
        return bool(family_metrics[metric])
    return METRICS[metric].greater_is_better if metric in METRICS else True

