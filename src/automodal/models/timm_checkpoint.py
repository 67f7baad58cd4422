"""Where a timm image backbone comes from, resolved offline first.

`model.timm_image.checkpoint_name` may be
  (a) a local directory in timm's Hugging Face layout: config.json plus model.safetensors or pytorch_model.bin
      (what timm.models.save_for_hf / push_to_hf_hub write, or a downloaded hub repository),
  (b) a timm model name, optionally with a pretrained tag ("resnet18.a1_in1k"), whose weights are in the local
      Hugging Face or torch hub cache,
  (c) otherwise a name or a hub repository ("hf-hub:timm/resnet18.a1_in1k") that is downloaded,
and a saved predictor keeps only the config.json it needs to rebuild the architecture (its weights live in the
predictor's own model.safetensors).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

from ..errors import CheckpointNotFoundError, ConfigError, DataError
from .checkpoints import hub_offline

KEY = "model.timm_image.checkpoint_name"
CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass
class TimmCheckpoint:
    architecture: str                     # timm model name without tag
    pretrained_cfg: dict                  # timm's pretrained_cfg: input size, mean / std, classifier name, ...
    model_args: dict = field(default_factory=dict)  # extra create_model arguments, e.g. img_size of a small ViT
    weights: str | None = None            # a local weight file; None builds a randomly initialised model

    def to_config(self) -> dict:
        """config.json in timm's hub layout, without weights: enough to rebuild the architecture."""
        # Where the original weights came from, and the class names of a classifier we drop, are not needed.
        dropped = ("file", "state_dict", "url", "hf_hub_id", "hf_hub_filename", "source", "label_names",
                   "label_descriptions", "label_offset")
        cfg = {k: v for k, v in self.pretrained_cfg.items() if k not in dropped and _json_plain(v)}
        return {"architecture": self.architecture, "num_classes": 0, "model_args": self.model_args,
                "pretrained_cfg": cfg}


def _json_plain(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _how_to_provide(name: str, repo: str | None = None) -> str:
    download = f"`huggingface-cli download {repo} --local-dir DIR`" if repo else (
        f"`model = timm.create_model('{name}', pretrained=True)` then "
        "`timm.models.save_for_hf(model, DIR, safe_serialization=True)`")
    return (f"To provide it locally: on a machine with network access run {download}, copy DIR here, and set "
            f"{KEY} to DIR.")


# ---------------------------------------------------------------- (a) a local directory

def parse_config(cfg: dict, where: str) -> tuple[str, dict, dict]:
    """(architecture, pretrained_cfg, model_args) from a timm config.json, as timm's own hub loader reads it."""
    import timm

    if "pretrained_cfg" in cfg:
        pretrained_cfg = dict(cfg["pretrained_cfg"])
        architecture = cfg.get("architecture")
    else:  # the older single-dict layout
        pretrained_cfg = dict(cfg)
        architecture = pretrained_cfg.pop("architecture", None)
    if not architecture:
        raise DataError(f"{where} is not a timm model config (it has no 'architecture'). Point {KEY} at a timm "
                        "checkpoint: config.json and model.safetensors as timm.models.save_for_hf writes them.")
    if not timm.is_model(architecture):
        raise DataError(f"{where} names architecture {architecture!r}, which timm {timm.__version__} does not "
                        "know. Save the checkpoint with timm.models.save_for_hf, or install the timm version "
                        "that wrote it.")
    if "num_classes" in cfg:
        pretrained_cfg["num_classes"] = cfg["num_classes"]
    # num_classes is chosen by the backbone (0: pooled features); the rest rebuilds the saved architecture.
    model_args = {k: v for k, v in cfg.get("model_args", {}).items() if k != "num_classes"}
    img_size = model_args.get("img_size")
    if img_size is not None:  # a model built for another size than its registry default is fed that size
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        channels = (pretrained_cfg.get("input_size") or (3,))[0]
        pretrained_cfg["input_size"] = (channels, *size)
    return architecture, pretrained_cfg, model_args


def from_directory(directory: str, weights_required: bool = True, what: str = KEY) -> TimmCheckpoint:
    config_path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise CheckpointNotFoundError(
            f"{what}: directory '{directory}' has no {CONFIG_FILE}. A local timm checkpoint is a directory with "
            f"{CONFIG_FILE} and model.safetensors (or pytorch_model.bin), as timm.models.save_for_hf writes it.")
    try:
        with open(config_path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError) as error:
        raise DataError(f"{what}: cannot read '{config_path}' ({error}).") from error
    architecture, pretrained_cfg, model_args = parse_config(cfg, f"'{config_path}'")
    weights = next((os.path.join(directory, n) for n in WEIGHT_FILES if os.path.isfile(os.path.join(directory, n))),
                   None)
    if weights_required and weights is None:
        raise CheckpointNotFoundError(f"{what}: directory '{directory}' has {CONFIG_FILE} but no weights "
                                      f"({' or '.join(WEIGHT_FILES)}).")
    return TimmCheckpoint(architecture, pretrained_cfg, model_args, weights)


# ---------------------------------------------------------------- (b) the local caches, (c) the hub

def _hub_file(repo: str, filenames, name: str) -> str:
    """The first of `filenames` in hub repository `repo`: from the local cache, else downloaded when online."""
    from huggingface_hub import hf_hub_download

    repo_id, _, revision = repo.partition("@")
    revision = revision or None
    for filename in filenames:
        try:
            return hf_hub_download(repo_id, filename, revision=revision, local_files_only=True)
        except Exception:  # not in the cache (the exception type varies across huggingface_hub versions)
            pass
    if hub_offline():
        raise CheckpointNotFoundError(f"{KEY}: checkpoint '{name}' is not a local directory and its files "
                                      f"({' or '.join(filenames)} of '{repo_id}') are not in the local Hugging "
                                      "Face cache, and the hub is offline (HF_HUB_OFFLINE). "
                                      f"{_how_to_provide(name, repo_id)}")
    error = None
    for filename in filenames:
        try:
            return hf_hub_download(repo_id, filename, revision=revision)
        except Exception as exc:  # missing file, unknown repository or no network: try the next name, then report
            error = exc
    raise CheckpointNotFoundError(f"{KEY}: checkpoint '{name}' is not available locally and could not be "
                                  f"downloaded from '{repo_id}' ({type(error).__name__}: {error}). "
                                  f"{_how_to_provide(name, repo_id)}") from error


def _url_file(url: str, name: str) -> str:
    """Weights that timm publishes by URL only live in torch hub's checkpoint cache."""
    from urllib.parse import urlparse

    import torch

    path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))
    if os.path.isfile(path):
        return path
    if hub_offline():
        raise CheckpointNotFoundError(f"{KEY}: the weights of '{name}' are not in the torch hub cache ({path}) "
                                      f"and downloads are off (HF_HUB_OFFLINE). {_how_to_provide(name)}")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.hub.download_url_to_file(url, path, progress=False)
    except Exception as error:  # no network, HTTP error
        raise CheckpointNotFoundError(f"{KEY}: could not download the weights of '{name}' from {url} "
                                      f"({type(error).__name__}). {_how_to_provide(name)}") from error
    return path


