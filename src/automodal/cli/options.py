"""The command's configuration: base.yaml, the mode's YAML (following its `base:` chain) and the user's key=value
overrides, composed with OmegaConf and checked against each option's declared type (option_types) before any work;
and the option table that --help prints, read from those YAML files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..config.loader import flatten_user, resolve_config
from ..errors import ConfigError
from .option_types import Invalid, OptionType
from .spaces import is_space_text, parse_space, probe_values

CONF = os.path.join(os.path.dirname(__file__), "conf")
MODES = ("create", "train", "predict", "test", "tl", "post", "pp", "info", "clean", "upgrade", "downgrade", "serve")
# free-form sections, typed in the YAML by these names and checked key by key below
OPEN_SECTIONS = {"hp": "predictor keys", "data": "data sets", "reuse": "reuse sources"}
DATA_KEYS = ("path", "label", "test", "unlabeled", "fold_column", "problem_type")
REUSE_KEYS = ("blueprint",)
NOT_OPTIONS = ("mode.base", "mode.scheduler._target_")     # how a mode is put together, not a setting of it


class OptionError(ConfigError):
    """A key, value or override the command cannot use; the message names it."""


def _mode_chain(mode: str) -> list:
    """The mode's YAML files, parents first (predict -> train)."""
    chain, name = [], mode
    while name:
        path = os.path.join(CONF, "mode", f"{name}.yaml")
        chain.insert(0, path)
        name = OmegaConf.load(path).get("base")
    return chain


def compose(mode: str, overrides: list):
    """The resolved configuration (an OmegaConf DictConfig) of `automodal MODE overrides...`."""
    mode_config = OmegaConf.create({})
    for path in _mode_chain(mode):
        mode_config = OmegaConf.merge(mode_config, OmegaConf.load(path))
    mode_config.pop("base", None)
    config = OmegaConf.merge(OmegaConf.load(os.path.join(CONF, "base.yaml")), {"mode": mode_config, "mode_name": mode})
    for item in overrides:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise OptionError(f"'{item}' is not an option: write key=value, for example proj=demo or "
                              f"mode.subroutines=[train,test] (automodal {mode} --help lists the keys).")
        if item.split("=", 1)[0].strip().startswith(("mode.scheduler", "mode.base")):
            raise OptionError(f"{item.split('=', 1)[0].strip()} is how mode {mode} is put together, not an option "
                              f"(automodal {mode} --help lists the options).")
    OmegaConf.set_struct(config, True)
    for section in OPEN_SECTIONS:
        OmegaConf.set_struct(config[section], False)
    try:
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(list(overrides)))
        OmegaConf.resolve(config)
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None) or getattr(error, "key", None)
        known = [option.key for option in options(mode)]
        close = [k for k in known if key and str(key).split(".")[-1] in k]
        hint = f" Did you mean {', '.join(close[:3])}?" if close else ""
        raise OptionError(f"unknown or invalid option '{key}' for mode {mode}: {str(error).splitlines()[0]}.{hint} "
                          f"(automodal {mode} --help lists the options)") from None
    missing = sorted(OmegaConf.missing_keys(config))
    if missing:
        raise OptionError(f"mode {mode} needs {', '.join(missing)}: add {missing[0]}=VALUE "
                          f"(automodal {mode} --help describes it).")
    check(mode, config, overrides)
    return config


# ---------------------------------------------------------------- checks before any work
def check(mode: str, config, overrides: list):
    """Every option's value against its declared type, written back in its plain form (yes -> true); the open
    sections key by key. The first wrong value is one OptionError naming the option and what it takes."""
    written = {item.split("=", 1)[0].strip(): item.split("=", 1)[1] for item in overrides}
    for option in options(mode):
        if option.key in OPEN_SECTIONS:
            continue
        value = OmegaConf.select(config, option.key)
        plain = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        kind = OptionType(option.type)
        try:
            plain = kind(plain)
        except Invalid:
            # OmegaConf reads yes / no / on / off as booleans: a name spelled so needs quotes
            quote = f"; quote a word read as true or false: {option.key}='{written[option.key]}'" if \
                kind.takes_text() and isinstance(plain, bool) and option.key in written else ""
            raise OptionError(f"{option.key}={written.get(option.key, _shown(plain))}: {option.key} takes "
                              f"{allowed(option)}{quote} (automodal {mode} --help lists the options).") from None
        OmegaConf.update(config, option.key, plain, merge=False)
    check_hyperparameters(config, written)
    check_data(config, written)
    check_reuse(config, written)


def _shown(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_shown(v) for v in value) + "]"
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def check_hyperparameters(config, written: dict):
    """hp.* and hp_file: each key and value by the predictor's own rules (aliases included); a value written as a
    search space (loguniform(1e-5,1e-2), choice(a,b), ...) is read as one, and each value it can give is checked."""
    given = OmegaConf.to_container(config.hp, resolve=True) or {}
    if not isinstance(given, dict):
        raise OptionError(f"hp={_shown(given)}: hp takes predictor keys, e.g. hp.optimization.max_epochs=10.")
    from_command = flatten_user(given)
    for key, value in flatten_user(predictor_hyperparameters(config)).items():
        try:
            for plain in probe_values(parse_space(value)) if is_space_text(value) else [value]:
                resolve_config(None, {key: plain})
        except ConfigError as error:
            where = f"hp.{key}={written.get(f'hp.{key}', _shown(value))}" if key in from_command else \
                f"hp_file={config.hp_file}, key {key}"
            raise OptionError(f"{where}: {error}") from None


