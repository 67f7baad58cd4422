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
from .. import image_tasks, plots
from ..options import OptionError
from ..tasks import NESTED, TaskData
from ..workspace import read_json
from .base import Scheduler, Step

logger = logging.getLogger(__name__)
ALIASES = {"sample_grid": "samples"}


def _cell(value) -> str:
    """A table cell: numbers to four significant digits, errors cut to their first line."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).splitlines()[0][:80] if isinstance(value, str) and value else str(value)


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
            if task.image_task:
                self.image_task_summary(name, task)
                continue
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

    def image_task_summary(self, name: str, task: TaskData):
        """Images, classes and, per fold, the boxes of each class (detection) or the images whose masks hold each
        class (segmentation), as a table and a stacked bar plot."""
        problem_type = task.info["problem_type"]
        usable = task.rows[task.rows["fold"] >= 0]
        frame = task.train_table.iloc[usable["row"].to_numpy()]
        folds = usable["fold"].to_numpy()
        classes = [str(c) for c in task.info["classes"]]
        self._table(f"task {name}: {problem_type} on '{task.label}'", ["", "value"], [
            ("images", len(frame)), ("folds", task.info["n_folds"]),
            ("classes" if problem_type == image_tasks.DETECTION else "mask values", ", ".join(classes)),
            ("test images", 0 if task.test_frame() is None else len(task.test_frame())),
            ("unlabeled images", 0 if task.unlabeled_frame() is None else len(task.unlabeled_frame()))])
        if problem_type == image_tasks.DETECTION:
            pairs = [(fold, str(box[4])) for fold, cell in zip(folds, frame[task.label])
                     for box in image_tasks.rois(cell)]
            what = "boxes"
        else:
            strata = image_tasks.task_labels(problem_type, frame, task.label, task.dataset)[1]
            pairs = [(fold, value) for fold, present in zip(folds, strata) for value in present.split(",") if value]
            what = "images holding the class"
        counts = pd.crosstab(pd.Series([f for f, _ in pairs], name="fold"), pd.Series([c for _, c in pairs],
                                                                                       name="class"))
        counts = counts.reindex(index=sorted(set(folds)), columns=[c for c in classes if c in counts.columns],
                                fill_value=0)
        self._table(f"{name}: {what} per fold", ["fold", *counts.columns],
                    [(f, *counts.loc[f].tolist()) for f in counts.index])
        path = plots.counts_per_fold(self.figure_path("tasks", f"{name}.labels.png"), counts, what,
                                     f"{name}: {what} per fold")
        self.log(f"  {path}")

    # ---------------------------------------------------------------- hpo
    def hpo(self):
        """A study stored as PROJECT/hpo/STUDY/trials.json (automodal train with search spaces): per task searched,
        a table of its trials and two figures: the score against trials (with the best so far) and against each
        searched key, and one line per trial across the searched keys."""
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
        name = study.get("name", os.path.basename(os.path.dirname(path)))
        searches = study["searches"] if "searches" in study else {None: study}   # one search without tasks
        listed = [str(t) for t in (self.config.task_list or [])]
        for task, search in searches.items():
            if task is not None and listed and task not in listed and task.split(NESTED)[0] not in listed:
                continue
            self.search_summary(name, task, search)

    def search_summary(self, study: str, task: str | None, search: dict):
        trials = pd.DataFrame([{"trial": t["trial"], "status": t.get("status"), "score": t.get("score"),
                                "seconds": t.get("seconds"), **t.get("config", {}), "error": t.get("error")}
                               for t in search["trials"]])
        parameters = [c for c in trials.columns if c not in ("trial", "score", "status", "seconds", "error")]
        metric = search.get("metric", "score")
        title = f"search {study}" + (f" of {task}" if task else "") + f": {metric}"
        if "best_trial" in search:
            title += f", best trial {search['best_trial']} ({search['best_score']:.4f})"
        columns = [c for c in trials.columns if c != "error" or trials["error"].notna().any()]
        shown = trials[columns].astype(object).where(trials[columns].notna(), "")
        short = {key: key.rsplit(".", 1)[-1] for key in parameters}      # learning_rate for optimization.learning_rate
        if len(set(short.values())) < len(short):
            short = {key: key for key in parameters}
        self._table(title, [short.get(c, c) for c in columns],
                    [[_cell(v) for v in row] for row in shown.values.tolist()])
        self.log("  searched: " + ", ".join(f"{key} in {search.get('spaces', {}).get(key, '?')}" for key in parameters))
        done = trials.dropna(subset=["score"])
        done.attrs["greater_is_better"] = search.get("greater_is_better", True)
        spaces = search.get("spaces", {})
        logs = [key for key in parameters if str(spaces.get(key, "")).startswith(("log", "qlog"))]
        stem = study + (f".{task}" if task else "")
        self.log(f"  {plots.trials(self.figure_path('hpo', f'{stem}.png'), done, parameters, metric, logs)}")
        if parameters and len(done):
            path = self.figure_path("hpo", f"{stem}.parallel.png")
            self.log(f"  {plots.parallel_trials(path, done, parameters, metric, logs)}")

    # ---------------------------------------------------------------- samples
    def samples(self, per_class: int = 4):
        cells, annotated = {}, {}
        for name in self.tasks_shown():
            task = TaskData(self.project, name)
            if task.image_task:
                annotated[name] = self.annotated_samples(task, per_class)
                continue
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
        if self.options.info_individual:
            for name, classes in cells.items():
                self.log(f"  {plots.image_grid(self.figure_path('samples', f'{name}.png'), {name: classes})}")
            for name, samples in annotated.items():
                self.log(f"  {plots.annotated_images(self.figure_path('samples', f'{name}.png'), {name: samples})}")
        if self.options.info_grid and cells:
            self.log(f"  {plots.image_grid(self.figure_path('samples', 'grid.png'), cells)}")
        if self.options.info_grid and annotated:        # beside the classes' grid when the project has both
            grid = "annotated_grid.png" if cells else "grid.png"
            self.log(f"  {plots.annotated_images(self.figure_path('samples', grid), annotated)}")

    @staticmethod
    def annotated_samples(task: TaskData, count: int) -> list:
        """[(image, boxes, mask path)] of the first labelled training images, those with boxes first."""
        frame = task.train_table.iloc[task.rows[task.rows["fold"] >= 0]["row"].to_numpy()]
        if task.info["problem_type"] == image_tasks.DETECTION:
            boxes = [image_tasks.rois(cell) for cell in frame[task.label]]
            order = sorted(range(len(frame)), key=lambda i: not boxes[i])[:count]
            return [(frame[image_tasks.IMAGE_COLUMN].iloc[i], boxes[i], None) for i in order]
        return [(image, None, mask) for image, mask in zip(frame[image_tasks.IMAGE_COLUMN].head(count),
                                                         frame[task.label].head(count))]

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
