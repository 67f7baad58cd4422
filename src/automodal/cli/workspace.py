"""A project on disk: data sets, tasks, models, predictions, metrics and runs under ROOT/PROJECT.

    project.json                         format version and name
    datasets/NAME/dataset.json           content hash, source, rows, columns
    datasets/NAME/{train,test,unlabeled}.parquet   the stored tables (test and unlabeled when given)
    datasets/NAME/raw/                   copies of the source files (removed by `clean` download)
    tasks/TASK/task.json                 label, problem type, column types, folds, parent task if nested
    tasks/TASK/rows.parquet              row (of the dataset's train table) and fold; fold -1 marks test rows
    models/TASK/foldK/                   a saved predictor; foldK.json its record, foldK.blueprint.yaml its pipeline
    predictions/TASK/foldK/SPLIT.parquet row, split, prediction and class probabilities
    metrics/TASK/foldK.json, metrics/TASK/summary.json
    runs/RUN/                            config.yaml, plan.json, done.jsonl, run.log of one invocation
    tmp/                                 scratch directories of running fits
    .lock                                the run that holds the project

Every JSON file carries "format_version"; nothing is pickled.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager

import pandas as pd

from ..errors import AutomodalError

FORMAT_VERSION = 1
LAYOUT = ("datasets", "tasks", "models", "predictions", "metrics", "runs", "tmp")


class WorkspaceError(AutomodalError):
    """A project, task, model or file the mode needs is not there, or is in use."""


def write_json(path: str, content: dict):
    """Written whole or not at all (a temporary file renamed over the target)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"format_version": FORMAT_VERSION, **content}, handle, indent=2, default=str)
    os.replace(temporary, path)


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_parquet(frame: pd.DataFrame, path: str):
    """With the format version in the file's key-value metadata (read it with pyarrow's read_schema)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(os.path.dirname(path), exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"automodal_format_version": str(FORMAT_VERSION).encode()})
    temporary = f"{path}.tmp-{os.getpid()}"
    pq.write_table(table, temporary)
    os.replace(temporary, path)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # another user's process
        return True
    try:                        # a killed process that its parent has not reaped yet is gone too
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Project:
    def __init__(self, root: str, name: str):
        if not name or os.sep in name or name in (".", ".."):
            raise WorkspaceError(f"proj={name!r} is not a project name: use a plain name such as proj=demo.")
        self.name = name
        self.path = os.path.abspath(os.path.join(root, name))

    def __getattr__(self, part: str) -> str:   # project.datasets, project.tasks, ... are the layout's directories
        if part in LAYOUT:
            return os.path.join(self.path, part)
        raise AttributeError(part)

    @property
    def exists(self) -> bool:
        return os.path.exists(os.path.join(self.path, "project.json"))

    def ensure(self):
        for part in LAYOUT:
            os.makedirs(os.path.join(self.path, part), exist_ok=True)
        if not self.exists:
            write_json(os.path.join(self.path, "project.json"), {"name": self.name, "created": time.time()})

    def require(self):
        if not self.exists:
            raise WorkspaceError(f"project '{self.name}' does not exist under {os.path.dirname(self.path)}; create "
                                 f"it with: automodal create proj={self.name} task_list=[NAME] data.NAME.path=FILE "
                                 "data.NAME.label=COLUMN (or set root=... / $AUTOMODAL_HOME).")

    # ---------------------------------------------------------------- the lock
    @property
    def lock_path(self) -> str:
        return os.path.join(self.path, ".lock")

    def lock_holder(self) -> dict | None:
        try:
            return read_json(self.lock_path)
        except (OSError, ValueError):
            return None

    def lock_is_stale(self, holder: dict | None) -> bool:
        return holder is not None and holder.get("host") == socket.gethostname() and \
            not process_alive(int(holder.get("pid", -1)))

    @contextmanager
    def locked(self, run_id: str, note=print):
        """Hold the project for one run; a lock whose process is gone is taken over, with a note."""
        os.makedirs(self.path, exist_ok=True)
        mine = {"format_version": FORMAT_VERSION, "pid": os.getpid(), "host": socket.gethostname(),
                "run": run_id, "started": time.time()}
        while True:
            try:
                descriptor = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self.lock_holder()
                if self.lock_is_stale(holder):
                    note(f"note: taking over the lock of run {holder.get('run')} (its process {holder.get('pid')} "
                         "is gone)")
                    os.remove(self.lock_path)
                    continue
                if holder is None:      # being written this instant, or unreadable: look again shortly
                    time.sleep(0.1)
                    if self.lock_holder() is None and os.path.exists(self.lock_path):
                        os.remove(self.lock_path)
                    continue
                raise WorkspaceError(
                    f"project '{self.name}' is in use by run {holder.get('run')} (pid {holder.get('pid')} on "
                    f"{holder.get('host')}); wait for it to finish, or remove {self.lock_path} if that run is gone.")
            with os.fdopen(descriptor, "w") as handle:
                json.dump(mine, handle)
            break
        try:
            yield
        finally:
            if (self.lock_holder() or {}).get("pid") == os.getpid():
                os.remove(self.lock_path)

    # ---------------------------------------------------------------- paths
    def dataset_dir(self, name: str) -> str:
        return os.path.join(self.datasets, name)

    def task_dir(self, task: str) -> str:
        return os.path.join(self.tasks, task)

    def model_dir(self, task: str, fold: int) -> str:
        return os.path.join(self.models, task, f"fold{fold}")

    def model_record(self, task: str, fold: int) -> str:
        return os.path.join(self.models, task, f"fold{fold}.json")

    def blueprint_path(self, task: str, fold: int) -> str:
        return os.path.join(self.models, task, f"fold{fold}.blueprint.yaml")

    def predictions_dir(self, task: str, fold: int) -> str:
        return os.path.join(self.predictions, task, f"fold{fold}")

    def metrics_path(self, task: str, fold: int, on: str | None = None) -> str:
        return os.path.join(self.metrics, task, f"fold{fold}{'.on_' + on if on else ''}.json")

    def task_names(self) -> list:
        return sorted(n for n in os.listdir(self.tasks) if os.path.exists(os.path.join(self.tasks, n, "task.json"))) \
            if os.path.isdir(self.tasks) else []

    def model_records(self, task_prefix: str) -> list:
        """Records of the models of a task and of its nested variants (TASK+nested_k)."""
        records = []
        if not os.path.isdir(self.models):
            return records
        for task in sorted(os.listdir(self.models)):
            if task != task_prefix and not task.startswith(task_prefix + "+"):
                continue
            for name in sorted(os.listdir(os.path.join(self.models, task))):
                if name.endswith(".json"):
                    records.append(read_json(os.path.join(self.models, task, name)))
        return records
