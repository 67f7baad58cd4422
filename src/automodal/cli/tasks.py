"""Data sets and tasks of a project: stored tables, label and column types, fold assignment, nested variants."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import time

import numpy as np
import pandas as pd

from ..data.codes import read_codes
from ..data.infer import infer_column_types, infer_problem_type
from ..data.types import CLASSIFICATION, IMAGE
from ..learners.registry import family_of
from . import image_tasks
from .options import OptionError
from .workspace import WorkspaceError, read_json, write_json, write_parquet

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
NESTED = "+nested_"


# ---------------------------------------------------------------- reading the user's files
def source_files(path: str, what: str) -> list:
    path = os.path.abspath(os.path.expanduser(str(path)))
    if os.path.isdir(path):
        files = sorted(f for f in glob.glob(os.path.join(path, "*")) if f.lower().endswith(TABLE_SUFFIXES))
        if not files:
            raise WorkspaceError(f"{what}: directory {path} holds no CSV or Parquet file.")
        return files
    if not os.path.isfile(path):
        raise WorkspaceError(f"{what}: no file or directory at {path}.")
    if not path.lower().endswith(TABLE_SUFFIXES):
        raise WorkspaceError(f"{what}: {path} is not a CSV or Parquet file.")
    return [path]


def read_table(files: list, what: str) -> pd.DataFrame:
    frames = []
    for path in files:
        try:
            frame = pd.read_csv(path) if path.lower().endswith(".csv") else pd.read_parquet(path)
        except Exception as error:  # a file pandas cannot parse: name it
            raise WorkspaceError(f"{what}: cannot read {path}: {error}") from error
        frames.append(_absolute_image_paths(frame, os.path.dirname(path)))
    columns = [list(f.columns) for f in frames]
    if any(c != columns[0] for c in columns):
        raise WorkspaceError(f"{what}: the files of {os.path.dirname(files[0])} have different columns.")
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise WorkspaceError(f"{what}: {files[0]} has no rows.")
    return frame


def _absolute_image_paths(frame: pd.DataFrame, base: str) -> pd.DataFrame:
    """Relative image paths are relative to the table's own directory; stored tables hold absolute ones."""
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
            continue
        present = values.dropna().astype(str)
        if present.empty or not present.str.lower().str.endswith(IMAGE_SUFFIXES).mean() >= 0.9:
            continue
        resolved = present.map(lambda p: p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p)))
        if resolved.map(os.path.exists).mean() >= 0.5:
            frame = frame.copy()
            frame.loc[resolved.index, column] = resolved
    return frame


