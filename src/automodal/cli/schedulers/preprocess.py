"""pp: decode each task's images once into a store under PROJECT/cache/TASK/images-KEY, keyed by the files
(path, size, modification time) and max_image_side; train, predict and test read from the store whose key
matches the files as they are now, so a changed file or setting is never served from an old store."""

from __future__ import annotations

import os
import shutil

from ...data.image import cell_paths
from ...data.image_cache import ImageStore, store_key
from ...data.types import IMAGE
from ..options import OptionError
from ..tasks import NESTED, TaskData
from .base import Scheduler, Step

DEFAULT_MAX_SIDE = 512


def image_paths(task: TaskData) -> list:
    """Every image path of the task's data set: train, test and unlabeled tables."""
    columns = [c for c, t in task.info["column_types"].items() if t == IMAGE]
    paths = []
    for split in ("train", "test", "unlabeled"):
        table = task.table(split)
        if table is None:
            continue
        for column in columns:
            if column in table.columns:
                paths += [p for cell in table[column] for p in cell_paths(cell) if p]
    return paths


def cache_root(project, task_name: str) -> str:
    return os.path.join(project.path, "cache", task_name.split(NESTED)[0])


def matching_store(project, task: TaskData) -> ImageStore | None:
    """The task's image store if one matches its files and the stored setting, else None."""
    root = cache_root(project, task.name)
    if not os.path.isdir(root):
        return None
    paths = image_paths(task)
    for name in os.listdir(root):
        if not name.startswith("images-") or ".tmp-" in name:
            continue
        store = ImageStore(os.path.join(root, name))
        max_side = int(name.split("-")[-1])
        if name == f"images-{store_key(paths, max_side)}-{max_side}":
            return store
    return None


class PreprocessScheduler(Scheduler):
    subroutines = ("preprocess",)

    def prepare(self):
        side = self.options.max_image_side
        if not isinstance(side, int) or side < 16:
            raise OptionError(f"mode.max_image_side must be an integer of at least 16 pixels, got {side!r}.")
        for name in self.task_list():
            TaskData(self.project, name)

    def plan(self) -> list:
        return [Step(f"preprocess:{name}:{self.options.max_image_side}", lambda n=name: self.preprocess(n))
                for name in self.task_list()]

    def preprocess(self, name: str):
        task = TaskData(self.project, name)
        paths = image_paths(task)
        if not paths:
            self.log(f"{name}: no image column; nothing to store (text and tables are prepared per fit)")
            return
        side = int(self.options.max_image_side)
        root = cache_root(self.project, name)
        target = os.path.join(root, f"images-{store_key(paths, side)}-{side}")
        if os.path.isdir(target):
            self.log(f"{name}: the image store is up to date ({target})")
            return
        store = ImageStore.build(target, paths, side)
        for old in os.listdir(root):           # stores of earlier files or settings can never match again
            if old != os.path.basename(target) and old.startswith("images-"):
                shutil.rmtree(os.path.join(root, old), ignore_errors=True)
        size = os.path.getsize(os.path.join(target, "pixels.bin"))
        self.log(f"{name}: stored {len(store.index)} of {len(set(paths))} images ({size / 1e6:.1f} MB) in {target}")