def _from_registry(name: str) -> TimmCheckpoint:
    import difflib

    import timm
    from timm.models import get_pretrained_cfg, split_model_name_tag

    architecture, _ = split_model_name_tag(name)
    if not timm.is_model(architecture):
        close = difflib.get_close_matches(architecture, timm.list_models(), n=3)
        hint = f" Close timm names: {', '.join(close)}." if close else ""
        raise ConfigError(f"{KEY} '{name}' is neither a local directory nor a timm model name.{hint} Use a name "
                          "from timm.list_models(pretrained=True) or a directory holding config.json and "
                          "model.safetensors.")
    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError:  # an unknown pretrained tag
        cfg = None
    source = cfg and (cfg.hf_hub_id or cfg.url)
    if not source:
        tags = timm.list_pretrained(f"{architecture}.*")
        raise CheckpointNotFoundError(f"{KEY}: timm has no pretrained weights for '{name}'"
                                      f"{f' (pretrained tags: {tags[:5]})' if tags else ''}. Pick a pretrained "
                                      "name or a local checkpoint directory.")
    pretrained_cfg = {k: v for k, v in dataclasses.asdict(cfg).items() if v is not None}
    if cfg.hf_hub_id:
        files = [cfg.hf_hub_filename] if cfg.hf_hub_filename else list(WEIGHT_FILES)
        weights = _hub_file(cfg.hf_hub_id, files, name)
        # Hub copies are native state dicts, except for models that name a custom hub loader ("hf").
        pretrained_cfg["custom_load"] = cfg.custom_load == "hf"
    else:
        weights = _url_file(cfg.url, name)
    return TimmCheckpoint(architecture, pretrained_cfg, {}, weights)


def _from_hub_repo(repo: str, name: str) -> TimmCheckpoint:
    config_path = _hub_file(repo, [CONFIG_FILE], name)
    with open(config_path, encoding="utf-8") as f:
        architecture, pretrained_cfg, model_args = parse_config(json.load(f), f"config.json of '{repo}'")
    weights = _hub_file(repo, WEIGHT_FILES, name)
    return TimmCheckpoint(architecture, pretrained_cfg, model_args, weights)


def resolve_checkpoint(name) -> TimmCheckpoint:
    """The checkpoint `name` with a local weight file, downloading only when it is not found locally."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{KEY} is {name!r}; set it to a timm model name or a local checkpoint directory.")
    name = name.strip().removeprefix("local-dir:")   # timm's own prefix for a local directory
    local = os.path.expanduser(name)
    if os.path.isdir(local):
        return from_directory(local)
    if name.startswith(("hf-hub:", "hf_hub:")):
        return _from_hub_repo(name.split(":", 1)[1], name)
    if name.startswith(("/", "./", "../", "~", ".\\")) or name.count("/") > 1 or os.path.isabs(name):
        raise CheckpointNotFoundError(f"{KEY}: directory '{name}' does not exist. Set {KEY} to a directory holding "
                                      "config.json and model.safetensors (as timm.models.save_for_hf writes them) "
                                      "or to a timm model name.")
    if "/" in name:  # a hub repository such as timm/resnet18.a1_in1k
        return _from_hub_repo(name, name)
    return _from_registry(name)