def content_hash(tables: dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(tables):
        table = tables[name]
        digest.update(name.encode())
        digest.update(repr([(c, str(t)) for c, t in table.dtypes.items()]).encode())
        digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- data sets
def data_spec(config, name: str, single: bool) -> dict:
    """data.NAME.* (or data.* when task_list holds one task)."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(config.data, resolve=True) or {}
    spec = data.get(name)
    if spec is None and single and "path" in data:
        spec = data
    if not isinstance(spec, dict) or "path" not in spec:
        raise OptionError(f"creating data set '{name}' needs data.{name}.path=FILE_OR_DIR and "
                          f"data.{name}.label=COLUMN.")
    declared = image_tasks.declared_problem_type(spec, name)
    if "label" not in spec:
        if not (image_tasks.is_coco(spec["path"]) or image_tasks.is_image_task(declared)):
            raise OptionError(f"creating data set '{name}' needs data.{name}.label=COLUMN (only a COCO file, or "
                              f"data.{name}.problem_type=object_detection / semantic_segmentation, has a default).")
        spec = dict(spec, label=family_of(declared or image_tasks.DETECTION).default_label)
    return spec


def store_dataset(project, name: str, spec: dict, log) -> bool:
    """Read, check, hash and store one data set; False when it is present already."""
    directory = project.dataset_dir(name)
    if os.path.exists(os.path.join(directory, "dataset.json")):
        log(f"data set {name}: present, skipped")
        return False
    label = str(spec["label"])
    problem_type = image_tasks.declared_problem_type(spec, name)
    detected = None
    tables, sources, found = {}, {}, {}
    for split in ("train", "test", "unlabeled"):
        key = "path" if split == "train" else split
        if spec.get(key) is None:
            continue
        what = f"data.{name}.{key}"
        if image_tasks.is_coco(spec[key]):
            files, table = [os.path.abspath(os.path.expanduser(str(spec[key])))], None
            if not os.path.isfile(files[0]):
                raise WorkspaceError(f"{what}: no COCO file at {files[0]}.")
            if problem_type is None:
                problem_type = detected = image_tasks.DETECTION
            elif problem_type != image_tasks.DETECTION:
                raise OptionError(f"{what}: {files[0]} is a COCO file, which holds boxes (object_detection), but "
                                  f"the task is {problem_type}; give a CSV or Parquet table.")
        else:
            files = source_files(spec[key], what)
            table = read_table(files, what)
            if split == "train" and problem_type is None:
                problem_type = detected = image_tasks.detect_problem_type(table, label)
        if image_tasks.is_image_task(problem_type):
            table, extra = image_tasks.read_split(problem_type, spec[key], files, table, label, what,
                                                  labelled=split != "unlabeled")
            found.update(extra if split == "train" else {})
            if table.attrs.get("merged"):
                log(f"{what}: {table.attrs['merged']} rows named an image another row names too; their boxes are "
                    "joined, one row per image")
            tables[split], sources[split] = table, files
            continue
        if split != "unlabeled" and label not in table.columns:
            raise WorkspaceError(f"data.{name}.{key}: label column '{label}' is not in {files[0]}; its columns are "
                                 f"{list(table.columns)[:20]}.")
        if spec.get("fold_column") and split == "train" and spec["fold_column"] not in table.columns:
            raise WorkspaceError(f"data.{name}.fold_column: '{spec['fold_column']}' is not a column of {files[0]}.")
        tables[split], sources[split] = table, files
    if tables["train"][label].isna().all():
        raise WorkspaceError(f"data.{name}.path: label column '{label}' has no values.")
    staging = f"{directory}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    for split, table in tables.items():
        write_parquet(table, os.path.join(staging, f"{split}.parquet"))
        for i, path in enumerate(sources[split]):     # the copy `clean download` may remove
            target = os.path.join(staging, "raw", split, f"{i}_{os.path.basename(path)}")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(path, target)
    write_json(os.path.join(staging, "dataset.json"), {
        "name": name, "label": label, "hash": content_hash(tables), "created": time.time(),
        "sources": sources, "rows": {s: len(t) for s, t in tables.items()},
        "columns": list(tables["train"].columns), "fold_column": spec.get("fold_column"),
        "problem_type": problem_type, "problem_type_detected": detected is not None, **found})
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    os.replace(staging, directory)
    unit = "images" if image_tasks.is_image_task(problem_type) else "rows"
    log(f"data set {name}: stored {len(tables['train'])} {unit}" +
        "".join(f", {len(t)} {s} {unit}" for s, t in tables.items() if s != "train") +
        (f" ({problem_type}, detected from data.{name}.path; set data.{name}.problem_type to say otherwise)"
         if detected else ""))
    return True


# ---------------------------------------------------------------- folds
def assign_folds(labels: pd.Series, classification: bool, n_folds: int, balancing: bool, seed: int) -> np.ndarray:
    """A fold per row: stratified by class (classification) or by target quantile (regression) when balancing."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if n_folds > len(labels):
        raise OptionError(f"mode.n_folds={n_folds} is more than the {len(labels)} rows.")
    folds = np.zeros(len(labels), dtype=np.int64)
    strata = None
    if balancing:
        if classification:
            strata = labels.astype(str).to_numpy()
            if pd.Series(strata).value_counts().min() < n_folds:
                strata = None       # a class rarer than the folds cannot be spread over all of them
        else:
            bins = max(2, min(10, len(labels) // (2 * n_folds)))
            strata = pd.qcut(labels.rank(method="first"), bins, labels=False).to_numpy()
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed) if strata is not None \
        else KFold(n_folds, shuffle=True, random_state=seed)
    for fold, (_, held) in enumerate(splitter.split(np.zeros(len(labels)), strata)):
        folds[held] = fold
    return folds


# ---------------------------------------------------------------- tasks
def create_task(project, name: str, n_folds: int, balancing: bool, seed: int, log) -> bool:
    directory = project.task_dir(name)
    if os.path.exists(os.path.join(directory, "task.json")):
        stored = read_json(os.path.join(directory, "task.json"))
        changed = stored["n_folds"] != n_folds or stored["ensure_balancing"] != balancing
        log(f"task {name}: present, skipped" + (f" (it has {stored['n_folds']} folds, ensure_balancing "
                                                 f"{stored['ensure_balancing']}; create a task of another name to "
                                                 "change them)" if changed and stored["fold_source"] == "created"
                                                 else ""))
        return False
    dataset_dir = project.dataset_dir(name)
    if not os.path.exists(os.path.join(dataset_dir, "dataset.json")):
        raise WorkspaceError(f"task {name}: its data set is not stored; run create with the dataset subroutine "
                             f"and data.{name}.path / data.{name}.label.")
    dataset = read_json(os.path.join(dataset_dir, "dataset.json"))
    train = pd.read_parquet(os.path.join(dataset_dir, "train.parquet"))
    label, fold_column = dataset["label"], dataset.get("fold_column")
    labelled = train[label].notna().to_numpy()
    problem_type = dataset.get("problem_type") or infer_problem_type(train.loc[labelled, label], label)
    rows = np.flatnonzero(labelled)
    if image_tasks.is_image_task(problem_type):
        column_types, dropped, codes = {image_tasks.IMAGE_COLUMN: IMAGE}, [], {}
        classes, strata = image_tasks.task_labels(problem_type, train.iloc[rows], label, dataset)
        stratify, classification = pd.Series(strata), True
    else:
        features = train.drop(columns=[fold_column]) if fold_column else train
        column_types, dropped = infer_column_types(features[labelled], label, None)
        column_types, codes = read_codes(features[labelled], label, column_types, problem_type)
        classes = _classes(train.loc[labelled, label], problem_type)
        stratify, classification = train.loc[labelled, label].reset_index(drop=True), problem_type in CLASSIFICATION
    if fold_column:
        values = train.loc[labelled, fold_column]
        order = sorted(values.dropna().unique().tolist(), key=str)
        if len(order) < 2:
            raise WorkspaceError(f"data.{name}.fold_column '{fold_column}' has {len(order)} distinct value(s); "
                                 "folds need at least 2.")
        folds = values.map({v: i for i, v in enumerate(order)}).fillna(-2).astype(int).to_numpy()
        rows, folds = rows[folds >= 0], folds[folds >= 0]
        n_folds, source = len(order), "column"
    else:
        folds = assign_folds(stratify, classification, n_folds, balancing, seed)
        source = "created"
    write_parquet(pd.DataFrame({"row": rows, "fold": folds}), os.path.join(directory, "rows.parquet"))
    write_json(os.path.join(directory, "task.json"), {
        "name": name, "dataset": name, "label": label, "problem_type": problem_type, "column_types": column_types,
        "dropped_columns": dropped, "integer_codes": codes, "ignored_columns": [fold_column] if fold_column else [],
        "n_folds": int(n_folds), "ensure_balancing": bool(balancing), "fold_source": source, "seed": seed,
        "parent": None, "outer_fold": None, "classes": classes, "created": time.time()})
    if image_tasks.is_image_task(problem_type):
        log(f"task {name}: {problem_type} on '{label}', {len(rows)} images in {n_folds} folds; "
            + image_tasks.label_summary(problem_type, classes, train.iloc[rows], label))
        return True
    kinds = pd.Series(list(column_types.values())).value_counts()
    log(f"task {name}: {problem_type} on '{label}', {len(rows)} rows in {n_folds} folds; columns: "
        + ", ".join(f"{count} {kind}" for kind, count in kinds.items()))
    return True


def _classes(labels: pd.Series, problem_type: str):
    return sorted(map(str, labels.unique())) if problem_type in CLASSIFICATION else None


def create_nested(project, parent: str, outer: int, inner_folds: int | None, seed: int, log) -> str:
    """TASK+nested_k: the parent's fold k becomes the test rows, the rest is re-split into folds."""
    name = f"{parent}{NESTED}{outer}"
    directory = project.task_dir(name)
    if os.path.exists(os.path.join(directory, "task.json")):
        return name
    task = TaskData(project, parent)
    rows = task.rows
    remaining = rows[rows["fold"] != outer].reset_index(drop=True)
    folds = inner_folds or task.info["n_folds"]
    labels = task.train_table.iloc[remaining["row"].to_numpy()][task.label].reset_index(drop=True)
    classification = task.info["problem_type"] in CLASSIFICATION
    if task.image_task:         # images are balanced by the classes they hold, as create balanced them
        labels = pd.Series(image_tasks.task_labels(task.info["problem_type"],
                                                   task.train_table.iloc[remaining["row"].to_numpy()], task.label,
                                                   task.dataset)[1])
        classification = True
    inner = assign_folds(labels, classification, int(folds), task.info["ensure_balancing"], seed + outer)
    test_rows = rows[rows["fold"] == outer]["row"].to_numpy()
    table = pd.DataFrame({"row": np.concatenate([remaining["row"].to_numpy(), test_rows]),
                          "fold": np.concatenate([inner, np.full(len(test_rows), -1)])})
    write_parquet(table, os.path.join(directory, "rows.parquet"))
    write_json(os.path.join(directory, "task.json"), dict(task.info, name=name, n_folds=int(folds), parent=parent,
                                                          outer_fold=outer, fold_source="nested",
                                                          created=time.time()))
    log(f"task {name}: fold {outer} of {parent} set aside as test ({len(test_rows)} rows), the other "
        f"{len(remaining)} rows in {folds} folds")
    return name


class TaskData:
    """A task's tables: training and tuning rows of a fold, test rows, unlabeled rows."""

    def __init__(self, project, name: str):
        directory = project.task_dir(name)
        if not os.path.exists(os.path.join(directory, "task.json")):
            raise WorkspaceError(f"task {name} does not exist in project {project.name}; create it with "
                                 f"automodal create proj={project.name} task_list=[{name}] ...")
        self.name, self.project = name, project
        self.info = read_json(os.path.join(directory, "task.json"))
        self.label = self.info["label"]
        self.rows = pd.read_parquet(os.path.join(directory, "rows.parquet"))
        self._dataset_dir = project.dataset_dir(self.info["dataset"])
        self._tables = {}

    @property
    def image_task(self) -> bool:
        """An object detection or semantic segmentation task (one row per image)."""
        return image_tasks.is_image_task(self.info["problem_type"])

    @property
    def dataset(self) -> dict:
        """The data set's record (dataset.json): source files, COCO categories, ..."""
        return read_json(os.path.join(self._dataset_dir, "dataset.json"))

    def table(self, split: str) -> pd.DataFrame | None:
        if split not in self._tables:
            path = os.path.join(self._dataset_dir, f"{split}.parquet")
            table = pd.read_parquet(path) if os.path.exists(path) else None
            if table is not None and self.info["ignored_columns"]:
                table = table.drop(columns=[c for c in self.info["ignored_columns"] if c in table.columns])
            self._tables[split] = table
        return self._tables[split]

    @property
    def train_table(self) -> pd.DataFrame:
        return self.table("train")

    def _frame(self, rows: np.ndarray, split: str) -> pd.DataFrame:
        frame = self.table(split).iloc[rows].copy()
        frame.insert(0, "__row__", rows)
        return frame

    def fold_frames(self, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(training rows, tuning rows) of a fold; column __row__ is the row of the data set's train table."""
        if not 0 <= fold < self.info["n_folds"]:
            raise WorkspaceError(f"task {self.name} has folds 0..{self.info['n_folds'] - 1}; fold {fold} is not one.")
        usable = self.rows[self.rows["fold"] >= 0]
        train = usable[usable["fold"] != fold]["row"].to_numpy()
        tune = usable[usable["fold"] == fold]["row"].to_numpy()
        return self._frame(train, "train"), self._frame(tune, "train")

    def test_frame(self) -> pd.DataFrame | None:
        """The nested variant's held-out fold, else the data set's own test table."""
        held = self.rows[self.rows["fold"] == -1]["row"].to_numpy()
        if len(held):
            return self._frame(held, "train")
        table = self.table("test")
        return None if table is None else self._frame(np.arange(len(table)), "test")

    def unlabeled_frame(self) -> pd.DataFrame | None:
        table = self.table("unlabeled")
        return None if table is None else self._frame(np.arange(len(table)), "unlabeled")

    def labels(self, split: str, rows) -> pd.Series | None:
        """The true labels of stored prediction rows: val rows index the train table, test rows the held-out
        fold (nested) or the test table; unlabeled rows have none."""
        if split == "val" or (split == "test" and (self.rows["fold"] == -1).any()):
            table = self.train_table
        elif split == "test":
            table = self.table("test")
        else:
            return None
        return table[self.label].iloc[np.asarray(rows)].reset_index(drop=True)

    def label_space(self) -> tuple:
        return self.info["problem_type"], tuple(self.info["classes"] or ())