def check_data(config, written: dict):
    """data.NAME.KEY (or data.KEY with one task): a file path or a column name each, or null."""
    data = OmegaConf.to_container(config.data, resolve=True) or {}
    if not isinstance(data, dict):
        raise OptionError(f"data={_shown(data)}: write data.NAME.path=FILE and data.NAME.label=COLUMN per task.")
    for name, spec in data.items():
        if name in DATA_KEYS:                   # data.path=... when task_list holds one task
            entries = {f"data.{name}": spec}
        elif isinstance(spec, dict):
            unknown = sorted(set(spec) - set(DATA_KEYS))
            if unknown:
                raise OptionError(f"data.{name}.{unknown[0]}: data.{name} takes {', '.join(DATA_KEYS)}.")
            entries = {f"data.{name}.{key}": value for key, value in spec.items()}
        else:
            raise OptionError(f"data.{name}={written.get(f'data.{name}', _shown(spec))}: write "
                              f"data.{name}.path=FILE and data.{name}.label=COLUMN.")
        _check_texts(config, entries, written, "a file path or a column name")


def check_reuse(config, written: dict):
    reuse = OmegaConf.to_container(config.reuse, resolve=True) or {}
    if not isinstance(reuse, dict):
        raise OptionError(f"reuse={_shown(reuse)}: write reuse.blueprint=FILE_OR_MODEL.")
    unknown = sorted(set(reuse) - set(REUSE_KEYS))
    if unknown:
        raise OptionError(f"reuse.{unknown[0]}: reuse takes {', '.join(REUSE_KEYS)}.")
    _check_texts(config, {f"reuse.{key}": value for key, value in reuse.items()}, written,
                 "a blueprint YAML file or a model id such as TASK/fold0")


def _check_texts(config, entries: dict, written: dict, what: str):
    text = OptionType("null | str")
    for key, value in entries.items():
        try:
            OmegaConf.update(config, key, text(value), merge=False)
        except Invalid:
            raise OptionError(f"{key}={written.get(key, _shown(value))}: {key} takes {what}.") from None


# ---------------------------------------------------------------- the option table
@dataclass
class Option:
    key: str
    default: str        # as written in the YAML
    type: str | None    # as declared at the start of its comment, {TYPE}
    description: str


LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w]*):(?P<value>[^#]*?)\s*(?:#\s?(?P<comment>.*))?$")
TYPED = re.compile(r"^\{(?P<type>[^}]*)\}\s*(?P<text>.*)$")


def describe(path: str, prefix: str = "") -> list:
    """The Options of the leaf keys in one of the command's YAML files."""
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
                comment = (match["comment"] or "").strip()
                typed = TYPED.match(comment)
                entries.append(Option(key, value, typed["type"].strip() if typed else None,
                                      typed["text"] if typed else comment))
            else:
                stack.append((indent, match["key"]))
    return entries


def options(mode: str) -> list:
    """Every option of a mode, base keys first; a child's line replaces its parent's for the same key, keeping the
    parent's type unless it declares its own. An option without a type is an error in the YAML."""
    merged = {}
    for path, prefix in [(os.path.join(CONF, "base.yaml"), ""), *((p, "mode") for p in _mode_chain(mode))]:
        for option in describe(path, prefix):
            if option.key in NOT_OPTIONS:
                continue
            if option.type is None and option.key in merged:
                option.type = merged[option.key].type
            if option.type is None:
                raise ValueError(f"{path}: option {option.key} declares no type ({{TYPE}} at the start of its "
                                 "comment; see automodal.cli.option_types)")
            merged[option.key] = option
    return list(merged.values())


def allowed(option: Option) -> str:
    """What an option takes, as --help and the errors say it."""
    return option.type if option.key in OPEN_SECTIONS else OptionType(option.type).allowed()


def mode_summary(mode: str) -> str:
    """The first line describing the mode: its scheduler's comment, or its `base:` comment."""
    for path in reversed(_mode_chain(mode)):
        for option in describe(path, "mode"):
            if option.key in ("mode.scheduler._target_", "mode.base") and option.description:
                return option.description
    return ""


def predictor_hyperparameters(config) -> dict:
    """The predictor's keys of a command: hp_file, then hp.* over it."""
    values = {}
    if config.hp_file:
        path = os.path.abspath(str(config.hp_file))
        if not os.path.isfile(path):
            raise OptionError(f"hp_file: no file at {path}.")
        with open(path, encoding="utf-8") as handle:
            try:
                values = yaml.safe_load(handle) or {}
            except yaml.YAMLError as error:
                raise OptionError(f"hp_file={path} is not YAML: {str(error).splitlines()[0]}") from None
        if not isinstance(values, dict):
            raise OptionError(f"hp_file={path} holds no mapping of predictor keys (such as optimization: "
                              "{max_epochs: 10}).")
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
