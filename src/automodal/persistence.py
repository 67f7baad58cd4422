"""The save format: a directory of YAML, JSON and safetensors. Loading reads data only, never code."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import yaml

from . import __version__, migrations
from .config import Config
from .errors import AutomodalError
from .training.soup import state_to_cpu

CONFIG_FILE = "config.yaml"
META_FILE = "automodal.json"
PROCESSORS_FILE = "processors.json"
WEIGHTS_FILE = "model.safetensors"
LOG_FILE = "training_log.csv"
TENSORBOARD_DIRECTORY = "tensorboard"       # the event files of a fit's default TensorBoard logger


def _saved_names(path: str) -> set:
    """What saving wrote to `path`: its files and a directory per processor (empty when no predictor is there)."""
    try:
        with open(os.path.join(path, PROCESSORS_FILE), encoding="utf-8") as f:
            processors = json.load(f).get("features", {}).get("processors", {})
        saved = {CONFIG_FILE, META_FILE, PROCESSORS_FILE, WEIGHTS_FILE, LOG_FILE, TENSORBOARD_DIRECTORY}
        return saved | set(processors)
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def check_target(path: str):
    """Refuse a save path holding anything saving did not write there: saving replaces the whole directory."""
    path = os.path.realpath(path)
    working = os.path.realpath(os.getcwd())
    if working == path or working.startswith(path + os.sep):
        raise AutomodalError(f"Cannot save the predictor to '{path}': it is (or holds) the working directory, which "
                             "saving would replace. Choose a new directory, such as a subdirectory of this one.")
    if not os.path.exists(path):
        return
    if not os.path.isdir(path):
        raise AutomodalError(f"Cannot save the predictor to '{path}': it is a file. Choose a directory path.")
    foreign = sorted(set(os.listdir(path)) - _saved_names(path))
    if foreign:
        raise AutomodalError(f"Cannot save the predictor to '{path}': the directory holds files that are not part of "
                             f"a saved predictor ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}), "
                             "which saving would replace. Choose a new or empty directory, such as a subdirectory "
                             "of this one, or move those files.")


def save(path: str, meta: dict, config: Config, processors: dict, net, log_csv: str | None = None,
         save_assets=None, tensorboard: str | None = None):
    """Write to a fresh directory beside `path`, then swap it in, so a failure never leaves a half-written model.
    An existing directory at `path` is replaced only when it holds a saved predictor (check_target).
    `processors` is JSON data; `save_assets(directory)` writes the processors' own files (a tokenizer)."""
    from safetensors.torch import save_file

    path = os.path.realpath(path)      # a symlink to a predictor: replace the directory it points to
    check_target(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".automodal-save-", dir=parent)
    try:
        with open(os.path.join(staging, CONFIG_FILE), "w", encoding="utf-8") as f:
            yaml.safe_dump(config.to_nested(), f, sort_keys=False)
        with open(os.path.join(staging, META_FILE), "w", encoding="utf-8") as f:
            json.dump(dict(meta, version=__version__, format_version=migrations.CURRENT), f, indent=2, default=str)
        with open(os.path.join(staging, PROCESSORS_FILE), "w", encoding="utf-8") as f:
            json.dump({"format_version": migrations.CURRENT, **processors}, f, indent=2)
        if save_assets is not None:
            save_assets(staging)
        save_file(state_to_cpu(net), os.path.join(staging, WEIGHTS_FILE))
        if log_csv and os.path.exists(log_csv):
            shutil.copyfile(log_csv, os.path.join(staging, LOG_FILE))
        if tensorboard and os.path.isdir(tensorboard):
            shutil.copytree(tensorboard, os.path.join(staging, TENSORBOARD_DIRECTORY))
        if os.path.exists(path):
            backup = path + ".previous"
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(path, backup)
            os.replace(staging, path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read(path: str) -> tuple[dict, Config, dict, dict]:
    """Return (meta, config, processors, weights) of a saved predictor."""
    from safetensors.torch import load_file

    if not os.path.isdir(path):
        raise AutomodalError(f"'{path}' is not a directory; pass the directory a predictor was saved to.")
    missing = [n for n in (CONFIG_FILE, META_FILE, PROCESSORS_FILE, WEIGHTS_FILE)
               if not os.path.exists(os.path.join(path, n))]
    if missing:
        raise AutomodalError(f"'{path}' is not a saved automodal predictor: {', '.join(missing)} missing.")
    with open(os.path.join(path, META_FILE), encoding="utf-8") as f:
        meta = json.load(f)
    with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
        config = Config.from_nested(yaml.safe_load(f))
    with open(os.path.join(path, PROCESSORS_FILE), encoding="utf-8") as f:
        processors = json.load(f)
    saved_format = migrations.predictor_format(path)
    if saved_format < migrations.CURRENT:
        raise AutomodalError(f"'{path}' was saved in format {saved_format} (automodal {meta.get('version')}); this "
                             f"version reads format {migrations.CURRENT}. Upgrade it in place (a backup is kept) "
                             f"with: automodal upgrade mode.version={saved_format} mode.path={path}")
    if saved_format > migrations.CURRENT:
        raise AutomodalError(f"'{path}' was saved in format {saved_format} by a newer automodal "
                             f"({meta.get('version')}); this version reads format {migrations.CURRENT}. Install a "
                             f"newer automodal, or downgrade the save with that version's automodal downgrade.")
    return meta, config, processors, load_file(os.path.join(path, WEIGHTS_FILE))
