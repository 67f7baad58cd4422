"""info: tables and plots that summarise a project's tasks, hyperparameter searches, sample rows and models.
Figures are PNG files under PROJECT/info; their paths are printed."""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os

import pandas as pd

from ...data.types import CLASSIFICATION, IMAGE, TEXT
from .. import plots
from ..options import OptionError
from ..tasks import NESTED, TaskData
from ..workspace import read_json
from .base import Scheduler, Step

logger = logging.getLogger(__name__)
ALIASES = {"sample_grid": "samples"}


class InfoScheduler(Scheduler):
    subroutines = ("tasks", "hpo", "samples", "sample_grid", "models")

    def prepare(self):
        names = self.config.task_list or []
        for name in names:
            TaskData(self.project, str(name))

    def tasks_shown(self) -> list:
        """task_list, or every task of the project that is not a nested variant."""
        listed = [str(t) for t in (self.config.task_list or [])]
        return listed or [t for t in self.project.task_names() if NESTED not in t]

    def plan(self) -> list:
        wanted = list(dict.fromkeys(ALIASES.get(s, s) for s in self.options.subroutines))
        return [Step(f"info:{name}", getattr(self, name)) for name in wanted]

    def figure_path(self, *parts) -> str:
        return os.path.join(self.project.path, "info", *parts)

    def _table(self, title: str, columns: list, rows: list):
        from rich.table import Table

        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(c) for c in row))
        self.console.print(table)

    # ---------------------------------------------------------------- tasks
    def tasks(self):
        for name in self.tasks_shown():
            task = TaskData(self.project, name)
            usable = task.rows[task.rows["fold"] >= 0]
            frame = task.train_table.iloc[usable["row"].to_numpy()]
            labels = frame[task.label].reset_index(drop=True)
            kinds = pd.Series(list(task.info["column_types"].values())).value_counts()
            self._table(f"task {name}: {task.info['problem_type']} on '{task.label}'", ["", "value"], [
                ("rows", len(frame)), ("folds", task.info["n_folds"]),
                ("columns", ", ".join(f"{n} {k}" for k, n in kinds.items())),
                ("missing values", ", ".join(f"{c}: {n}" for c, n in frame.isna().sum().items() if n) or "none"),
                ("test rows", 0 if task.test_frame() is None else len(task.test_frame())),
                ("unlabeled rows", 0 if task.unlabeled_frame() is None else len(task.unlabeled_frame()))])
            classification = task.info["problem_type"] in CLASSIFICATION
            folds = usable["fold"].to_numpy()
            if classification:
                counts = pd.crosstab(pd.Series(folds, name="fold"), labels.astype(str))
                self._table(f"{name}: label per fold", ["fold", *counts.columns],
                            [(f, *counts.loc[f].tolist()) for f in counts.index])
            else:
                self._table(f"{name}: label per fold", ["fold", "mean", "std", "min", "max"],
                            [(f, *(f"{v:.4g}" for v in (labels[folds == f].mean(), labels[folds == f].std(),
                                                         labels[folds == f].min(), labels[folds == f].max())))
                             for f in sorted(set(folds))])
            path = plots.label_distribution(self.figure_path("tasks", f"{name}.labels.png"), labels, folds,
                                            classification, f"{name}: {task.label} per fold")
            self.log(f"  {path}")

    # ---------------------------------------------------------------- hpo
    def hpo(self):
        """Searches stored as PROJECT/hpo/STUDY/trials.json: [{trial, config, score, status, seconds}]."""
        studies = sorted(glob.glob(os.path.join(self.project.path, "hpo", "*", "trials.json")),
                         key=os.path.getmtime)
        if not studies:
            self.log("no hyperparameter searches in this project")
            return
        name = self.config.mode.study_name
        if name is None:
            logger.warning("info hpo: no mode.study_name given; showing the newest search, %s.",
                           os.path.basename(os.path.dirname(studies[-1])))
            path = studies[-1]
        else:
            path = os.path.join(self.project.path, "hpo", str(name), "trials.json")
            if not os.path.exists(path):
                known = [os.path.basename(os.path.dirname(s)) for s in studies]
                raise OptionError(f"mode.study_name={name}: no such search; this project has {', '.join(known)}.")
        study = read_json(path)
        trials = pd.DataFrame([{"trial": t["trial"], "score": t.get("score"), "status": t.get("status"),
                                "seconds": t.get("seconds"), **t.get("config", {})} for t in study["trials"]])
        parameters = [c for c in trials.columns if c not in ("trial", "score", "status", "seconds")]
        self._table(f"search {study.get('name', os.path.basename(os.path.dirname(path)))}: "
                    f"{study.get('metric', 'score')}", list(trials.columns),
                    trials.astype(object).where(trials.notna(), "").values.tolist())
        done = trials.dropna(subset=["score"])
        done.attrs["greater_is_better"] = study.get("greater_is_better", True)
        figure = plots.trials(self.figure_path("hpo", f"{os.path.basename(os.path.dirname(path))}.png"), done,
                              parameters, study.get("metric", "score"))
        self.log(f"  {figure}")

    # ---------------------------------------------------------------- samples
    def samples(self, per_class: int = 4):
        cells = {}
        for name in self.tasks_shown():
            task = TaskData(self.project, name)
            types = task.info["column_types"]
            frame = task.train_table
            images = [c for c, t in types.items() if t == IMAGE]
            texts = [c for c, t in types.items() if t == TEXT]
            classes = frame[task.label].dropna().astype(str)
            if images:
                column = images[0]
                cells[name] = {label: frame.loc[classes[classes == label].index, column].dropna().astype(str)
                               .str.split(";").str[0].head(per_class).tolist()
                               for label in sorted(classes.unique())[:8]}
            elif texts:
                rows = [(label, text[:120]) for label in sorted(classes.unique())[:8]
                        for text in frame.loc[classes[classes == label].index, texts[0]].dropna().astype(str)
                        .head(2)]
                self._table(f"{name}: example {texts[0]} per class", ["class", texts[0]], rows)
                with open(self.figure_path_ensure("samples", f"{name}.examples.json"), "w") as handle:
                    json.dump([{"class": c, texts[0]: t} for c, t in rows], handle, indent=2)
            else:
                self.log(f"{name}: no image or text column to show samples of")
        if not cells:
            return
        if self.options.info_individual:
            for name, classes in cells.items():
                self.log(f"  {plots.image_grid(self.figure_path('samples', f'{name}.png'), {name: classes})}")
        if self.options.info_grid:
            self.log(f"  {plots.image_grid(self.figure_path('samples', 'grid.png'), cells)}")

    def figure_path_ensure(self, *parts) -> str:
        path = self.figure_path(*parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    # ---------------------------------------------------------------- models
    def models(self):
        rows, logs = [], {}
        for name in self.tasks_shown():
            for record in self.project.model_records(name):
                directory = self.project.model_dir(record["task"], record["fold"])
                size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(directory, "**"), recursive=True)
                           if os.path.isfile(p)) if os.path.isdir(directory) else 0
                blueprint = self.project.blueprint_path(record["task"], record["fold"])
                digest = hashlib.sha256(open(blueprint, "rb").read()).hexdigest()[:10] \
                    if os.path.exists(blueprint) else "-"
                rows.append((f"{record['task']}/fold{record['fold']}", record["eval_metric"],
                             f"{record['val_score']:.4f}", f"{size / 1e6:.2f} MB", f"{record['fit_seconds']:.1f} s",
                             digest))
                log = os.path.join(directory, "training_log.csv")
                if os.path.exists(log):
                    logs.setdefault(name, {})[f"{record['task']}/fold{record['fold']}"] = pd.read_csv(log)
        if not rows:
            self.log("no models in this project yet")
            return
        self._table("models", ["model", "metric", "validation", "size", "fit time", "config digest"], rows)
        for name, task_logs in logs.items():
            self.log(f"  {plots.learning_curves(self.figure_path('models', f'{name}.curves.png'), task_logs, name)}")
