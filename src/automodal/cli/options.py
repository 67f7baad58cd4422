"""The command's configuration: base.yaml, the mode's YAML (following its `base:` chain) and the user's key=value
overrides, composed with OmegaConf; and the option table that --help prints, read from those YAML files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import ConfigError

CONF = os.path.join(os.path.dirname(__file__), "conf")
MODES = ("create", "train", "predict", "test", "tl", "post", "pp", "info", "clean", "upgrade", "downgrade", "serve")
OPEN_SECTIONS = ("hp", "data", "reuse")     # free-form: predictor keys, per-task data, reuse sources


class OptionError(ConfigError):
    """A key, value or override the command cannot use; the message names it."""


def _mode_chain(mode: str) -> list:
    """The mode's YAML files, parents first (predict -> train)."""
    from omegaconf import OmegaConf

    chain, name = [], mode
    while name:
        path = os.path.join(CONF, "mode", f"{name}.yaml")
        chain.insert(0, path)
        name = OmegaConf.load(path).get("base")
    return chain


def compose(mode: str, overrides: list):
    """The resolved configuration (an OmegaConf DictConfig) of `automodal MODE overrides...`."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    mode_config = OmegaConf.create({})
    for path in _mode_chain(mode):
        mode_config = OmegaConf.merge(mode_config, OmegaConf.load(path))
    mode_config.pop("base", None)
    config = OmegaConf.merge(OmegaConf.load(os.path.join(CONF, "base.yaml")), {"mode": mode_config, "mode_name": mode})
    for item in overrides:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise OptionError(f"'{item}' is not an option: write key=value, for example proj=demo or "
                              "mode.subroutines=[train,test] (automodal {mode} --help lists the keys).")
    OmegaConf.set_struct(config, True)
    for section in OPEN_SECTIONS:
        OmegaConf.set_struct(config[section], False)
    try:
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(list(overrides)))
        OmegaConf.resolve(config)
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None) or getattr(error, "key", None)
        known = [k for k, _, _ in options(mode)]
        close = [k for k in known if key and str(key).split(".")[-1] in k]
        hint = f" Did you mean {', '.join(close[:3])}?" if close else ""
        raise OptionError(f"unknown or invalid option '{key}' for mode {mode}: {str(error).splitlines()[0]}.{hint} "
                          f"(automodal {mode} --help lists the options)") from None
    missing = sorted(OmegaConf.missing_keys(config))
    if missing:
        raise OptionError(f"mode {mode} needs {', '.join(missing)}: add {missing[0]}=VALUE "
                          f"(automodal {mode} --help describes it).")
    return config


@dataclass
class Option:
    key: str
    default: str
    description: str


LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w]*):(?P<value>[^#]*?)\s*(?:#\s?(?P<comment>.*))?$")


def describe(path: str, prefix: str = "") -> list:
    """[(dotted key, default as written, description)] of the leaf keys in one of the command's YAML files."""
    entries, stack = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = LINE.match(line.rstrip("\n"))
            if not match or line.lstrip().startswith("#"):
                continue
            indent = len(match["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            key = ".".join([prefix] * bool(prefix) + [k for _, k in stack] + [match["key"]])
            value = match["value"].strip()
            if value:
                entries.append((key, value, (match["comment"] or "").strip()))
            else:
                stack.append((indent, match["key"]))
    return entries


def options(mode: str) -> list:
    """Every option of a mode, base keys first; a child's line replaces its parent's for the same key."""
    merged = {}
    for key, value, comment in describe(os.path.join(CONF, "base.yaml")):
        merged[key] = (value, comment)
    for path in _mode_chain(mode):
        for key, value, comment in describe(path, "mode"):
            if key != "mode.base":
                merged[key] = (value, comment)
    return [(key, value, comment) for key, (value, comment) in merged.items()]


def mode_summary(mode: str) -> str:
    """The first line describing the mode: its scheduler's comment, or its `base:` comment."""
    for path in reversed(_mode_chain(mode)):
        for key, _, comment in describe(path, "mode"):
            if key in ("mode.scheduler._target_", "mode.base") and comment:
                return comment
    return ""


def predictor_hyperparameters(config) -> dict:
    """The predictor's keys of a command: hp_file, then hp.* over it."""
    import yaml
    from omegaconf import OmegaConf

    values = {}
    if config.hp_file:
        path = os.path.abspath(str(config.hp_file))
        if not os.path.isfile(path):
            raise OptionError(f"hp_file: no file at {path}.")
        with open(path, encoding="utf-8") as handle:
            values = yaml.safe_load(handle) or {}
    return merge(values, OmegaConf.to_container(config.hp, resolve=True) or {})


def merge(base: dict, update: dict) -> dict:
    """Nested dictionaries merged key by key; `update` wins."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
