"""pp: decode each task's images once into a store under PROJECT/cache/TASK/images-KEY, keyed by the files
(path, size, modification time) and max_image_side, and tokenise its texts once into
PROJECT/cache/TASK/tokens-FINGERPRINT.parquet per tokenizer the fit would use (hp.* decides which). train, predict
and test read images from the store whose key matches the files as they are now, and token ids from the store of
their own tokenizer (texts it lacks are tokenised as usual), so neither a changed file nor a changed setting is
served from an old store."""

from __future__ import annotations

import glob
import os
import shutil

from ...config import resolve_config
from ...data.image import cell_paths, load_image
from ...data.image_cache import ImageStore, store_key
from ...data.text import TextProcessor, render_column
from ...data.token_cache import TokenStore, tokenizer_fingerprint
from ...data.types import IMAGE, TEXT
from ...models.hashed_text import offline_text_fallback
from ...models.net import select_models, text_conversion
from ...models.registry import get_spec
from ..options import OptionError, predictor_hyperparameters
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
        max_side = int(name.split("-")[-1])
        if name == f"images-{store_key(paths, max_side)}-{max_side}":    # open only the store that matches
            return ImageStore(os.path.join(root, name))
    return None


def text_processors(task: TaskData, hyperparameters: dict, presets) -> list:
    """The text processors a fit of this task would build (hf_text, clip's text tower), fitted on its rows."""
    config = resolve_config(presets, hyperparameters)
    types = dict(task.info["column_types"])
    if TEXT not in types.values():
        return []
    names = offline_text_fallback(config["model.names"], types, config)
    types = text_conversion(types, config, names)
    reads, _ = select_models(names, types, "model.names" in config.explicit)
    processors = []
    for model in reads:
        spec = get_spec(model)
        if spec.processor is None or TEXT not in reads[model]:
            continue
        processor = spec.processor(model, types, config).fit(task.train_table)
        processor = getattr(processor, "text", processor)           # clip: its text tower's processor
        if isinstance(processor, TextProcessor):
            processors.append(processor)
    return processors


def token_stores(project, task_name: str) -> dict:
    """{tokenizer fingerprint: TokenStore} of the task's stored token ids."""
    root = cache_root(project, task_name)
    stores = {}
    for path in glob.glob(os.path.join(root, "tokens-*.parquet")):
        fingerprint = os.path.basename(path)[len("tokens-"):-len(".parquet")]
        stores[fingerprint] = _TOKEN_STORES.get(path) or _TOKEN_STORES.setdefault(path, TokenStore(path))
    return stores


_TOKEN_STORES: dict = {}    # read once per process


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
        if task.image_task:
            self.log(f"{name}: nothing to store: {task.info['problem_type']} models decode their images themselves "
                     "(the pp store serves the image columns of table tasks)")
            return
        self.store_tokens(task)
        paths = image_paths(task)
        if not paths:
            return
        side = int(self.options.max_image_side)
        root = cache_root(self.project, name)
        target = os.path.join(root, f"images-{store_key(paths, side)}-{side}")
        if os.path.isdir(target):
            self.log(f"{name}: the image store is up to date ({target})")
            return
        store = ImageStore.build(target, paths, side, load_image)
        for old in os.listdir(root):           # stores of earlier files or settings can never match again
            if old != os.path.basename(target) and old.startswith("images-"):
                shutil.rmtree(os.path.join(root, old), ignore_errors=True)
        size = os.path.getsize(os.path.join(target, "pixels.bin"))
        self.log(f"{name}: stored {len(store.index)} of {len(set(paths))} images ({size / 1e6:.1f} MB) in {target}")

    def store_tokens(self, task: TaskData):
        """Token ids of every text the task's text processors read, per tokenizer."""
        processors = text_processors(task, predictor_hyperparameters(self.config), self.config.presets)
        root = cache_root(self.project, task.name)
        os.makedirs(root, exist_ok=True)
        for processor in processors:
            texts = []
            for split in ("train", "test", "unlabeled"):
                table = task.table(split)
                if table is not None:
                    texts += [t for c in processor.columns if c in table.columns
                              for t in render_column(table[c], processor.normalize)]
            path = os.path.join(root, f"tokens-{tokenizer_fingerprint(processor.tokenizer)}.parquet")
            store = TokenStore.build(path, processor.tokenizer, texts)
            _TOKEN_STORES.pop(path, None)
            self.log(f"{task.name}: stored the token ids of {len(store.ids)} distinct texts ({processor.name}) in "
                     f"{path}")
